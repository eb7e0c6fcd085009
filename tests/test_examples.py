"""Every example in examples/ runs, and says what it promises to show."""

import os
import shutil
import signal
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def run_example(name, tmp_path, *args, timeout=60):
    """Run a copy of the example in tmp_path, so its journal lands there."""
    script = tmp_path / name
    if not script.exists():
        shutil.copy(os.path.join(EXAMPLES, name), script)
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, str(script), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_every_example_is_tested():
    """A new example needs a test here; this list is the examples this file runs."""
    tested = {"01_hello.py", "02_retries.py", "03_crash_and_resume.py", "04_approval.py",
              "05_progress.py", "06_cancel_resume_fork.py", "07_async_fanout.py",
              "08_queue.py", "09_schedule.py"}
    assert {n for n in os.listdir(EXAMPLES) if n.endswith(".py")} == tested


def test_hello(tmp_path):
    result = run_example("01_hello.py", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("running step greet") == 1
    assert result.stdout.count("HELLO, WORLD!") >= 2


def test_retries(tmp_path):
    result = run_example("02_retries.py", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "attempt 3" in result.stdout and "attempt 4" not in result.stdout
    assert "result: payload" in result.stdout


def test_crash_and_resume(tmp_path):
    first = run_example("03_crash_and_resume.py", tmp_path)
    assert first.returncode == -signal.SIGKILL, first.stderr
    assert "step 3: the process dies now" in first.stdout

    second = run_example("03_crash_and_resume.py", tmp_path)
    assert second.returncode == 0, second.stderr
    assert "Result: 55" in second.stdout
    for n in (1, 2):
        assert f"step {n}: replayed from journal" in second.stdout
        assert f"step {n}: running" not in second.stdout
    for n in (3, 4, 5):
        assert f"step {n}: ran in this run" in second.stdout

    third = run_example("03_crash_and_resume.py", tmp_path)
    assert third.returncode == 0 and "running" not in third.stdout
    assert third.stdout.count("replayed from journal") == 5


def test_approval(tmp_path):
    result = run_example("04_approval.py", tmp_path, "demo")
    assert result.returncode == 0, result.stderr
    assert "waiting for approval" in result.stdout
    assert "Decision: approved by" in result.stdout
    again = run_example("04_approval.py", tmp_path)  # the recorded decision, no new wait
    assert again.returncode == 0 and "Decision: approved by" in again.stdout
    assert "waiting for approval" not in again.stdout


def test_progress(tmp_path):
    result = run_example("05_progress.py", tmp_path)
    assert result.returncode == 0, result.stderr
    for i in range(5):
        assert f"[watcher] photo{i}.jpg resized" in result.stdout
    assert "[watcher] stream closed" in result.stdout and "Resized 5 images" in result.stdout


@pytest.mark.slow
def test_cancel_resume_fork(tmp_path):
    result = run_example("06_cancel_resume_fork.py", tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "status: CANCELLED" in out and "forked from: pipeline-1" in out
    assert out.count("running stage 1") == 1
    assert out.count("running stage 2") == 2  # interrupted by the cancel, run again on resume
    assert out.count("running stage 3") == 2  # once on resume, once in the fork


@pytest.mark.slow
def test_async_fanout_killed_and_resumed(tmp_path):
    first = run_example("07_async_fanout.py", tmp_path)
    assert first.returncode == -signal.SIGKILL, first.stderr
    assert first.stdout.count("fetching") == 4
    second = run_example("07_async_fanout.py", tmp_path)
    assert second.returncode == 0, second.stderr
    assert "Total items: 220" in second.stdout
    assert "fetching users" not in second.stdout and "fetching orders" not in second.stdout
    assert "replayed from the journal: ['users', 'orders']" in second.stdout


@pytest.mark.slow
def test_queue_worked_by_two_processes_one_killed(tmp_path):
    result = run_example("08_queue.py", tmp_path, "demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Killed worker A with SIGKILL while it resized a photo" in out
    assert "All 12 photos resized, each exactly once: True" in out
    assert "At most 2 photos resized at once: True" in out
    assert "Rate limit held (at most 4 starts in any second): True" in out


@pytest.mark.slow
def test_schedule_killed_and_restarted_backfills_what_it_missed(tmp_path):
    result = run_example("09_schedule.py", tmp_path, "demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "The job was killed with SIGKILL (exit -9) in its run for the fourth second" in out
    assert "to 8 seconds after the kill: 12, each run once: True" in out
    assert "Run before the kill: 3" in out
    assert "The run killed mid-way was resumed after the restart, once: True" in out
    assert "Missed while down, run after the restart: 3, in order: True" in out
    assert "Later seconds run after the restart: 5" in out
    lines = (tmp_path / "09_schedule.log").read_text().splitlines()
    ran = [line.split()[0] for line in lines if line.endswith(" ran")]
    assert len(ran) == len(set(ran)) >= 12  # every second once, the log kept next to it
