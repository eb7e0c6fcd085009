"""Workflows of classes and instances (@DBOS.dbos_class, DBOSConfiguredInstance, classmethods and
staticmethods), and waiting by id: DBOS.get_result and DBOS.wait_first."""

import asyncio
import dataclasses
import threading

import pytest

from dbos_lite import (
    DBOS,
    DBOSAwaitedWorkflowCancelledError,
    DBOSNonExistentWorkflowError,
    SetWorkflowID,
)

# ---- DBOS.get_result ----


@dataclasses.dataclass
class Point:
    x: int
    y: int


def test_get_result_by_id_returns_the_value_typed_by_the_workflow(dbos):
    @DBOS.workflow()
    def make(x: int) -> tuple[Point, int]:
        return Point(x, x + 1), x

    DBOS.launch()
    with SetWorkflowID("p"):
        DBOS.start_workflow(make, 3)
    assert DBOS.get_result("p") == (Point(3, 4), 3)
    assert asyncio.run(DBOS.get_result_async("p")) == (Point(3, 4), 3)


def test_get_result_raises_the_workflow_error_and_waits_for_a_running_one(dbos):
    release = threading.Event()

    @DBOS.workflow()
    def slow() -> str:
        release.wait(10)
        return "done"

    @DBOS.workflow()
    def broken() -> None:
        raise KeyError("missing")

    DBOS.launch()
    with SetWorkflowID("b"):
        with pytest.raises(KeyError):
            broken()
    with pytest.raises(KeyError, match="missing"):
        DBOS.get_result("b")
    with SetWorkflowID("s"):
        DBOS.start_workflow(slow)
    threading.Timer(0.2, release.set).start()
    assert DBOS.get_result("s") == "done"


def test_get_result_of_an_unknown_id_raises_instead_of_waiting_for_ever(dbos):
    DBOS.launch()
    with pytest.raises(DBOSNonExistentWorkflowError, match="nope"):
        DBOS.get_result("nope")
    with pytest.raises(DBOSNonExistentWorkflowError):
        asyncio.run(DBOS.get_result_async("nope"))


def test_get_result_of_a_cancelled_workflow_raises(dbos):
    @DBOS.workflow()
    def waits() -> None:
        DBOS.recv("never", timeout_seconds=30)

    DBOS.launch()
    with SetWorkflowID("c"):
        DBOS.start_workflow(waits)
    DBOS.cancel_workflow("c")
    with pytest.raises(DBOSAwaitedWorkflowCancelledError):
        DBOS.get_result("c")


def test_get_result_inside_a_workflow_is_recorded_and_replayed(dbos):
    runs = []

    @DBOS.workflow(name="child")
    def child(x: int) -> int:
        runs.append(x)
        return x * 10

    @DBOS.workflow()
    def parent() -> tuple[int, str]:
        with SetWorkflowID("child"):
            DBOS.start_workflow(child, 4)
        try:
            DBOS.get_result("absent")
            missing = "no error"
        except DBOSNonExistentWorkflowError:
            missing = "raised"
        return DBOS.get_result("child"), missing

    DBOS.launch()
    with SetWorkflowID("parent"):
        assert parent() == (40, "raised")
    steps = DBOS.list_workflow_steps("parent")
    assert [s["function_name"] for s in steps] == ["child", "DBOS.getResult", "DBOS.getResult"]
    assert isinstance(steps[1]["error"], DBOSNonExistentWorkflowError)
    assert steps[2]["output"] == 40 and steps[2]["child_workflow_id"] == "child"
    # Replayed from the journal (fork from the end): nothing waits, the child does not rerun.
    forked = DBOS.fork_workflow("parent", 4)
    assert forked.get_result() == (40, "raised") and runs == [4]


def test_sync_get_result_and_wait_first_are_refused_on_a_running_loop(dbos):
    @DBOS.workflow()
    def quick() -> int:
        return 1

    DBOS.launch()
    handle = DBOS.start_workflow(quick)

    async def main():
        with pytest.raises(RuntimeError, match="get_result_async"):
            DBOS.get_result(handle.workflow_id)
        with pytest.raises(RuntimeError, match="wait_first_async"):
            DBOS.wait_first([handle])
        return await DBOS.get_result_async(handle.workflow_id)

    assert asyncio.run(main()) == 1


# ---- DBOS.wait_first ----


def test_wait_first_returns_the_handle_of_the_first_workflow_to_finish(dbos):
    gates = {name: threading.Event() for name in "abc"}

    @DBOS.workflow()
    def gated(name: str) -> str:
        gates[name].wait(10)
        return name

    DBOS.launch()
    handles = []
    for name in "abc":
        with SetWorkflowID(f"w-{name}"):
            handles.append(DBOS.start_workflow(gated, name))
    threading.Timer(0.2, gates["b"].set).start()
    first = DBOS.wait_first(handles)
    assert first is handles[1] and first.get_result() == "b"
    gates["c"].set()
    handles[2].get_result()
    # Several finished: the first of them in the list's order.
    assert DBOS.wait_first([handles[0], handles[2], handles[1]]) is handles[2]
    gates["a"].set()


def test_wait_first_counts_an_error_or_a_cancellation_as_finished(dbos):
    @DBOS.workflow()
    def waits() -> None:
        DBOS.recv("never", timeout_seconds=30)

    @DBOS.workflow()
    def fails() -> None:
        raise ValueError("bad")

    DBOS.launch()
    waiting = DBOS.start_workflow(waits)
    failing = DBOS.start_workflow(fails)
    assert DBOS.wait_first([waiting, failing]) is failing
    other = DBOS.start_workflow(waits)
    DBOS.cancel_workflow(other.workflow_id)
    assert DBOS.wait_first([waiting, other]) is other
    DBOS.cancel_workflow(waiting.workflow_id)


def test_wait_first_refuses_what_dbos_transact_refuses(dbos):
    @DBOS.workflow()
    def quick() -> int:
        return 1

    DBOS.launch()
    handle = DBOS.start_workflow(quick)
    handle.get_result()
    with pytest.raises(ValueError, match="handles must not be empty"):
        DBOS.wait_first([])
    with pytest.raises(ValueError, match="duplicate workflow IDs"):
        DBOS.wait_first([handle, DBOS.retrieve_workflow(handle.workflow_id)])
    ghost = DBOS.retrieve_workflow("ghost", existing_workflow=False)
    with pytest.raises(DBOSNonExistentWorkflowError, match="ghost"):
        DBOS.wait_first([ghost])
    assert DBOS.wait_first([ghost, handle]) is handle  # one has finished: no error


def test_wait_first_async_on_async_handles(dbos):
    @DBOS.workflow()
    async def sleeper(seconds: float) -> float:
        await DBOS.sleep_async(seconds)
        return seconds

    DBOS.launch()

    async def main():
        slow = await DBOS.start_workflow_async(sleeper, 5.0)
        fast = await DBOS.start_workflow_async(sleeper, 0.05)
        first = await DBOS.wait_first_async([slow, fast])
        assert first is fast and await first.get_result() == 0.05
        await DBOS.cancel_workflow_async(slow.workflow_id)

    asyncio.run(main())


def test_wait_first_inside_a_workflow_is_recorded_and_replayed(dbos):
    gate = threading.Event()

    @DBOS.workflow(name="gated")
    def gated(name: str) -> str:
        if name == "slow":
            gate.wait(10)
        return name

    @DBOS.workflow()
    def race() -> str:
        handles = []
        for name in ("slow", "fast"):
            handles.append(DBOS.start_workflow(gated, name))
        return DBOS.wait_first(handles).get_result()

    DBOS.launch()
    with SetWorkflowID("race"):
        assert race() == "fast"
    steps = DBOS.list_workflow_steps("race")
    assert [s["function_name"] for s in steps] == [
        "gated", "gated", "DBOS.waitFirst", "DBOS.getResult"]
    assert steps[2]["output"] == "race-2"
    gate.set()
    DBOS.retrieve_workflow("race-1").get_result()
    # A replay returns the recorded choice, although both have finished by now.
    forked = DBOS.fork_workflow("race", 4)
    assert forked.get_result() == "fast"
