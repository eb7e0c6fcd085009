"""Memory over many workflows: peak RSS after 1,000 workflows and after 100,000 (quick: 10,000).

A long-running process must not grow with the number of workflows it has run. Each measurement
runs in a fresh child process (so that nothing else this script did counts), with
sqlite_synchronous NORMAL for speed, and runs one-step workflows one after the other:
  direct: called directly (``one_step(i)``), as a plain function call runs a workflow;
  start_workflow: ``DBOS.start_workflow(one_step, i).get_result()``, which runs the workflow on
    the thread pool and waits for it through a handle.
The child reports its peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, KB on Linux), its
current RSS (VmRSS) and the number of objects tracked by Python's garbage collector after the
first 1,000 workflows and again after the last one. Target: the peak grows by a few MB at most
(SQLite's page cache, 2 MB by default, fills up as the journal grows; nothing should grow with
the number of workflows).

Usage: python benchmarks/bench_memory.py [--quick]
"""

import gc
import json
import os
import resource
import subprocess
import sys
import time

from _common import Scratch, print_table

import dbos_lite
from dbos_lite import DBOS

QUICK = "--quick" in sys.argv
FIRST = 1_000
TOTAL = 10_000 if QUICK else 100_000
MODES = ("direct", "start_workflow")


def current_rss_kb():
    """Resident set size now (Linux), to see growth that an earlier peak would hide."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


def snapshot():
    gc.collect()
    return {"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "rss_kb": current_rss_kb(), "objects": len(gc.get_objects())}


def child(mode, path, total):
    """Run in a child process: ``total`` one-step workflows, with snapshots after FIRST and
    after the last; prints them as JSON."""
    DBOS(config={"name": "bench-memory", "sqlite_synchronous": "NORMAL",
                 "system_database_url": f"sqlite:///{path}"})

    @DBOS.step()
    def trivial(i: int) -> int:
        return i

    @DBOS.workflow()
    def one_step(i: int) -> int:
        return trivial(i)

    DBOS.launch()

    def run(i):
        if mode == "direct":
            value = one_step(i)
        else:
            value = DBOS.start_workflow(one_step, i).get_result()
        assert value == i, (value, i)

    start = time.perf_counter()
    for i in range(FIRST):
        run(i)
    first = snapshot()
    for i in range(FIRST, total):
        run(i)
    last = snapshot()
    seconds = time.perf_counter() - start
    finished = len(DBOS.list_workflows(status="SUCCESS", load_input=False, load_output=False))
    assert finished == total, finished
    DBOS.destroy()
    print(json.dumps({"first": first, "last": last, "seconds": seconds}))


def measure(scratch, mode):
    path = scratch.file(f"memory-{mode}.sqlite")
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", mode, path, str(TOTAL)],
        capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise SystemExit(f"the {mode} child failed:\n{result.stdout}{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    started = time.perf_counter()
    rows = []
    with Scratch() as scratch:
        for mode in MODES:
            report = measure(scratch, mode)
            first, last = report["first"]["maxrss_kb"], report["last"]["maxrss_kb"]
            objects = report["last"]["objects"] - report["first"]["objects"]
            now = report["last"]["rss_kb"] - report["first"]["rss_kb"]
            rows.append((mode, f"{first / 1024:.1f} MB", f"{last / 1024:.1f} MB",
                         f"{(last - first) / 1024:+.1f} MB", f"{now / 1024:+.1f} MB",
                         f"{objects:+,}",
                         f"{TOTAL / report['seconds']:,.0f}/s", "a few MB"))
    print_table(f"Peak RSS of a process running one-step workflows one after the other "
                f"(dbos_lite {dbos_lite.__version__}, NORMAL, a fresh process per line)",
                ("mode", f"peak after {FIRST:,}", f"peak after {TOTAL:,}", "difference",
                 "current RSS difference", "gc objects difference", "workflows/s", "target"), rows)
    print(f"Total time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
