"""Workflows: idempotent ids, handles, status and listing, children, and in-process recovery."""

import threading
import time

import pytest

import sqlite_here

from engine import (
    DBOS,
    DBOSConflictingWorkflowError,
    DBOSException,
    DBOSNonExistentWorkflowError,
    ON_DBOS,
    SetWorkflowID,
)


@pytest.mark.both_engines
def test_finished_workflow_id_returns_the_recorded_result_without_running(dbos):
    runs = []

    @DBOS.workflow()
    def greet(name: str) -> str:
        runs.append(name)
        return f"hello {name}"

    DBOS.launch()
    with SetWorkflowID("g"):
        assert greet("ada") == "hello ada"
    with SetWorkflowID("g"):
        assert greet("someone else") == "hello ada"
    assert runs == ["ada"]


@pytest.mark.both_engines
def test_workflow_error_is_recorded_and_raised_again(dbos):
    runs = []

    @DBOS.workflow()
    def broken():
        runs.append(1)
        raise RuntimeError("broken on purpose")

    DBOS.launch()
    for _ in range(2):
        with SetWorkflowID("b"):
            with pytest.raises(RuntimeError, match="broken on purpose"):
                broken()
    assert runs == [1]
    status = DBOS.get_workflow_status("b")
    assert status.status == "ERROR" and isinstance(status.error, RuntimeError)


@pytest.mark.both_engines
def test_same_id_with_another_function_conflicts(dbos):
    @DBOS.workflow()
    def one() -> int:
        return 1

    @DBOS.workflow()
    def two() -> int:
        return 2

    DBOS.launch()
    with SetWorkflowID("x"):
        one()
    with SetWorkflowID("x"):
        with pytest.raises(DBOSConflictingWorkflowError, match="different function name"):
            two()


@pytest.mark.both_engines
def test_concurrent_starts_of_one_id_run_the_body_once(dbos):
    """Every caller of a running id waits for it: while the body is held, all callers have
    called and none has returned; once it ends, each gets its result and it ran once."""
    runs = []
    started, gate = threading.Event(), threading.Event()

    @DBOS.workflow()
    def slow() -> str:
        runs.append(1)
        started.set()
        gate.wait(10)
        return "done"

    DBOS.launch()
    calling, results, errors = [], [], []

    def call():
        calling.append(threading.get_ident())
        try:
            with SetWorkflowID("once"):
                results.append(slow())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    assert started.wait(5)
    deadline = time.monotonic() + 5
    while len(calling) < len(threads) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(calling) == len(threads)
    time.sleep(0.3)  # time enough for any caller that does not wait to return
    assert results == [] and errors == [], (results, errors)
    assert all(t.is_alive() for t in threads)
    assert DBOS.get_workflow_status("once").status == "PENDING"
    gate.set()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert results == ["done"] * 4
    assert runs == [1]


@pytest.mark.both_engines
def test_a_running_workflow_is_waited_for(dbos):
    runs = []
    started, gate = threading.Event(), threading.Event()

    @DBOS.workflow()
    def slow() -> str:
        runs.append(1)
        started.set()
        gate.wait(10)
        return "finished"

    DBOS.launch()
    with SetWorkflowID("slow"):
        handle = DBOS.start_workflow(slow)
    assert started.wait(5)
    assert handle.get_status().status == "PENDING"
    threading.Timer(0.3, gate.set).start()
    with SetWorkflowID("slow"):
        assert slow() == "finished"
    assert gate.is_set()  # it returned only once the running body had finished
    assert handle.get_result() == "finished"
    assert runs == [1]  # the second call waited: it did not run the body again


@pytest.mark.both_engines
def test_start_workflow_returns_a_handle_at_once(dbos):
    gate = threading.Event()

    @DBOS.workflow()
    def work(x: int) -> int:
        gate.wait(5)
        return x * 3

    DBOS.launch()
    handle = DBOS.start_workflow(work, 5)  # a WorkflowHandle (a Protocol in DBOS Transact)
    assert handle.get_workflow_id() == handle.workflow_id
    assert handle.get_status().status == "PENDING"
    gate.set()
    assert handle.get_result() == 15
    assert handle.get_status().status == "SUCCESS"
    assert DBOS.retrieve_workflow(handle.workflow_id).get_result() == 15


@pytest.mark.both_engines
def test_a_started_workflows_handle_gives_what_its_run_returned_even_once_deleted(dbos):
    # As DBOS Transact's handle of a workflow its process runs: its value comes from the run
    # itself, typed as the journal would type it, and stays with the handle.
    @DBOS.workflow()
    def pair(x: int) -> tuple[int, int]:
        return x, x + 1

    DBOS.launch()
    handles = [DBOS.start_workflow(pair, x) for x in range(20)]
    assert [handle.get_result() for handle in handles] == [(x, x + 1) for x in range(20)]
    first = handles[0]
    assert DBOS.get_result(first.workflow_id) == first.get_result() == (0, 1)
    DBOS.delete_workflow(first.workflow_id)
    with pytest.raises(DBOSNonExistentWorkflowError):
        DBOS.retrieve_workflow(first.workflow_id)
    assert first.get_result() == (0, 1)


@pytest.mark.both_engines
def test_many_workflows_on_the_thread_pool(dbos):
    @DBOS.step()
    def square(x: int) -> int:
        return x * x

    @DBOS.workflow()
    def work(x: int) -> int:
        return square(x) + square(x + 1)

    DBOS.launch()
    handles = [DBOS.start_workflow(work, i) for i in range(50)]
    assert [h.get_result() for h in handles] == [i * i + (i + 1) ** 2 for i in range(50)]


@pytest.mark.both_engines
def test_a_write_that_fails_beside_concurrent_ones_takes_none_of_them_with_it(config):
    """Under FULL, where the writes of concurrent threads share one commit: threads whose sends
    fail (no such workflow) run beside threads that record steps and send real messages. Each
    failed send raises and delivers nothing; every step is recorded once, every message
    arrives."""
    DBOS.destroy(destroy_registry=True)
    DBOS(config=config if ON_DBOS else {**config, "sqlite_synchronous": "FULL"})
    runs: list[tuple[str, int]] = []

    @DBOS.step()
    def step(i: int) -> int:
        runs.append((DBOS.workflow_id, i))
        return i

    @DBOS.workflow()
    def five_steps() -> int:
        return sum(step(i) for i in range(5))

    @DBOS.workflow()
    def receiver(count: int) -> int:
        return sum(DBOS.recv("n", timeout_seconds=30) for _ in range(count))

    try:
        DBOS.launch()
        inbox = DBOS.start_workflow(receiver, 60)
        failures: list[BaseException] = []
        results: list[int] = []

        def run_workflows() -> None:
            results.extend(five_steps() for _ in range(15))

        def send_nowhere() -> None:
            for n in range(30):
                try:
                    DBOS.send(f"nobody-{threading.get_ident()}-{n}", n, "n")
                except DBOSNonExistentWorkflowError as exc:
                    failures.append(exc)

        def send_real() -> None:
            for _ in range(30):
                DBOS.send(inbox.workflow_id, 1, "n")

        threads = [threading.Thread(target=target) for target in
                   (run_workflows, run_workflows, send_nowhere, send_nowhere, send_real,
                    send_real)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads), "a thread hung"
        assert len(failures) == 60
        assert results == [10] * 30
        assert len(runs) == len(set(runs)) == 150
        workflow_ids = {workflow_id for workflow_id, _ in runs}
        assert len(workflow_ids) == 30
        for workflow_id in workflow_ids:  # what the journal holds, not only what ran
            assert DBOS.get_workflow_status(workflow_id).status == "SUCCESS"
            assert len(DBOS.list_workflow_steps(workflow_id)) == 5
        assert inbox.get_result() == 60
    finally:
        DBOS.destroy(destroy_registry=True)


@pytest.mark.both_engines
def test_retrieve_and_status_of_unknown_workflows(dbos):
    DBOS.launch()
    with pytest.raises(DBOSNonExistentWorkflowError):
        DBOS.retrieve_workflow("nope")
    assert DBOS.get_workflow_status("nope") is None
    assert DBOS.list_workflow_steps("nope") == []


@pytest.mark.both_engines
def test_workflow_status_fields(dbos):
    @DBOS.workflow()
    def work(a: int, *, b: str) -> dict:
        return {"a": a, "b": b}

    DBOS.launch()
    with SetWorkflowID("s"):
        work(1, b="two")
    status = DBOS.get_workflow_status("s")
    assert status.workflow_id == "s" and status.status == "SUCCESS"
    assert status.name == work.__qualname__
    assert status.input == {"args": (1,), "kwargs": {"b": "two"}}
    assert status.output == {"a": 1, "b": "two"} and status.error is None
    assert status.executor_id == DBOS.executor_id
    assert status.app_version == DBOS.application_version
    assert status.recovery_attempts == 1
    assert status.created_at <= status.updated_at


@pytest.mark.deliberate_difference(
    "list_workflows orders by creation time to the millisecond, ties by id; DBOS Transact "
    "on SQLite stamps whole seconds (Python < 3.12) and orders ties as it finds them"
)
def test_list_workflows_filters_and_order(dbos):
    @DBOS.workflow()
    def ok(i: int) -> int:
        return i

    @DBOS.workflow()
    def bad(i: int) -> int:
        raise ValueError(i)

    DBOS.launch()
    for i in range(6):
        with SetWorkflowID(f"ok-{i}"):
            ok(i)
        time.sleep(0.002)
    for i in range(2):
        with SetWorkflowID(f"bad-{i}"):
            with pytest.raises(ValueError):
                bad(i)

    def ids(**filters):
        return [w.workflow_id for w in DBOS.list_workflows(**filters)]

    assert ids() == [f"ok-{i}" for i in range(6)] + ["bad-0", "bad-1"]
    assert ids(sort_desc=True) == ["bad-1", "bad-0"] + [f"ok-{i}" for i in reversed(range(6))]
    assert ids(status="ERROR") == ["bad-0", "bad-1"]
    assert ids(status=["ERROR", "SUCCESS"], limit=3) == ["ok-0", "ok-1", "ok-2"]
    assert ids(name=ok.__qualname__, limit=2, offset=2) == ["ok-2", "ok-3"]
    assert ids(workflow_ids=["ok-1", "bad-1", "missing"]) == ["ok-1", "bad-1"]
    assert ids(workflow_id_prefix="bad") == ["bad-0", "bad-1"]
    statuses = DBOS.list_workflows()
    middle = statuses[3].created_at
    assert all(w.created_at >= middle for w in DBOS.list_workflows(start_time=middle))
    assert all(w.created_at <= middle for w in DBOS.list_workflows(end_time=middle))
    import datetime
    iso = datetime.datetime.fromtimestamp(middle / 1000).isoformat()
    assert ids(start_time=iso)[0] == statuses[3].workflow_id
    assert [w.output for w in DBOS.list_workflows(load_output=False)] == [None] * 8
    assert [w.input for w in DBOS.list_workflows(load_input=False)] == [None] * 8


@pytest.mark.both_engines
def test_listing_unfinished_workflows_keeps_filters_and_order(dbos):
    """A status filter of unfinished statuses only reads the index of unfinished workflows:
    same answers, same order, as the full listing."""
    @DBOS.workflow()
    def ok(i: int) -> int:
        return i

    @DBOS.workflow()
    def waiting(i: int) -> object:
        return DBOS.recv("go", timeout_seconds=30)

    DBOS.launch()
    handles = []
    for i in range(4):
        with SetWorkflowID(f"ok-{i}"):
            ok(i)
        with SetWorkflowID(f"wait-{i}"):
            handles.append(DBOS.start_workflow(waiting, i))

    def ids(**filters):
        return [w.workflow_id for w in DBOS.list_workflows(**filters)]

    pending = [f"wait-{i}" for i in range(4)]
    assert ids(status="PENDING") == pending
    assert ids(status=["PENDING", "ENQUEUED"], sort_desc=True) == pending[::-1]
    assert ids(status="PENDING", limit=2, offset=1) == pending[1:3]
    assert ids(status="PENDING", name=waiting.__qualname__, workflow_id_prefix="wait-3") == [
        "wait-3"]
    assert ids(status="PENDING", name=ok.__qualname__) == []
    everything = ids()
    assert sorted(everything) == sorted(f"{kind}-{i}" for i in range(4) for kind in ("ok", "wait"))
    assert ids(status=["PENDING", "SUCCESS"]) == everything
    assert ids(status=["PENDING", "SUCCESS"], sort_desc=True) == everything[::-1]
    for i, handle in enumerate(handles):
        DBOS.send(handle.get_workflow_id(), i, "go")
        assert handle.get_result() == i
    assert ids(status="PENDING") == []


@pytest.mark.both_engines
def test_child_workflows_called_directly_and_started(dbos):
    runs = []

    @DBOS.workflow()
    def child(x: int) -> int:
        runs.append(x)
        return x + 100

    @DBOS.workflow()
    def parent() -> list:
        direct = child(1)
        handle = DBOS.start_workflow(child, 2)
        return [direct, handle.get_result(), handle.workflow_id]

    DBOS.launch()
    with SetWorkflowID("p"):
        assert parent() == [101, 102, "p-3"]
    with SetWorkflowID("p"):
        assert parent() == [101, 102, "p-3"]
    assert sorted(runs) == [1, 2]
    steps = [(s["function_id"], s["function_name"], s["child_workflow_id"])
             for s in DBOS.list_workflow_steps("p")]
    assert steps == [(1, child.__qualname__, "p-1"), (2, "DBOS.getResult", "p-1"),
                     (3, child.__qualname__, "p-3"), (4, "DBOS.getResult", "p-3")]
    assert DBOS.get_workflow_status("p-1").parent_workflow_id == "p"


@pytest.mark.both_engines
def test_set_workflow_id_applies_to_the_first_workflow_only(dbos):
    @DBOS.workflow()
    def work() -> str:
        return DBOS.workflow_id

    DBOS.launch()
    with SetWorkflowID("first"):
        assert work() == "first"
        assert work() != "first"
    with pytest.raises(DBOSException):
        SetWorkflowID("  ")


@pytest.mark.both_engines
def test_workflow_called_before_launch_says_to_launch(dbos):
    @DBOS.workflow()
    def work() -> int:
        return 1

    with pytest.raises(DBOSException, match="launch"):
        work()


@pytest.mark.deliberate_difference(
    "a clean DBOS.destroy() gives a running workflow back without counting a recovery "
    "attempt; DBOS Transact counts the relaunch as one"
)
def test_interrupted_workflow_resumes_on_next_launch(dbos, config):
    """In-process stand-in for a crash: DBOS is destroyed while a workflow waits in a step;
    the next launch resumes it from the last completed step."""
    ran = []
    block = threading.Event()

    @DBOS.step()
    def step(i: int) -> int:
        ran.append(i)
        if i == 2 and len(ran) == 2:
            block.wait(5)  # the first execution hangs here, as if the process died
            raise SystemExit  # never recorded
        return i

    @DBOS.workflow()
    def work() -> list:
        return [step(1), step(2), step(3)]

    DBOS.launch()
    with SetWorkflowID("r"):
        DBOS.start_workflow(work)
    deadline = time.monotonic() + 5
    while len(ran) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    DBOS.destroy()
    block.set()
    DBOS(config=config)
    DBOS.launch()
    assert DBOS.retrieve_workflow("r").get_result() == [1, 2, 3]
    assert ran == [1, 2, 2, 3]
    # DBOS.destroy() gave the workflow back: taking it up again is not a crash recovery.
    assert DBOS.get_workflow_status("r").recovery_attempts == 1


def test_unregistered_workflow_is_reported_and_left_for_another_process(dbos, config, caplog,
                                                                        journal_path):
    """A process that lacks a workflow's function logs it once and writes nothing into it."""
    gate = threading.Event()

    @DBOS.workflow(name="only-here")
    def only_here() -> int:
        gate.wait(5)
        return 1

    DBOS.launch()
    with SetWorkflowID("u"):
        DBOS.start_workflow(only_here)
    DBOS.destroy(destroy_registry=True)
    gate.set()
    DBOS(config=config)
    def row():
        return sqlite_here.query(journal_path, "SELECT * FROM workflow_status"
                                 " WHERE workflow_id = 'u'")

    before = row()
    with caplog.at_level("WARNING", logger="dbos_lite"):
        DBOS.launch()  # this "process" does not know only-here
    assert DBOS.get_workflow_status("u").status == "PENDING"
    assert row() == before  # nothing written into a workflow this process cannot run
    reports = [r.getMessage() for r in caplog.records if "only-here" in r.getMessage()]
    assert len(reports) == 1 and "not registered" in reports[0], reports

    DBOS.destroy(destroy_registry=True)
    DBOS.register_workflow(lambda: 7, name="only-here")
    DBOS(config=config)
    DBOS.launch()
    assert DBOS.retrieve_workflow("u").get_result() == 7


def test_a_process_judged_dead_takes_back_its_running_workflows(dbos, journal_path,
                                                                monkeypatch):
    """Another host's process may release this process's workflows after its lease ran out
    (say it was suspended). On its next heartbeat this process takes back what it is still
    running, without running it a second time."""
    import dbos_lite

    monkeypatch.setattr(dbos_lite, "_HEARTBEAT_SEC", 0.2)
    runs = []

    @DBOS.step()
    def slow(k: int) -> int:
        runs.append(k)
        time.sleep(1.0 if k == 1 else 0)
        return k

    @DBOS.workflow()
    def work() -> int:
        return slow(1) + slow(2)

    DBOS.launch()
    with SetWorkflowID("w"):
        handle = DBOS.start_workflow(work)
    time.sleep(0.3)
    with sqlite_here.connect(journal_path) as other:
        other.execute("BEGIN IMMEDIATE")
        other.execute("DELETE FROM processes")
        other.execute("UPDATE workflow_status SET owner = NULL WHERE status = 'PENDING'")
        other.execute("COMMIT")
    assert handle.get_result() == 3
    assert runs == [1, 2]
    assert handle.get_status().recovery_attempts == 1


def test_a_workflow_running_when_dbos_is_destroyed_raises_a_clear_error(dbos, config):
    entered = threading.Event()
    release = threading.Event()

    @DBOS.step()
    def slow() -> int:
        entered.set()
        release.wait(5)
        return 1

    @DBOS.workflow()
    def work() -> int:
        return slow() + slow()

    DBOS.launch()
    outcome = []

    def call():
        try:
            with SetWorkflowID("d"):
                outcome.append(work())
        except BaseException as exc:  # noqa: BLE001 - the test looks at what escapes
            outcome.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    entered.wait(5)
    DBOS.destroy()
    release.set()
    thread.join(5)
    [error] = outcome
    assert isinstance(error, DBOSException) and "DBOS.destroy()" in str(error)
    DBOS(config=config)
    DBOS.launch()  # the next launch resumes it
    assert DBOS.retrieve_workflow("d").get_result() == 2


@pytest.mark.deliberate_difference(
    "a workflow waiting for another lends its executor thread, so parents waiting for "
    "children cannot starve a small pool; DBOS Transact 3.4 deadlocks there"
)
def test_parents_waiting_for_children_cannot_starve_the_pool(config):
    """More parents than threads, each waiting for a child it started: the waiting parents lend
    their threads, so the children run."""
    DBOS.destroy(destroy_registry=True)
    DBOS(config={**config, "max_executor_threads": 2})

    @DBOS.workflow()
    def child(i: int) -> int:
        return i * 10

    @DBOS.workflow()
    def parent(i: int) -> int:
        return DBOS.start_workflow(child, i).get_result() + 1

    DBOS.launch()
    try:
        from harness import within

        handles = [DBOS.start_workflow(parent, i) for i in range(6)]
        results = within(20, lambda: [h.get_result() for h in handles])
        assert results == [i * 10 + 1 for i in range(6)]
    finally:
        DBOS.destroy(destroy_registry=True)


def test_default_ids_are_time_ordered_uuid7_unique_across_processes(dbos, tmp_path):
    """Default workflow ids: UUID version 7 (time first, so they sort in start order), none
    repeated in a process, nor by another process or a forked child."""
    import os
    import subprocess
    import sys
    import uuid

    @DBOS.workflow()
    def noop() -> None:
        pass

    DBOS.launch()
    ids = [DBOS.start_workflow(noop).get_workflow_id() for _ in range(50)]
    assert all(uuid.UUID(i).version == 7 and str(uuid.UUID(i)) == i for i in ids)
    assert len(set(ids)) == 50
    assert sorted(ids) == ids  # started one after the other: in order
    code = ("import os, dbos_lite\n"
            "ids = [dbos_lite._new_workflow_id() for _ in range(1000)]\n"
            "read, write = os.pipe()\n"
            "if os.fork() == 0:\n"
            "    os.write(write, ' '.join(dbos_lite._new_workflow_id() for _ in range(1000))"
            ".encode())\n"
            "    os._exit(0)\n"
            "os.wait()\n"
            "os.close(write)\n"
            "child = os.fdopen(read).read().split()\n"
            "print(' '.join(ids + child + [dbos_lite._new_workflow_id() for _ in range(1000)]))\n")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
            for _ in range(2)]
    others = [i for run in runs for i in run.stdout.split()]
    assert len(others) == 6000 and len(set(others) | set(ids)) == 6050


def test_set_workflow_id_with_reject_refuses_an_id_in_use(dbos):
    from dbos_lite import DBOSWorkflowIDInUseError

    @DBOS.workflow()
    def job(x):
        return x

    DBOS.launch()
    with SetWorkflowID("taken", workflow_id_reuse_policy="reject"):
        assert job(1) == 1
    with pytest.raises(DBOSWorkflowIDInUseError, match="taken is already in use by workflow"):
        with SetWorkflowID("taken", workflow_id_reuse_policy="reject"):
            job(2)
    with SetWorkflowID("taken", workflow_id_reuse_policy="return-existing"):
        assert job(3) == 1
    with pytest.raises(DBOSException, match="Invalid workflow_id_reuse_policy"):
        SetWorkflowID("x", workflow_id_reuse_policy="sometimes")
    queue = DBOS.register_queue("reuse")
    with pytest.raises(DBOSWorkflowIDInUseError):
        with SetWorkflowID("taken", workflow_id_reuse_policy="reject"):
            queue.enqueue(job, 4)


# A lone write of one statement commits without BEGIN and COMMIT, except the commits that
# commit_cost times (every other one at first): ``earlier`` one-step workflows (three commits
# each) before this one make the refused write one of each kind.
@pytest.mark.parametrize("earlier", [0, 1])
@pytest.mark.parametrize("taken_before", [4, 7])
def test_a_workflow_taken_away_while_it_runs_records_nothing_more(dbos, journal_path,
                                                                   taken_before, earlier):
    """Another process takes the workflow over between two of its writes (before its step
    ``taken_before``, or before its outcome: 7): this run records nothing more, and says
    why."""
    runs = []

    def take_away():
        with sqlite_here.connect(journal_path) as other:
            other.execute("UPDATE workflow_status SET owner = 'another-process'"
                          " WHERE workflow_id = 'taken'")

    @DBOS.step()
    def step(k: int) -> int:
        runs.append(k)
        return k

    @DBOS.workflow()
    def one_step() -> int:
        return step(0)

    @DBOS.workflow()
    def work() -> int:
        total = 0
        for k in range(1, 7):
            if k == taken_before:
                take_away()
            total += step(k)
        if taken_before == 7:
            take_away()
        return total

    DBOS.launch()
    for _ in range(earlier):
        one_step()
    runs.clear()
    with pytest.raises(DBOSException, match="no longer owned by this process"):
        with SetWorkflowID("taken"):
            work()
    with sqlite_here.connect(journal_path) as other:
        recorded = [row[0] for row in other.execute(
            "SELECT function_id FROM operation_outputs WHERE workflow_id = 'taken'"
            " ORDER BY function_id")]
        status, owner = next(other.execute(
            "SELECT status, owner FROM workflow_status WHERE workflow_id = 'taken'"))
    assert runs == list(range(1, min(taken_before, 6) + 1))
    assert recorded == list(range(1, taken_before))
    assert (status, owner) == ("PENDING", "another-process")
