"""Concurrent workflows under sqlite_synchronous="NORMAL", where threads take turns (the
baton, in dbos_lite.py): nothing may wait on a turn for long, a workflow run by the thread
that waits for it behaves as one run by the pool, and many threads still run each step once."""

import threading
import time

import pytest

from conftest import wait_until
from dbos_lite import DBOS, SetWorkflowID

pytestmark = pytest.mark.skipif(DBOS.__module__ != "dbos_lite", reason="dbos_lite's threads")


@pytest.fixture
def one_worker(config):
    """DBOS with a pool of one thread: a workflow blocked in it keeps the next one queued."""
    DBOS.destroy(destroy_registry=True)
    DBOS(config={**config, "max_executor_threads": 1})
    yield DBOS
    DBOS.destroy(destroy_registry=True)


def test_a_step_that_blocks_does_not_hold_up_other_workflows(dbos):
    release = threading.Event()
    steps_done: list[float] = []

    @DBOS.step()
    def call_the_network() -> str:
        release.wait(5)  # blocks in user code, as a slow request would
        return "answer"

    @DBOS.step()
    def quick(i: int) -> int:
        steps_done.append(time.monotonic())
        return i

    @DBOS.workflow()
    def slow() -> str:
        return call_the_network()

    @DBOS.workflow()
    def five_steps() -> int:
        return sum(quick(i) for i in range(5))

    DBOS.launch()
    blocked = DBOS.start_workflow(slow)
    time.sleep(0.05)  # the slow workflow is inside its step
    started = time.monotonic()
    assert DBOS.start_workflow(five_steps).get_result() == 10
    assert time.monotonic() - started < 1.0
    assert blocked.get_status().status == "PENDING"
    release.set()
    assert blocked.get_result() == "answer"


def test_a_starter_busy_in_its_own_code_does_not_hold_up_its_workflows(dbos):
    ran = threading.Event()

    @DBOS.workflow()
    def note() -> None:
        ran.set()

    DBOS.launch()
    handle = DBOS.start_workflow(note)
    # The starting thread goes on with code of its own (here it blocks): the pool thread
    # runs the workflow meanwhile.
    assert ran.wait(1.0), "the workflow did not run while its starter was busy"
    handle.get_result()
    assert handle.get_status().status == "SUCCESS"


def test_a_workflow_run_by_the_thread_that_waits_for_it_keeps_its_own_context(one_worker):
    seen = {}  # workflow id -> the thread that ran it
    gate = threading.Event()

    @DBOS.workflow()
    def first() -> None:
        gate.wait(5)  # keeps the pool's thread busy, so the next one waits in the queue

    @DBOS.workflow()
    def second(x: int) -> int:
        seen[DBOS.workflow_id] = threading.get_ident()
        gate.set()  # only now may the pool's thread go on (and take what is still queued)
        return 2 * x

    DBOS.launch()
    busy = DBOS.start_workflow(first)
    with SetWorkflowID("second-one"):
        handle = DBOS.start_workflow(second, 21)
    with SetWorkflowID("third-one"):
        assert handle.get_result() == 42
        # The id set for the next start was not used up by the workflow run meanwhile.
        assert DBOS.start_workflow(second, 1).get_workflow_id() == "third-one"
    busy.get_result()
    assert seen["second-one"] == threading.get_ident()  # it ran in the thread that waited
    assert DBOS.workflow_id is None
    assert DBOS.get_workflow_status("second-one").status == "SUCCESS"


def test_many_starting_threads_run_every_step_once(dbos):
    runs: list[tuple[str, int, int, float, float]] = []
    lock = threading.Lock()

    @DBOS.step()
    def step(i: int) -> int:
        start = time.monotonic()
        end = time.monotonic()
        with lock:
            runs.append((DBOS.workflow_id, i, threading.get_ident(), start, end))
        return i

    @DBOS.workflow()
    def five_steps(n: int) -> int:
        return n + sum(step(i) for i in range(5))

    DBOS.launch()
    results: dict[int, int] = {}

    def starter(base: int) -> None:
        handles = [(n, DBOS.start_workflow(five_steps, n)) for n in range(base, base + 25)]
        for n, handle in handles:
            results[n] = handle.get_result()

    threads = [threading.Thread(target=starter, args=(25 * k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a starter hung"
    assert results == {n: n + 10 for n in range(100)}
    per_step = {(workflow_id, i) for workflow_id, i, *_ in runs}
    assert len(runs) == len(per_step) == 500


def test_a_workflow_waiting_for_a_message_does_not_hold_up_its_sender(dbos):
    @DBOS.workflow()
    def waiter() -> str:
        return DBOS.recv("go", timeout_seconds=10)

    @DBOS.workflow()
    def sender(target: str) -> None:
        DBOS.send(target, "now", "go")

    DBOS.launch()
    waiting = DBOS.start_workflow(waiter)
    wait_until(lambda: waiting.get_status().status == "PENDING", "the waiter started")
    started = time.monotonic()
    DBOS.start_workflow(sender, waiting.get_workflow_id()).get_result()
    assert waiting.get_result() == "now"
    assert time.monotonic() - started < 2.0


def test_a_workflow_left_to_run_begins_while_other_threads_keep_busy(dbos):
    ran = threading.Event()
    stop = threading.Event()

    @DBOS.workflow()
    def note() -> None:
        ran.set()

    @DBOS.step()
    def work(i: int) -> int:
        return i

    @DBOS.workflow()
    def busy() -> int:
        return work(1)

    DBOS.launch()

    def keep_busy() -> None:  # one direct workflow after another, never a pause
        while not stop.is_set():
            busy()

    threads = [threading.Thread(target=keep_busy) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.05)
        DBOS.start_workflow(note)
        assert ran.wait(2.0), "the started workflow did not run beside three busy threads"
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)


def test_a_workflow_run_by_its_waiter_gives_what_the_journal_gives(one_worker):
    import dataclasses

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    gate = threading.Event()

    @DBOS.workflow()
    def hold() -> None:
        gate.wait(5)

    threads = set()

    @DBOS.workflow()
    def make(x: int) -> Point:
        threads.add(threading.get_ident())
        return Point(x, -x)

    @DBOS.workflow()
    def fail(x: int) -> int:
        threads.add(threading.get_ident())
        raise ValueError(f"no {x}")

    DBOS.launch()
    busy = DBOS.start_workflow(hold)
    made, failed = DBOS.start_workflow(make, 3), DBOS.start_workflow(fail, 4)
    # The pool's one thread stays in `hold` until both are awaited: released earlier, it could
    # take `fail` from the queue itself, before this thread asks for it.
    value = made.get_result()
    assert value == Point(3, -3) and type(value) is Point
    with pytest.raises(ValueError, match="no 4"):
        failed.get_result()
    assert threads == {threading.get_ident()}  # both ran in the thread that waited
    gate.set()
    busy.get_result()
    again = DBOS.retrieve_workflow(made.get_workflow_id()).get_result()
    assert again == value and type(again) is Point
    assert DBOS.get_result(made.get_workflow_id()) == value
    assert failed.get_status().status == "ERROR"


def test_the_baton_follows_the_cost_of_a_commit_and_switching_loses_nothing(dbos,
                                                                           monkeypatch):
    """The executor turns the baton on while commits are cheap and off while they wait for
    the disk; turning it on and off while threads run workflows hangs none of them."""
    import dbos_lite

    @DBOS.step()
    def step(i: int) -> int:
        return i

    @DBOS.workflow()
    def three(n: int) -> int:
        return n + sum(step(i) for i in range(3))

    DBOS.launch()
    executor = dbos_lite._process_executor
    # The costs are set here, not measured: a loaded machine's commits may take 50 us.
    cost = {"now": 5e-6}
    monkeypatch.setattr(executor.journal, "commit_cost", lambda: cost["now"])
    executor.take_turns()
    assert dbos_lite._baton.active  # commits of a few microseconds
    cost["now"] = 1e-3
    executor.take_turns()
    assert not dbos_lite._baton.active  # a commit that waits for a disk
    cost["now"] = 60e-6
    executor.take_turns()
    assert not dbos_lite._baton.active  # between the two thresholds: as it was
    cost["now"] = 5e-6
    executor.take_turns()
    assert dbos_lite._baton.active

    results: dict[int, int] = {}
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            cost["now"] = 1e-3 if cost["now"] < 1e-4 else 5e-6
            executor.take_turns()
            time.sleep(0.003)

    def starter(base: int) -> None:
        handles = [(n, DBOS.start_workflow(three, n)) for n in range(base, base + 30)]
        for n, handle in handles:
            results[n] = handle.get_result()

    flipper = threading.Thread(target=flip)
    flipper.start()
    threads = [threading.Thread(target=starter, args=(30 * k,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    stop.set()
    flipper.join()
    assert not any(thread.is_alive() for thread in threads), "a starter hung"
    assert results == {n: n + 3 for n in range(90)}


def test_where_most_steps_wait_on_io_threads_stop_taking_turns_for_a_while(dbos, monkeypatch):
    """Every slow step hands the baton on, and each hand-off wakes a sleeping thread: where
    more than one step in four waits (requests over the network), the baton turns itself off,
    and the housekeeper leaves it off for a while. Each step still runs once."""
    import dbos_lite

    runs: list[int] = []

    @DBOS.step()
    def request(i: int) -> int:
        time.sleep(0.003)
        runs.append(i)
        return i

    @DBOS.workflow()
    def two_requests(i: int) -> int:
        return request(i) + request(i)

    DBOS.launch()
    executor = dbos_lite._process_executor
    monkeypatch.setattr(executor.journal, "commit_cost", lambda: 5e-6)
    executor.take_turns()
    assert dbos_lite._baton.active
    handles = [DBOS.start_workflow(two_requests, i) for i in range(60)]
    assert [handle.get_result() for handle in handles] == [2 * i for i in range(60)]
    assert sorted(runs) == sorted(list(range(60)) * 2)
    assert not dbos_lite._baton.active
    executor.take_turns()  # what the housekeeper does
    assert not dbos_lite._baton.active  # off for a while
    monkeypatch.setattr(dbos_lite._baton, "off_until", time.monotonic())
    executor.take_turns()
    assert dbos_lite._baton.active  # and on again after it


def _pool_threads_woken() -> int:
    """How many times this process's pool threads have woken up (Linux: their voluntary
    context switches), or -1 where /proc does not tell."""
    total = 0
    for thread in threading.enumerate():
        if thread.name != "dbos_lite-worker":
            continue
        try:
            with open(f"/proc/self/task/{thread.native_id}/status") as status:
                total += next(int(line.split()[1]) for line in status
                              if line.startswith("voluntary_ctxt_switches"))
        except OSError:
            return -1
    return total


def _turns_on(monkeypatch):
    import dbos_lite

    executor = dbos_lite._process_executor
    # Cheap commits, set rather than measured (a loaded machine's commits may take 50 us).
    monkeypatch.setattr(executor.journal, "commit_cost", lambda: 5e-6)
    executor.take_turns()
    assert dbos_lite._baton.active


def _awaits_what_it_starts(workflow, count=20):
    """The calling thread starts ``count`` workflows and awaits them (so the pool has threads),
    lets the pool's threads go idle (none waits for the baton any more), then starts and
    awaits five more one at a time: its next start is held back."""
    for handle in [DBOS.start_workflow(workflow, i) for i in range(count)]:
        handle.get_result()
    time.sleep(0.1)  # outside: a pool thread waiting for the baton takes it, finds nothing
    for i in range(5):
        assert DBOS.start_workflow(workflow, i).get_result() == i


def test_the_pool_runs_workflows_left_to_it_one_after_another_in_one_thread(dbos,
                                                                          monkeypatch):
    """Workflows started and left to run (the starter waits on something else) are run by one
    pool thread after the other, without handing the baton to a second pool thread at each
    workflow's end (as they did once their threads had been idle a while, each then waiting
    for the other's workflow)."""
    threads: list[int] = []
    done = threading.Event()
    count = 200

    @DBOS.step()
    def quick(i: int) -> int:
        return i

    @DBOS.workflow()
    def work() -> int:
        threads.append(threading.get_ident())
        if len(threads) == count:
            done.set()
        return sum(quick(j) for j in range(3))

    DBOS.launch()
    _turns_on(monkeypatch)
    for _ in range(5):
        for handle in [DBOS.start_workflow(work) for _ in range(50)]:
            handle.get_result()  # the pool's threads take part
        for _ in range(100):
            work()  # while they are idle
        threads.clear()
        done.clear()
        handles = [DBOS.start_workflow(work) for _ in range(count)]
        assert done.wait(60)
        switches = sum(a != b for a, b in zip(threads, threads[1:]))
        assert switches < count // 10, \
            f"{switches} hand-offs between pool threads in {count} workflows"
        assert [handle.get_result() for handle in handles] == [3] * count


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() beside threads, 3.12+
def test_a_child_forked_by_a_pool_thread_is_no_pool_thread(dbos):
    """Forked from a workflow that a pool's thread runs, the child's one thread is its caller's
    code, not a pool's: going back to it counts as going outside again (see went_outside)."""
    import os

    import dbos_lite

    began = threading.Event()

    @DBOS.workflow()
    def forks() -> tuple[bool, int]:
        began.set()
        in_pool = dbos_lite._baton._threads.pooled
        pid = os.fork()
        if pid == 0:
            os._exit(10 + dbos_lite._baton._threads.pooled)
        _, status = os.waitpid(pid, 0)
        return in_pool, os.waitstatus_to_exitcode(status)

    DBOS.launch()
    handle = DBOS.start_workflow(forks)
    assert began.wait(10)  # begun by the pool, not by the get_result below
    assert handle.get_result() == (True, 10)


def test_starting_a_workflow_and_awaiting_it_at_once_wakes_no_pool_thread(dbos, monkeypatch):
    """start_workflow(...).get_result() in a loop runs each workflow in the calling thread, as
    before, and no longer wakes a pool thread at every start only for it to find nothing to do
    (and to take the interpreter from the caller meanwhile)."""
    ran_in: list[int] = []

    @DBOS.step()
    def add(a: int, b: int) -> int:
        return a + b

    @DBOS.workflow()
    def work(i: int) -> int:
        ran_in.append(threading.get_ident())
        return add(i, 1)

    DBOS.launch()
    _turns_on(monkeypatch)
    for handle in [DBOS.start_workflow(work, i) for i in range(20)]:
        handle.get_result()  # the pool has threads, idle from now on
    time.sleep(0.1)
    before = _pool_threads_woken()
    if before < 0:
        pytest.skip("no /proc here to count a thread's wake-ups")
    ran_in.clear()
    assert [DBOS.start_workflow(work, i).get_result() for i in range(200)] == \
        [i + 1 for i in range(200)]
    assert ran_in == [threading.get_ident()] * 200
    woken = _pool_threads_woken() - before
    assert woken < 50, f"pool threads woke {woken} times in 200 starts awaited at once"


def test_a_workflow_held_back_for_its_starter_runs_when_the_starter_goes_on_without_it(
        dbos, monkeypatch):
    """A thread that took back what it started before starts one more and then blocks in its
    own code: the workflow still runs, in the pool, within the housekeeper's next look."""
    began = threading.Event()
    ran_in: list[int] = []

    @DBOS.workflow()
    def quick(i: int) -> int:
        return i

    @DBOS.workflow()
    def left() -> str:
        ran_in.append(threading.get_ident())
        began.set()
        return "done"

    DBOS.launch()
    _turns_on(monkeypatch)
    _awaits_what_it_starts(quick)
    started = time.monotonic()
    handle = DBOS.start_workflow(left)
    assert began.wait(10), "a workflow started and left never began"
    assert time.monotonic() - started < 5
    assert ran_in != [threading.get_ident()]  # a pool thread ran it
    assert handle.get_result() == "done"


def test_a_workflow_held_back_runs_at_once_when_its_starter_waits_for_another(
        config, monkeypatch):
    """The held-back workflow is begun as soon as its starter gives the baton up to wait,
    not at the housekeeper's next look: here the housekeeper looks every 30 s, and the
    workflow the starter waits for needs the held-back one to finish."""
    DBOS.destroy(destroy_registry=True)
    DBOS(config={**config, "notification_listener_polling_interval_sec": 30.0})
    try:
        unblock = threading.Event()
        waiting = threading.Event()

        @DBOS.step()
        def wait_for_unblock() -> bool:
            waiting.set()
            return unblock.wait(20)

        @DBOS.workflow()
        def blocked() -> bool:
            return wait_for_unblock()

        @DBOS.workflow()
        def unblocks() -> str:
            unblock.set()
            return "unblocked"

        @DBOS.workflow()
        def quick(i: int) -> int:
            return i

        DBOS.launch()
        _turns_on(monkeypatch)
        first = DBOS.start_workflow(blocked)
        assert waiting.wait(10)  # a pool thread runs it, blocked in its step
        _awaits_what_it_starts(quick)
        started = time.monotonic()
        second = DBOS.start_workflow(unblocks)
        assert first.get_result() is True  # waits: the baton goes, and the pool begins it
        assert time.monotonic() - started < 10
        assert second.get_result() == "unblocked"
    finally:
        DBOS.destroy(destroy_registry=True)
