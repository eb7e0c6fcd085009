"""Crash recovery with real processes: tests/crash_app.py is run as a subprocess, SIGKILLed at a
known point (found through the lines its steps append to a log file), and started again.

The log counts every run of every step, so "a completed step never runs again" is checked on
what really ran, not on what the journal says."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

import dbos_lite

APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "crash_app.py")
EXPECTED_JOB_1 = 100000 * 10**5 + 12345  # pipeline(100000) in mode "run"
EXPECTED_PAUSED = 12345  # paused_pipeline(0), dsleep_pipeline(0, ...), doomed(0) if it finished


# ---- helpers: running, watching and killing crash_app.py ----


class Apps:
    """Starts crash_app.py processes for one test and kills whatever is left at the end."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.journal = str(tmp_path / "journal.sqlite")
        self.log = str(tmp_path / "steps.log")
        self.procs = []

    def start(self, mode, sync="FULL", **env):
        extra = {f"CRASH_APP_{key.upper()}": str(value) for key, value in env.items()}
        environ = {k: v for k, v in os.environ.items() if not k.startswith("CRASH_APP_")}
        environ.update(extra)
        n = len(self.procs)
        out = open(self.tmp_path / f"stdout-{n}.txt", "wb")
        err = open(self.tmp_path / f"stderr-{n}.txt", "wb")
        try:
            proc = subprocess.Popen(
                [sys.executable, APP, self.journal, self.log, mode, sync],
                stdout=out, stderr=err, env=environ,
            )
        finally:
            out.close()
            err.close()
        proc.index = n
        self.procs.append(proc)
        return proc

    def output(self, proc):
        with open(self.tmp_path / f"stdout-{proc.index}.txt") as f:
            stdout = f.read()
        with open(self.tmp_path / f"stderr-{proc.index}.txt") as f:
            stderr = f.read()
        return stdout, stderr

    def finish(self, proc, timeout=30.0):
        """Wait for a process to exit on its own; its return code and SUMMARY."""
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(proc)
            stdout, stderr = self.output(proc)
            pytest.fail(f"crash_app did not finish in {timeout} s.\nstdout:\n{stdout}\n"
                        f"stderr:\n{stderr}\nlog:\n{self.log_text()}")
        stdout, stderr = self.output(proc)
        summaries = [line[len("SUMMARY "):] for line in stdout.splitlines()
                     if line.startswith("SUMMARY ")]
        summary = json.loads(summaries[-1]) if summaries else None
        return proc.returncode, summary, stderr

    @staticmethod
    def kill(proc):
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    def kill_all(self):
        for proc in self.procs:
            self.kill(proc)

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def lines(self):
        """The log as (pid, workflow_id, event, step) tuples."""
        result = []
        for line in self.log_text().splitlines():
            pid, workflow_id, event, arg = line.split(" ", 3)
            result.append((int(pid), workflow_id, event, arg))
        return result

    def count(self, event, step, workflow_id="job-1", pid=None):
        return sum(1 for p, w, e, k in self.lines()
                   if w == workflow_id and e == event and k == str(step)
                   and (pid is None or p == pid))

    def wait_for_line(self, proc, event, step, workflow_id="job-1", timeout=20.0):
        """Wait until ``proc`` has logged ``event step`` for the workflow."""
        deadline = time.monotonic() + timeout
        while self.count(event, step, workflow_id, pid=proc.pid) == 0:
            if proc.poll() is not None:
                stdout, stderr = self.output(proc)
                pytest.fail(f"crash_app exited ({proc.returncode}) before logging {event} "
                            f"{step}.\nstdout:\n{stdout}\nstderr:\n{stderr}\n"
                            f"log:\n{self.log_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no '{event} {step}' from pid {proc.pid} in {timeout} s.\n"
                            f"log:\n{self.log_text()}")
            time.sleep(0.02)

    def query(self, sql, args=()):
        """Read the journal directly (read-only), as the sqlite3 shell would."""
        conn = sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()


@pytest.fixture
def apps(tmp_path):
    runner = Apps(tmp_path)
    try:
        yield runner
    finally:
        runner.kill_all()


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
    code, summary, stderr = apps.finish(second, timeout=dbos_lite.PROCESS_LEASE_SEC + 10)
    elapsed = time.monotonic() - began
    assert code == 0, stderr
    assert summary["job-1"]["status"] == "SUCCESS"
    # A dead process on this host is known dead by its pid: no lease (30 s) nor heartbeat
    # (5 s) to wait for. 15 s leaves room for a slow interpreter start on a loaded machine.
    assert elapsed < min(15.0, dbos_lite.PROCESS_LEASE_SEC / 2), elapsed
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
