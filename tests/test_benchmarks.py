"""The benchmark scripts still run (short --quick runs; their figures are not asserted here:
timing claims live in benchmarks/ and the README, not in tests)."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # each script runs for seconds

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS = sorted(name for name in os.listdir(os.path.join(ROOT, "benchmarks"))
                    if name.startswith("bench_") and name.endswith(".py"))


@pytest.mark.parametrize("script", BENCHMARKS)
def test_benchmark_runs(script):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), "--quick"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "dbos_lite" in result.stdout and "---" in result.stdout  # printed its table
