"""cancel_workflow, resume_workflow, fork_workflow, delete_workflow."""

import threading
import time

import pytest

from engine import (
    DBOS,
    DBOSAwaitedWorkflowCancelledError,
    DBOSNonExistentWorkflowError,
    SetWorkflowID,
)

pytestmark = pytest.mark.both_engines  # every test here uses DBOS names only


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_cancel_stops_at_the_next_durable_operation_and_resume_continues(dbos):
    ran = []
    release = threading.Event()

    @DBOS.step()
    def step(i: int) -> int:
        ran.append(i)
        if i == 2:
            release.wait(5)
        return i

    @DBOS.workflow()
    def job() -> list:
        return [step(1), step(2), step(3)]

    DBOS.launch()
    with SetWorkflowID("job"):
        handle = DBOS.start_workflow(job)
    wait_for(lambda: ran == [1, 2])
    DBOS.cancel_workflow("job")
    assert handle.get_status().status == "CANCELLED"
    release.set()
    with pytest.raises(DBOSAwaitedWorkflowCancelledError):
        handle.get_result()
    time.sleep(0.1)
    assert ran == [1, 2]  # step 3 never started
    # The cancelled step 2 was not recorded: it runs again on resume; step 1 does not.
    assert [s["function_id"] for s in DBOS.list_workflow_steps("job")] == [1]
    resumed = DBOS.resume_workflow("job")
    assert resumed.get_result() == [1, 2, 3]
    assert ran == [1, 2, 2, 3]
    with SetWorkflowID("job"):  # calling a cancelled-then-finished workflow gives its result
        assert job() == [1, 2, 3]


def test_calling_a_cancelled_workflow_raises_awaited_cancelled(dbos):
    @DBOS.workflow()
    def waits() -> None:
        DBOS.recv(timeout_seconds=30)

    DBOS.launch()
    with SetWorkflowID("w"):
        DBOS.start_workflow(waits)
    DBOS.cancel_workflow("w")
    with SetWorkflowID("w"):
        with pytest.raises(DBOSAwaitedWorkflowCancelledError):
            waits()


def test_cancel_children(dbos):
    @DBOS.workflow()
    def child() -> None:
        DBOS.recv(timeout_seconds=30)

    @DBOS.workflow()
    def parent() -> None:
        DBOS.start_workflow(child)
        DBOS.recv(timeout_seconds=30)

    DBOS.launch()
    with SetWorkflowID("p"):
        DBOS.start_workflow(parent)
    wait_for(lambda: DBOS.get_workflow_status("p-1") is not None)
    DBOS.cancel_workflow("p", cancel_children=True)
    for workflow_id in ("p", "p-1"):
        with pytest.raises(DBOSAwaitedWorkflowCancelledError):
            DBOS.retrieve_workflow(workflow_id).get_result()


def test_fork_reuses_steps_before_start_step(dbos):
    ran = []

    @DBOS.step()
    def step(i: int) -> str:
        ran.append(i)
        return f"{i}@{len(ran)}"

    @DBOS.workflow()
    def job(n: int) -> list:
        return [step(i) for i in range(1, n + 1)]

    DBOS.launch()
    with SetWorkflowID("original"):
        first = job(3)
    with SetWorkflowID("forked"):
        handle = DBOS.fork_workflow("original", 3)
    assert handle.workflow_id == "forked"
    result = handle.get_result()
    assert result[:2] == first[:2] and result[2] != first[2]
    assert ran == [1, 2, 3, 3]
    status = DBOS.get_workflow_status("forked")
    assert status.forked_from == "original" and status.input == {"args": (3,), "kwargs": {}}
    with pytest.raises(DBOSNonExistentWorkflowError):
        DBOS.fork_workflow("missing", 1)


def test_delete_workflow_and_children(dbos):
    @DBOS.workflow()
    def child() -> int:
        DBOS.set_event("e", 1)
        return 1

    @DBOS.workflow()
    def parent() -> int:
        return child()

    DBOS.launch()
    with SetWorkflowID("p"):
        parent()
    DBOS.delete_workflow("p")
    assert DBOS.get_workflow_status("p") is None
    assert DBOS.list_workflow_steps("p") == []
    assert DBOS.get_workflow_status("p-1") is not None
    with SetWorkflowID("q"):
        parent()
    DBOS.delete_workflow("q", delete_children=True)
    assert DBOS.get_workflow_status("q-1") is None
    assert DBOS.get_all_events("q-1") == {}


def test_resume_of_unknown_workflow_raises(dbos):
    DBOS.launch()
    with pytest.raises(DBOSNonExistentWorkflowError):
        DBOS.resume_workflow("missing")
