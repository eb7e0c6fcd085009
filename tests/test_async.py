"""asyncio parity: async workflows and steps with the same guarantees as sync ones."""

import asyncio
import os
import subprocess
import sys
import threading
import time

import apsw
import pytest

from engine import (
    DBOS,
    DBOSAwaitedWorkflowCancelledError,
    DBOSMaxStepRetriesExceeded,
    SetWorkflowID,
    SetWorkflowTimeout,
)


class Ticker:
    """Counts 10 ms ticks of the running event loop: it ticks only while the loop is free.
    ``longest_gap`` is the longest time between two ticks: how long the loop was blocked."""

    def __init__(self):
        self.ticks = 0
        self.longest_gap = 0.0
        self.task = asyncio.create_task(self._run())

    async def _run(self):
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            self.ticks, self.longest_gap = self.ticks + 1, max(self.longest_gap, now - last)
            last = now

    def stop(self) -> int:
        self.task.cancel()
        return self.ticks


def test_importing_dbos_lite_does_not_import_asyncio():
    code = "import sys, dbos_lite; print('asyncio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.stdout.strip() == "False"


@pytest.mark.both_engines
def test_async_workflow_and_steps_record_and_replay(dbos):
    calls = []

    @DBOS.step()
    async def fetch(name: str) -> tuple[str, int]:
        calls.append(name)
        await asyncio.sleep(0.01)
        return (name, len(name))

    @DBOS.workflow()
    async def job(names: list[str]) -> list[tuple[str, int]]:
        return [await fetch(n) for n in names]

    async def main():
        DBOS.launch()
        with SetWorkflowID("job"):
            first = await job(["a", "bb"])
        with SetWorkflowID("job"):
            again = await job(["a", "bb"])
        return first, again

    first, again = asyncio.run(main())
    assert first == again == [("a", 1), ("bb", 2)]
    assert calls == ["a", "bb"]


@pytest.mark.both_engines
def test_gather_assigns_ids_in_call_order(dbos):
    @DBOS.step()
    async def fetch(i: int) -> int:
        await asyncio.sleep(0.02 * (5 - i))  # finish in reverse order
        return i

    @DBOS.workflow()
    async def fanout() -> list[int]:
        return list(await asyncio.gather(*[fetch(i) for i in range(5)]))

    async def main():
        DBOS.launch()
        with SetWorkflowID("f"):
            return await fanout()

    assert asyncio.run(main()) == [0, 1, 2, 3, 4]
    steps = DBOS.list_workflow_steps("f")
    assert [(s["function_id"], s["output"]) for s in steps] == [(i + 1, i) for i in range(5)]


@pytest.mark.both_engines
def test_gather_over_child_workflows(dbos):
    @DBOS.workflow()
    async def child(i: int) -> int:
        await DBOS.sleep_async(0.01 * (3 - i))
        return i * 10

    @DBOS.workflow()
    async def parent() -> list[int]:
        return list(await asyncio.gather(child(0), child(1), child(2)))

    async def main():
        DBOS.launch()
        with SetWorkflowID("p"):
            return await parent()

    assert asyncio.run(main()) == [0, 10, 20]
    names = [(s["function_id"], s["function_name"], s["child_workflow_id"])
             for s in DBOS.list_workflow_steps("p")]
    assert [n for n in names if n[1] != "DBOS.getResult"] == [
        (1, child.__qualname__, "p-1"), (3, child.__qualname__, "p-3"),
        (5, child.__qualname__, "p-5")]


@pytest.mark.both_engines
def test_sync_code_runs_off_the_event_loop(dbos):
    threads = []

    def blocking(x: int) -> int:
        threads.append(threading.get_ident())
        time.sleep(0.2)
        return x * 2

    @DBOS.workflow()
    async def job() -> int:
        return await DBOS.run_step_async({"name": "blocking"}, blocking, 21)

    async def main():
        DBOS.launch()
        ticker = Ticker()
        result = await job()
        return result, threading.get_ident(), ticker.stop()

    result, loop_thread, ticks = asyncio.run(main())
    assert result == 42
    assert threads and threads[0] != loop_thread
    assert ticks >= 5  # the loop kept running while the step blocked its worker thread


def test_journal_writes_wait_off_the_event_loop(dbos, journal_path):
    """While another process holds the journal's write lock, an async workflow's journal
    writes wait in a journal thread: the event loop keeps running, and reads still answer."""
    @DBOS.step()
    async def step(i: int) -> int:
        return i

    @DBOS.workflow()
    async def job() -> list[int]:
        await DBOS.set_event_async("progress", "started")
        return [await step(i) for i in range(3)]

    async def main():
        DBOS.launch()
        other = apsw.Connection(journal_path)
        other.execute("BEGIN IMMEDIATE")  # the other writer
        ticker = Ticker()
        with SetWorkflowID("blocked"):
            task = asyncio.create_task(job())
        cancel = asyncio.create_task(DBOS.cancel_workflow_async("another"))  # management too
        await asyncio.sleep(0.6)
        waiting = not task.done() and not cancel.done()
        seen = await DBOS.list_workflows_async()  # nothing written yet: the start waits too
        other.execute("COMMIT")
        result = await task
        await cancel
        ticker.stop()
        return waiting, seen, result, ticker

    waiting, seen, result, ticker = asyncio.run(main())
    assert waiting and seen == [] and result == [0, 1, 2]
    assert ticker.ticks >= 30 and ticker.longest_gap < 0.3
    assert DBOS.get_workflow_status("blocked").status == "SUCCESS"


@pytest.mark.both_engines
def test_retries_back_off_without_blocking_the_loop(dbos):
    attempts = []

    @DBOS.step(retries_allowed=True, max_attempts=3, interval_seconds=0.1, backoff_rate=2)
    async def flaky() -> str:
        attempts.append(time.monotonic())
        raise ConnectionError("down")

    @DBOS.workflow()
    async def job() -> str:
        return await flaky()

    async def main():
        DBOS.launch()
        ticker = Ticker()
        with pytest.raises(DBOSMaxStepRetriesExceeded):
            await job()
        return ticker.stop()

    ticks = asyncio.run(main())
    assert len(attempts) == 3
    assert attempts[1] - attempts[0] >= 0.09 and attempts[2] - attempts[1] >= 0.18
    assert ticks >= 15


@pytest.mark.both_engines
def test_async_twins_of_coordination(dbos):
    @DBOS.workflow()
    async def worker() -> list:
        await DBOS.set_event_async("state", "ready")
        message = await DBOS.recv_async("work", timeout_seconds=5)
        await DBOS.write_stream_async("out", message)
        await DBOS.close_stream_async("out")
        return [message, await DBOS.get_all_events_async(DBOS.workflow_id)]

    async def main():
        DBOS.launch()
        with SetWorkflowID("w"):
            handle = await DBOS.start_workflow_async(worker)  # a WorkflowHandleAsync
        assert await DBOS.get_event_async("w", "state", timeout_seconds=5) == "ready"
        await DBOS.send_async("w", "job-1", "work")
        streamed = [v async for v in DBOS.read_stream_async("w", "out")]
        result = await handle.get_result()
        status = await handle.get_status()
        retrieved = await (await DBOS.retrieve_workflow_async("w")).get_result()
        return streamed, result, status.status, retrieved

    streamed, result, status, retrieved = asyncio.run(main())
    assert streamed == ["job-1"]
    assert result == retrieved == ["job-1", {"state": "ready"}]
    assert status == "SUCCESS"


@pytest.mark.parametrize("call", [
    "recv", "sleep", "get_event",
    pytest.param("get_result", marks=pytest.mark.deliberate_difference(
        "a sync get_result() on a running event loop raises RuntimeError naming "
        "get_result_async; DBOS Transact blocks the loop (and can deadlock)")),
])
@pytest.mark.both_engines
def test_sync_waits_on_a_running_loop_name_the_async_variant(dbos, call):
    @DBOS.workflow()
    def quick() -> int:
        return 1

    DBOS.launch()
    handle = DBOS.start_workflow(quick)  # a sync handle, taken before the loop runs

    async def main():
        with pytest.raises(RuntimeError, match=f"{call}_async"):
            if call == "recv":
                DBOS.recv()
            elif call == "sleep":
                DBOS.sleep(1)
            elif call == "get_event":
                DBOS.get_event("x", "y")
            else:
                handle.get_result()

    asyncio.run(main())


SYNC_CALLS_REFUSED_ON_A_LOOP = {
    # call: what it does, given a sync handle of "w" (each has an _async twin; DBOS
    # Transact 3.4 refuses these too)
    "get_workflow_status": lambda handle: DBOS.get_workflow_status("w"),
    "list_workflows": lambda handle: DBOS.list_workflows(),
    "list_workflow_steps": lambda handle: DBOS.list_workflow_steps("w"),
    "retrieve_workflow": lambda handle: DBOS.retrieve_workflow("w"),
    "send": lambda handle: DBOS.send("w", "message"),
    "get_all_events": lambda handle: DBOS.get_all_events("w"),
    "cancel_workflow": lambda handle: DBOS.cancel_workflow("w"),
    "resume_workflow": lambda handle: DBOS.resume_workflow("w"),
    "fork_workflow": lambda handle: DBOS.fork_workflow("w", 1),
    "delete_workflow": lambda handle: DBOS.delete_workflow("w"),
    "get_workflow_status ": lambda handle: handle.get_status(),  # the handle's
}


@pytest.mark.parametrize("call", sorted(SYNC_CALLS_REFUSED_ON_A_LOOP))
@pytest.mark.both_engines
def test_sync_calls_on_a_running_loop_are_refused_as_dbos_transact_refuses_them(dbos, call):
    @DBOS.workflow()
    def quick() -> int:
        return 1

    DBOS.launch()
    with SetWorkflowID("w"):
        handle = DBOS.start_workflow(quick)
    handle.get_result()

    async def main():
        # (DBOS Transact's message names cancel_workflows and delete_workflows)
        with pytest.raises(RuntimeError, match=rf"{call.strip()}s?_async"):
            SYNC_CALLS_REFUSED_ON_A_LOOP[call](handle)
        # The async twin works, and nothing was changed by the refused call.
        assert (await DBOS.get_workflow_status_async("w")).status == "SUCCESS"

    asyncio.run(main())


@pytest.mark.parametrize("call", ["set_event", "write_stream", "close_stream", "patch",
                                  "run_step"])
@pytest.mark.both_engines
def test_sync_operations_inside_an_async_workflow_are_refused(dbos, call):
    @DBOS.workflow()
    async def job() -> str:
        try:
            if call == "set_event":
                DBOS.set_event("k", 1)
            elif call == "write_stream":
                DBOS.write_stream("k", 1)
            elif call == "close_stream":
                DBOS.close_stream("k")
            elif call == "patch":
                DBOS.patch("p")
            else:
                DBOS.run_step(None, len, "abc")
        except RuntimeError as exc:
            return str(exc)
        return "accepted"

    async def main():
        DBOS.launch()
        return await job()

    assert f"{call}_async" in asyncio.run(main())


@pytest.mark.both_engines
def test_async_cancel_and_timeout(dbos):
    @DBOS.workflow()
    async def endless() -> None:
        while True:
            await DBOS.sleep_async(0.05)

    async def main():
        DBOS.launch()
        with SetWorkflowTimeout(0.3):
            timed = await DBOS.start_workflow_async(endless)
        cancelled = await DBOS.start_workflow_async(endless)
        await asyncio.sleep(0.1)
        await DBOS.cancel_workflow_async(cancelled.workflow_id)
        outcomes = []
        for handle in (timed, cancelled):
            try:
                await handle.get_result()
            except DBOSAwaitedWorkflowCancelledError:
                outcomes.append((await handle.get_status()).status)
        return outcomes

    assert asyncio.run(main()) == ["CANCELLED", "CANCELLED"]


@pytest.mark.both_engines
def test_cancelling_the_awaiting_task_leaves_the_workflow_intact(dbos, config):
    ran = []

    @DBOS.step()
    async def step(i: int) -> int:
        ran.append(i)
        await asyncio.sleep(0.3 if i == 2 else 0)
        return i

    @DBOS.workflow()
    async def job() -> list[int]:
        return [await step(1), await step(2), await step(3)]

    async def main():
        DBOS.launch()
        with SetWorkflowID("j"):
            task = asyncio.create_task(job())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    # Nothing half-written: step 1 recorded, step 2 not; the workflow is PENDING and resumable.
    status = DBOS.get_workflow_status("j")
    assert status.status == "PENDING"
    assert [s["function_id"] for s in DBOS.list_workflow_steps("j")] == [1]
    DBOS.destroy()
    DBOS(config=config)
    DBOS.launch()
    assert DBOS.retrieve_workflow("j").get_result() == [1, 2, 3]
    assert ran[0] == 1 and ran.count(1) == 1 and ran[-1] == 3


def test_cancelling_the_task_while_its_write_waits_leaves_the_workflow_intact(
        dbos, config, journal_path):
    """The awaiting task is cancelled while a step's record waits (in a journal thread) for
    another process's lock: the record still lands or not at all, the workflow stays PENDING,
    and the next launch finishes it without running a recorded step again."""
    ran = []
    other = apsw.Connection(journal_path)

    @DBOS.step()
    async def step(i: int) -> int:
        ran.append(i)
        if i == 2:
            other.execute("BEGIN IMMEDIATE")  # another writer takes the lock: the record waits
        return i

    @DBOS.workflow()
    async def job() -> list[int]:
        return [await step(1), await step(2), await step(3)]

    async def main():
        DBOS.launch()
        with SetWorkflowID("c"):
            task = asyncio.create_task(job())
        while ran != [1, 2]:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        task.cancel()
        await asyncio.sleep(0.2)
        other.execute("COMMIT")
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert DBOS.get_workflow_status("c").status == "PENDING"
    DBOS.destroy()  # waits for the write still in a journal thread
    recorded = [row[0] for row in other.execute(
        "SELECT function_id FROM operation_outputs WHERE workflow_id = 'c' ORDER BY 1")]
    assert recorded in ([1], [1, 2])
    DBOS(config=config)
    DBOS.launch()
    assert DBOS.retrieve_workflow("c").get_result() == [1, 2, 3]
    assert ran == ([1, 2, 3] if recorded == [1, 2] else [1, 2, 2, 3])


@pytest.mark.deliberate_difference(
    "DBOS.destroy() while an async workflow runs leaves it PENDING for the next launch; on "
    "DBOS Transact 3.4 its task is cancelled and its result after the relaunch is a "
    "CancelledError"
)
def test_async_workflow_recovered_after_a_crash(dbos, config):
    gate = threading.Event()
    ran = []

    @DBOS.step()
    async def step(i: int) -> int:
        ran.append(i)
        if i == 2 and ran.count(2) == 1:
            await asyncio.get_running_loop().run_in_executor(None, gate.wait, 5)
            raise SystemExit  # the process "dies" here: never recorded
        return i

    @DBOS.workflow()
    async def job() -> list[int]:
        return [await step(1), await step(2), await step(3)]

    DBOS.launch()
    with SetWorkflowID("r"):
        DBOS.start_workflow(job)  # a sync caller: the async body runs on its own loop
    deadline = time.monotonic() + 5
    while ran != [1, 2] and time.monotonic() < deadline:
        time.sleep(0.01)
    DBOS.destroy()
    gate.set()
    DBOS(config=config)
    DBOS.launch()
    assert DBOS.retrieve_workflow("r").get_result() == [1, 2, 3]
    assert ran == [1, 2, 2, 3]


def test_a_sync_step_called_from_async_code_warns_once(dbos, caplog):
    @DBOS.step()
    def blocking() -> int:
        return 1

    @DBOS.workflow()
    async def job() -> int:
        return blocking() + blocking()

    async def main():
        DBOS.launch()
        return await job()

    with caplog.at_level("WARNING", logger="dbos_lite"):
        assert asyncio.run(main()) == 2
    warnings = [r for r in caplog.records if "blocks the event loop" in r.getMessage()]
    assert len(warnings) == 1 and "run_step_async" in warnings[0].getMessage()
