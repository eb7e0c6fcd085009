"""Durable coordination with real processes: tests/coordination_app.py runs as a subprocess, is
SIGKILLed at a known point (found through the lines it appends to a log file) and started again.

Covers DBOS.sleep (a restarted sleep keeps its original wake-up time; a finished one is not
slept again), DBOS.send/DBOS.recv across a crash (each message handled exactly once, FIFO per
topic, idempotency keys), wake-up latency across processes (recv and get_event), child workflows
across a crash (the parent re-attaches to its children), and idle waiters costing no CPU.

The log counts every real run of a step, so "ran exactly once" is checked on what really ran,
not on what the journal says. The test process itself launches DBOS on the same journal when it
has to send messages or wait for events, as a second process would."""

import json
import os
import threading
import time

import pytest

from dbos_lite import DBOS, DBOSNonExistentWorkflowError
from harness import CoordinationApps


# ---- helpers: running, watching and killing coordination_app.py ----


@pytest.fixture
def apps(tmp_path):
    with CoordinationApps(tmp_path) as runner:
        yield runner


@pytest.fixture
def peer(apps):
    """A DBOS in the test process on the apps' journal (not launched: the test launches it).
    It registers no workflow, so it never runs or recovers the apps' workflows."""
    DBOS.destroy(destroy_registry=True)
    DBOS(config={
        "name": "coordination-app",  # the journal belongs to the app under test
        "system_database_url": f"sqlite:///{apps.journal}",
        "sqlite_synchronous": "NORMAL",
        "notification_listener_polling_interval_sec": 0.1,
    })
    try:
        yield DBOS
    finally:
        DBOS.destroy(destroy_registry=True)


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_count(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))


# ---- 1. DBOS.sleep ----


@pytest.mark.slow
def test_killed_mid_sleep_wakes_at_the_original_time(apps):
    sleep_sec = 4.0
    first = apps.start("sleep", COORD_SLEEP_SEC=sleep_sec)
    began = apps.wait_for_line(first, "begin", sleep_sec, "sleep-1")[4]
    (wake_at_json,), = apps.wait_for_query(
        "SELECT output FROM operation_outputs WHERE workflow_id = 'sleep-1'"
        " AND function_name = 'DBOS.sleep'")
    wake_at = json.loads(wake_at_json)
    assert began + sleep_sec <= wake_at < began + sleep_sec + 0.5, (began, wake_at)
    time.sleep(max(0.0, began + 1.5 - time.time()))  # 1.5 s into the 4 s sleep
    apps.kill(first)
    assert apps.lines("woke") == [], apps.log_text()

    restarted_at = time.time()
    second = apps.start("recover")
    summary = apps.finish(second)

    job = summary["workflows"]["sleep-1"]
    assert job["status"] == "SUCCESS", job
    assert job["output"] == "slept"
    assert job["steps"] == ["DBOS.sleep", "hold"]
    assert job["recovery_attempts"] == 2
    woke = apps.lines("woke", workflow_id="sleep-1")
    assert [p for p, *_ in woke] == [second.pid], apps.log_text()
    woke_at = woke[0][4]
    # The restarted workflow woke at the recorded time (start + 4 s), not 4 s after the
    # restart (which would be at least 1.5 s later than that).
    assert wake_at <= woke_at < wake_at + 0.75, (woke_at - wake_at, woke_at - restarted_at)
    assert woke_at < restarted_at + sleep_sec - 1.0
    assert apps.count("start", "hold", "sleep-1") == 1
    assert apps.count("end", "hold", "sleep-1", pid=second.pid) == 1


@pytest.mark.slow
def test_a_finished_sleep_is_not_slept_again(apps):
    sleep_sec = 2.0
    first = apps.start("sleep", COORD_SLEEP_SEC=sleep_sec, COORD_HOLD_SEC=60)
    apps.wait_for_line(first, "start", "hold", "sleep-1")  # the sleep is over, its step runs
    apps.kill(first)
    assert apps.count("end", "hold", "sleep-1") == 0

    second = apps.start("recover")
    summary = apps.finish(second)
    job = summary["workflows"]["sleep-1"]
    assert job["status"] == "SUCCESS", job
    assert job["steps"] == ["DBOS.sleep", "hold"]
    launched_at = apps.lines("launched", pid=second.pid)[0][4]
    woke_at = apps.lines("woke", workflow_id="sleep-1", pid=second.pid)[0][4]
    # The replayed body passes its finished DBOS.sleep at once instead of sleeping 2 s again.
    assert woke_at - launched_at < 1.0, woke_at - launched_at
    assert apps.count("start", "hold", "sleep-1", pid=second.pid) == 1
    assert apps.count("end", "hold", "sleep-1") == 1

    # Calling the finished workflow again by id returns its recorded result at once, running
    # nothing: no body line, no step, no sleep.
    lines_before = len(apps.lines())
    third = apps.start("call_sleep", COORD_SLEEP_SEC=sleep_sec)
    summary = apps.finish(third)
    assert summary["extra"]["result"] == "slept"
    assert summary["extra"]["call_sec"] < 1.0, summary["extra"]  # not another 2 s sleep
    new = [(e, a) for p, w, e, a, t in apps.lines()[lines_before:]]
    assert new == [("launched", new[0][1]), ("started", "0")], new


# ---- 2. send/recv across a crash ----


def test_messages_are_handled_exactly_once_in_fifo_order_across_crashes(apps, peer):
    topics = ["a", "b"] * 5  # the workflow alternates DBOS.recv("a") and DBOS.recv("b")
    expected = ["a1", "b1", "a2", "b2", "a3", "b3", "a4", "b4", "a5", "b5"]
    inbox = "inbox-1"

    def send(message):
        DBOS.send(inbox, message, message[0], idempotency_key=message)

    def queued():
        rows = apps.query("SELECT message FROM notifications WHERE destination_id = ?"
                          " ORDER BY message_id", (inbox,))
        return [json.loads(m) for m, in rows]

    first = apps.start("inbox", COORD_TOPICS=",".join(topics))
    apps.wait_for_line(first, "started", 1, "-")
    DBOS.launch()
    with pytest.raises(DBOSNonExistentWorkflowError):
        DBOS.send("inbox-nobody", "lost", "a")

    for message in ["b1", "b2", "a1", "a2"]:  # topic b first: it waits in its own queue
        send(message)
    apps.wait_for_line(first, "end", "b2", inbox)
    # Crash 1, while the workflow waits in its 5th DBOS.recv (operations 13 and 14: the recv
    # and the sleep holding its timeout, recorded before the wait).
    apps.wait_for_query("SELECT max(function_id) FROM operation_outputs WHERE workflow_id = ?",
                        (inbox,), predicate=lambda rows: rows == [(14,)])
    apps.kill(first)
    send("a3")
    send("b3")

    # The next process takes a3 (consumed and recorded in one transaction) and is killed
    # while its step handles it (crash 2); b3 is still queued.
    second = apps.start("recover", COORD_SLOW_MSG="a3", COORD_SLOW_SEC=60)
    apps.wait_for_line(second, "start", "a3", inbox)
    apps.kill(second)
    assert queued() == ["b3"]

    # While the receiver is down: more messages, and retries of sends still queued.
    send("a4")
    send("b4")
    send("b3")
    send("a4")
    assert queued() == ["b3", "a4", "b4"]

    third = apps.start("recover")
    apps.wait_for_line(third, "end", "a4", inbox)
    send("b5")
    send("a5")
    summary = apps.finish(third)

    job = summary["workflows"][inbox]
    assert job["status"] == "SUCCESS", job
    assert job["output"] == expected  # FIFO per topic, whatever the order of sending
    assert job["recovery_attempts"] == 3
    assert job["steps"] == ["DBOS.recv", "DBOS.sleep", "handle"] * len(expected)
    for message in expected:
        # Handled exactly once overall: no message lost, none handled twice.
        assert apps.count("end", message, inbox) == 1, (message, apps.log_text())
    assert [a for _, _, _, a, _ in apps.lines("end", pid=first.pid)] == expected[:4]
    assert [a for _, _, _, a, _ in apps.lines("end", pid=second.pid)] == []
    assert [a for _, _, _, a, _ in apps.lines("end", pid=third.pid)] == expected[4:]
    # a3 was received before crash 2: the restart replays the recorded message instead of
    # losing it; only its interrupted step runs again.
    assert apps.count("start", "a3", inbox, pid=second.pid) == 1
    assert apps.count("start", "a3", inbox, pid=third.pid) == 1
    for message in expected:
        if message != "a3":
            assert apps.count("start", message, inbox) == 1, (message, apps.log_text())
    assert queued() == []


def test_a_send_retried_after_the_message_was_received_is_a_no_op(apps, peer):
    """A sender that does not know whether its send went through (it crashed, or timed out)
    sends again with the same idempotency key. The receiver may already have taken the first
    copy; the retry must still not deliver the message a second time."""
    first = apps.start("inbox", COORD_TOPICS="c,c")
    apps.wait_for_line(first, "started", 1, "-")
    DBOS.launch()
    DBOS.send("inbox-1", "pay-1", "c", idempotency_key="pay-1")
    apps.wait_for_line(first, "end", "pay-1", "inbox-1")
    DBOS.send("inbox-1", "pay-1", "c", idempotency_key="pay-1")  # the retry
    DBOS.send("inbox-1", "pay-2", "c", idempotency_key="pay-2")
    summary = apps.finish(first)
    assert summary["workflows"]["inbox-1"]["output"] == ["pay-1", "pay-2"]
    assert apps.count("end", "pay-1", "inbox-1") == 1, apps.log_text()


# ---- 3. wake-up latency across processes ----


@pytest.mark.slow
def test_waiters_in_another_process_wake_within_the_polling_interval(apps, peer):
    pings = 5
    first = apps.start("echo", COORD_PINGS=pings, COORD_POLL_SEC=0.1)
    apps.wait_for_line(first, "started", 1, "-")
    DBOS.launch()
    time.sleep(0.3)  # echo-1 is waiting in DBOS.recv("ping")

    latencies = []
    for i in range(pings):
        time.sleep(0.05 + 0.037 * i)  # vary the phase against the other process's polling
        sent_at = time.time()
        DBOS.send("echo-1", f"p{i}", "ping")
        got_at = apps.wait_for_line(first, "got", f"p{i}", "echo-1", timeout=10)[4]
        latencies.append(got_at - sent_at)
    # Polled every 0.1 s: each wake-up comes about one polling interval after the send at most.
    assert all(0 < lat < 1.0 for lat in latencies), latencies  # polling at 0.1 s, on a busy CI
    assert sorted(latencies)[pings // 2] < 0.5, latencies

    # The other direction: this process waits in DBOS.get_event for an event echo-1 sets.
    got = {}

    def wait_for_pong():
        got["value"] = DBOS.get_event("echo-1", "pong", timeout_seconds=10)
        got["at"] = time.time()

    waiter = threading.Thread(target=wait_for_pong)
    waiter.start()
    try:
        time.sleep(0.3)  # waiting in get_event before the event exists
        assert "value" not in got
        DBOS.send("echo-1", "go", "go")
    finally:
        waiter.join(15)
    assert not waiter.is_alive()
    assert got["value"] is not None, "get_event timed out"
    assert 0 < got["at"] - got["value"] < 1.0, got["at"] - got["value"]

    summary = apps.finish(first)
    assert summary["workflows"]["echo-1"]["status"] == "SUCCESS"
    assert summary["workflows"]["echo-1"]["output"] == pings


# ---- 4. child workflows across a crash ----


def test_a_restarted_parent_reattaches_to_its_children(apps):
    children = {"par-1": 1, "par-3": 2, "par-4": 3, "par-5": 4}  # id -> child number
    first = apps.start("parent", COORD_SLOW_CHILDREN="3,4", COORD_SLOW_CHILD_SEC=60)
    apps.wait_for_line(first, "start", 3, "par-4")  # started with DBOS.start_workflow
    apps.wait_for_line(first, "start", 4, "par-5")  # called directly, after the others
    apps.wait_for_query("SELECT count(*) FROM workflow_status WHERE workflow_id IN"
                        " ('par-1', 'par-3') AND status = 'SUCCESS'",
                        predicate=lambda rows: rows == [(2,)])
    apps.kill(first)
    before = apps.query("SELECT workflow_id, parent_workflow_id FROM workflow_status"
                        " ORDER BY workflow_id")
    assert before == [("par", None)] + [(c, "par") for c in sorted(children)]

    second = apps.start("recover")
    summary = apps.finish(second)

    workflows = summary["workflows"]
    assert sorted(workflows) == ["par"] + sorted(children)  # no new children
    job = workflows["par"]
    assert job["status"] == "SUCCESS", job
    assert job["output"] == [11, 22, 33, 44]
    assert job["steps"] == ["child", "DBOS.getResult", "child", "child", "child",
                            "DBOS.getResult", "DBOS.getResult", "DBOS.getResult"]
    for child_id, k in children.items():
        assert workflows[child_id]["status"] == "SUCCESS"
        assert workflows[child_id]["output"] == 11 * k
        assert workflows[child_id]["parent"] == "par"
        assert apps.count("end", k, child_id) == 1, (child_id, apps.log_text())
    # Children that had completed never ran again.
    for child_id in ("par-1", "par-3"):
        k = children[child_id]
        assert apps.count("start", k, child_id) == 1
        assert apps.count("end", k, child_id, pid=first.pid) == 1
        assert workflows[child_id]["recovery_attempts"] == 1
    # Children killed mid-step ran once more, in the new process, each exactly once.
    for child_id in ("par-4", "par-5"):
        k = children[child_id]
        assert apps.count("start", k, child_id, pid=first.pid) == 1
        assert apps.count("start", k, child_id, pid=second.pid) == 1
        assert apps.count("end", k, child_id, pid=second.pid) == 1
    assert len(apps.lines("start")) == 6, apps.log_text()


# ---- 5. idle waiters ----


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")
def test_idle_waiters_cost_no_cpu(apps, peer):
    waiters = 200
    first = apps.start("idle", COORD_WAITERS=waiters, COORD_THREADS=waiters + 16,
                       COORD_POLL_SEC=0.1)
    # Every waiter has recorded its recv's timeout, so it is in DBOS.recv.
    apps.wait_for_query(
        "SELECT count(*) FROM operation_outputs WHERE function_name = 'DBOS.sleep'"
        " AND workflow_id LIKE 'idle-%'", predicate=lambda rows: rows == [(waiters,)])
    time.sleep(0.5)
    assert first.poll() is None
    assert thread_count(first.pid) >= waiters  # each waiter really blocks a thread
    cpu_before, wall_before = cpu_seconds(first.pid), time.monotonic()
    time.sleep(2.0)
    cpu_used, wall = cpu_seconds(first.pid) - cpu_before, time.monotonic() - wall_before
    assert cpu_used < 0.2, f"{cpu_used:.3f} s of CPU in {wall:.2f} s with {waiters} idle waiters"

    DBOS.launch()
    for i in range(waiters):
        DBOS.send(f"idle-{i}", f"m{i}", "wake")
    summary = apps.finish(first)
    workflows = summary["workflows"]
    assert len(workflows) == waiters
    for i in range(waiters):
        job = workflows[f"idle-{i}"]
        assert (job["status"], job["output"]) == ("SUCCESS", f"m{i}"), (i, job)
