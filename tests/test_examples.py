"""Every example in examples/ runs, and says what it promises to show."""

import os
import shutil
import signal
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def run_example(name, tmp_path, timeout=60):
    """Run a copy of the example in tmp_path, so its journal lands there."""
    script = tmp_path / name
    if not script.exists():
        shutil.copy(os.path.join(EXAMPLES, name), script)
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_every_example_is_tested():
    """A new example needs a test here; this list is the examples this file runs."""
    tested = {"01_hello.py", "02_retries.py", "03_crash_and_resume.py"}
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
