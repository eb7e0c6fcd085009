"""Crash recovery with real processes: tests/crash_app.py is run as a subprocess, SIGKILLed at a
known point (found through the lines its steps append to a log file), and started again.

The log counts every run of every step, so "a completed step never runs again" is checked on
what really ran, not on what the journal says."""

import json
import signal
import time

import pytest

import dbos_lite
from harness import CrashApps

EXPECTED_JOB_1 = 100000 * 10**5 + 12345  # pipeline(100000) in mode "run"
EXPECTED_PAUSED = 12345  # paused_pipeline(0), dsleep_pipeline(0, ...), doomed(0) if it finished


# ---- helpers: running, watching and killing crash_app.py ----


@pytest.fixture
def apps(tmp_path):
    with CrashApps(tmp_path) as runner:
        yield runner


def assert_ran_once(apps, steps, pid, workflow_id="job-1"):
    for k in steps:
        for event in ("start", "end"):
            assert apps.count(event, k, workflow_id) == 1, (
                f"{event} {k} of {workflow_id} ran {apps.count(event, k, workflow_id)} times\n"
                f"{apps.log_text()}")
            assert apps.count(event, k, workflow_id, pid=pid) == 1, apps.log_text()


# ---- tests ----


@pytest.mark.parametrize("sync", ["FULL", "NORMAL"])
def test_kill_during_a_step_resumes_at_that_step(apps, sync):
    first = apps.start("run", sync, slow_step=3, slow_sec=60)
    apps.wait_for_line(first, "start", 3)
    apps.kill(first)
    assert first.returncode == -signal.SIGKILL
    assert apps.count("end", 3) == 0

    second = apps.start("recover", sync)
    code, summary, stderr = apps.finish(second)
    assert code == 0, stderr

    job = summary["job-1"]
    assert job["status"] == "SUCCESS"
    assert job["output"] == EXPECTED_JOB_1
    assert job["recovery_attempts"] == 2
    assert job["steps"] == ["work"] * 5
    assert_ran_once(apps, [1, 2], first.pid)
    # Step 3 was interrupted before its outcome was recorded: it runs again, exactly once more.
    assert 1 <= apps.count("start", 3) <= 2
    assert apps.count("start", 3, pid=first.pid) == 1
    assert apps.count("start", 3, pid=second.pid) == 1
    assert apps.count("end", 3) == 1
    assert apps.count("end", 3, pid=second.pid) == 1
    assert_ran_once(apps, [4, 5], second.pid)


def test_kill_in_a_plain_pause_between_steps(apps):
    first = apps.start("pause", pause_sec=60)
    apps.wait_for_line(first, "pause", 2)  # logged by the body once step 2 is recorded
    apps.kill(first)

    second = apps.start("recover")
    code, summary, stderr = apps.finish(second)
    assert code == 0, stderr
    job = summary["job-1"]
    assert job["status"] == "SUCCESS"
    assert job["output"] == EXPECTED_PAUSED
    assert job["steps"] == ["work"] * 5
    assert_ran_once(apps, [1, 2], first.pid)
    assert_ran_once(apps, [3, 4, 5], second.pid)
    assert apps.count("pause", 2) == 2  # the body itself is replayed; only steps are skipped


@pytest.mark.slow
def test_kill_in_a_durable_sleep_between_steps(apps):
    sleep_sec = 4.0
    first = apps.start("dsleep", dsleep_sec=sleep_sec)
    apps.wait_for_line(first, "pause", 2)
    deadline = time.monotonic() + 10
    while not apps.query("SELECT 1 FROM operation_outputs WHERE workflow_id = 'job-1'"
                         " AND function_name = 'DBOS.sleep'"):
        assert time.monotonic() < deadline, "the DBOS.sleep was never recorded"
        time.sleep(0.02)
    (wake_at_json,), = apps.query("SELECT output FROM operation_outputs"
                                  " WHERE workflow_id = 'job-1' AND function_name = 'DBOS.sleep'")
    wake_at = json.loads(wake_at_json)
    time.sleep(max(0.0, wake_at - time.time() - sleep_sec / 2))  # half-way through the sleep
    apps.kill(first)
    assert apps.count("start", 3) == 0

    second = apps.start("recover")
    code, summary, stderr = apps.finish(second)
    finished_at = time.time()
    assert code == 0, stderr
    job = summary["job-1"]
    assert job["status"] == "SUCCESS"
    assert job["output"] == EXPECTED_PAUSED
    assert job["steps"] == ["work", "work", "DBOS.sleep", "work", "work", "work"]
    assert_ran_once(apps, [1, 2], first.pid)
    assert_ran_once(apps, [3, 4, 5], second.pid)
    # The restarted workflow woke at the recorded time, not a whole new sleep after the restart.
    assert finished_at >= wake_at
    assert finished_at < wake_at + sleep_sec / 2, (finished_at, wake_at)


def test_restart_resumes_at_once_without_waiting_for_a_lease(apps):
    first = apps.start("run", slow_step=3, slow_sec=60)
    apps.wait_for_line(first, "start", 3)
    apps.kill(first)

    began = time.monotonic()
    second = apps.start("recover")
    code, summary, stderr = apps.finish(second, timeout=dbos_lite._PROCESS_LEASE_SEC + 10)
    elapsed = time.monotonic() - began
    assert code == 0, stderr
    assert summary["job-1"]["status"] == "SUCCESS"
    # A dead process on this host is known dead by its pid: no lease (30 s) nor heartbeat
    # (5 s) to wait for. 15 s leaves room for a slow interpreter start on a loaded machine.
    assert elapsed < min(15.0, dbos_lite._PROCESS_LEASE_SEC / 2), elapsed
    assert apps.count("start", 3, pid=second.pid) == 1


def test_a_workflow_that_keeps_crashing_its_process_is_dead_lettered(apps):
    max_recovery_attempts = 2  # as registered on crash_app.doomed
    runs = [apps.start("doomed")]
    assert apps.finish(runs[0])[0] == -signal.SIGKILL  # step 3 kills its own process
    code = None
    while len(runs) < 8:
        runs.append(apps.start("recover"))
        code, summary, stderr = apps.finish(runs[-1])
        if code != -signal.SIGKILL:
            break
    assert code == 0, stderr
    # The first run and max_recovery_attempts recoveries crashed; the next launch gave up.
    assert len(runs) == max_recovery_attempts + 2
    job = summary["job-1"]
    assert job["status"] == "MAX_RECOVERY_ATTEMPTS_EXCEEDED"
    assert job["error"].startswith("MaxRecoveryAttemptsExceededError")
    assert job["steps"] == ["work_or_die", "work_or_die"]
    assert_ran_once(apps, [1, 2], runs[0].pid)
    assert apps.count("start", 3) == max_recovery_attempts + 1
    assert apps.count("end", 3) == 0
    assert apps.count("start", 3, pid=runs[-1].pid) == 0

    # No crash loop any more: another launch leaves it alone and exits normally.
    lines_before = len(apps.lines())
    again = apps.start("recover")
    code, summary, stderr = apps.finish(again)
    assert code == 0, stderr
    assert summary["job-1"]["status"] == "MAX_RECOVERY_ATTEMPTS_EXCEEDED"
    new_lines = apps.lines()[lines_before:]
    assert [e for _, _, e, _ in new_lines] == ["launched"], new_lines
