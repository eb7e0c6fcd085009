"""The timeline of one workflow (``_Management.timeline``, shown by ``workflow show``): what it
is built from (failed step attempts, written only on failure; waits, written only when a wait
blocks), what it says a workflow waits for, and the journal's migration 6."""

import threading
import time

import apsw
import pytest

import dbos_lite
from conftest import journal_of_schema, journal_url, wait_until
from dbos_lite import DBOS, DBOSClient, DBOSInitializationError, SetWorkflowID


def rows(path, sql, *args):
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def timeline(workflow_id):
    return dbos_lite._looking().timeline(workflow_id)


def test_the_success_path_writes_no_attempt_and_no_wait(dbos, journal_path):
    @DBOS.step(retries_allowed=True, max_attempts=3)
    def fine(x: int) -> int:
        return x + 1

    @DBOS.workflow()
    def smooth() -> str:
        fine(1)
        DBOS.send(DBOS.workflow_id, "already here", "t")
        return DBOS.recv("t", timeout_seconds=5)  # finds its message: it does not block

    DBOS.launch()
    with SetWorkflowID("smooth"):
        assert smooth() == "already here"
    assert rows(journal_path, "SELECT count(*) FROM step_attempts") == [(0,)]
    assert rows(journal_path, "SELECT count(*) FROM workflow_waits") == [(0,)]


def test_failed_attempts_are_recorded_and_list_workflow_steps_keeps_its_shape(
        dbos, journal_path):
    calls = {"n": 0}

    @DBOS.step(name="flaky", retries_allowed=True, max_attempts=3, interval_seconds=0.01)
    def flaky() -> int:
        calls["n"] += 1
        if calls["n"] < 3:
            raise ValueError(f"failure {calls['n']}")
        return 7

    @DBOS.step(name="once")
    def once() -> None:
        raise KeyError("gone")

    @DBOS.step(name="hopeless", retries_allowed=True, max_attempts=2, interval_seconds=0.01)
    def hopeless() -> None:
        raise OSError("down")

    @DBOS.workflow()
    def work() -> int:
        value = flaky()
        for step in (once, hopeless):
            try:
                step()
            except Exception:
                pass
        return value

    DBOS.launch()
    with SetWorkflowID("work"):
        assert work() == 7
    steps = DBOS.list_workflow_steps("work")
    assert [list(step) for step in steps] == [list(dbos_lite.StepInfo.__annotations__)] * 3
    assert [step["function_name"].split(".")[-1] for step in steps] == [
        "flaky", "once", "hopeless"]
    story = timeline("work")
    flaky_step, once_step, hopeless_step = story.steps
    assert [(a.attempt, a.error) for a in flaky_step.attempts] == [
        (0, "ValueError: failure 1"), (1, "ValueError: failure 2")]
    assert all(a.retry_at_ms >= a.failed_at_ms for a in flaky_step.attempts)
    assert flaky_step.outcome == "ok" and flaky_step.summary == "7"
    assert [(a.error, a.retry_at_ms) for a in once_step.attempts] == [("KeyError: 'gone'", None)]
    assert once_step.outcome == "error"
    assert [a.retry_at_ms is None for a in hopeless_step.attempts] == [False, True]
    assert hopeless_step.summary.startswith("DBOSMaxStepRetriesExceeded: Step ")
    assert "'hopeless' has exceeded its maximum of 2 attempts" in hopeless_step.summary

    # A fork keeps the attempts of the operations it reuses; a delete removes them.
    fork = DBOS.fork_workflow("work", 2)
    assert fork.get_result() == 7
    assert [len(s.attempts) for s in timeline(fork.workflow_id).steps][:1] == [2]
    DBOS.delete_workflow("work")
    assert rows(journal_path, "SELECT count(*) FROM step_attempts WHERE workflow_id = 'work'") \
        == [(0,)]


def test_what_a_pending_workflow_waits_for(dbos, journal_path):
    release = threading.Event()

    @DBOS.step(name="slow_retry", retries_allowed=True, max_attempts=2, interval_seconds=30)
    def slow_retry() -> None:
        raise RuntimeError("not now")

    @DBOS.workflow()
    def sleeper() -> None:
        DBOS.sleep(30)

    @DBOS.workflow()
    def listener() -> object:
        return DBOS.recv("topic-a", timeout_seconds=30)

    @DBOS.workflow()
    def event_reader() -> object:
        return DBOS.get_event("listener", "never", timeout_seconds=30)

    @DBOS.workflow()
    def parent() -> object:
        return listener_child()

    @DBOS.workflow()
    def awaiter() -> object:
        return DBOS.start_workflow(listener_child).get_result()

    @DBOS.workflow()
    def listener_child() -> object:
        return DBOS.recv("topic-b", timeout_seconds=30)

    @DBOS.workflow()
    def retrier() -> None:
        slow_retry()

    DBOS.launch()
    for workflow_id, function in (("sleeper", sleeper), ("listener", listener),
                                  ("event_reader", event_reader), ("parent", parent),
                                  ("awaiter", awaiter),
                                  ("retrier", retrier)):
        with SetWorkflowID(workflow_id):
            DBOS.start_workflow(function)
    expected = {"sleeper": ("sleep", "DBOS.sleep until "),
                "listener": ("recv", "DBOS.recv on topic 'topic-a' until "),
                "event_reader": ("event", "event 'never' of workflow listener until "),
                "parent": ("child", "its child parent-1 (PENDING)"),
                "awaiter": ("result", "the result of awaiter-1 (PENDING)"),
                "retrier": ("retry", "step '")}

    def waiting(workflow_id):
        found = timeline(workflow_id).waiting
        return [(w.kind, w.text) for w in found]

    for workflow_id, (kind, text) in expected.items():
        wait_until(lambda: waiting(workflow_id) and waiting(workflow_id)[0][0] == kind,
                 f"{workflow_id} waiting on {kind}")
        assert waiting(workflow_id)[0][1].startswith(text), waiting(workflow_id)
    retry = waiting("retrier")[0][1]
    assert "'slow_retry' (#1): attempt 1 failed (RuntimeError: not now); next attempt at " \
        in retry
    story = timeline("listener")
    assert story.owner is not None and story.owner.alive and story.owner.pid > 0
    assert story.waiting[0].topic == "topic-a" and story.waiting[0].until_ms > time.time() * 1000
    assert [c.workflow_id for c in timeline("parent").children] == ["parent-1"]

    # A client in another connection sees the same; a send ends the wait.
    client = DBOSClient(system_database_url=journal_url(journal_path))
    assert [w.kind for w in client._looking().timeline("listener").waiting] == ["recv"]
    DBOS.send("listener", "hi", "topic-a")
    assert DBOS.retrieve_workflow("listener").get_result() == "hi"
    assert client._looking().timeline("listener").waiting == []
    client.destroy()
    DBOS.cancel_workflow("sleeper")
    DBOS.cancel_workflow("event_reader")
    DBOS.cancel_workflow("parent", cancel_children=True)
    DBOS.cancel_workflow("awaiter", cancel_children=True)
    DBOS.cancel_workflow("retrier")
    release.set()


def test_a_journal_of_schema_5_is_upgraded_by_launch_and_read_as_it_is_by_a_client(
        tmp_path, config):
    path = str(tmp_path / "old.sqlite")
    journal_of_schema(path, 5)
    conn = apsw.Connection(path)
    conn.execute("INSERT INTO workflow_status (workflow_id, status, name, inputs, created_at,"
                 " updated_at, max_recovery_attempts) VALUES ('old', 'SUCCESS', 'w',"
                 " '{\"args\":[],\"kwargs\":{}}', 1, 2, 10)")
    conn.close()
    client = DBOSClient(system_database_url=journal_url(path))
    story = client._looking().timeline("old")
    assert (story.status, story.steps, story.waiting) == ("SUCCESS", [], [])
    with pytest.raises(DBOSInitializationError, match="older than this dbos_lite"):
        client.delete_workflow("old")  # a client never migrates
    client.destroy()
    assert rows(path, "PRAGMA user_version") == [(5,)]

    DBOS.destroy(destroy_registry=True)
    DBOS(config={**config, "system_database_url": journal_url(path)})
    DBOS.launch()
    assert rows(path, "PRAGMA user_version") == [(dbos_lite.SCHEMA_VERSION,)]
    assert rows(path, "SELECT count(*) FROM step_attempts") == [(0,)]
    DBOS.destroy(destroy_registry=True)
