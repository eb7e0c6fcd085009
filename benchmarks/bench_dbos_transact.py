"""The same workloads on dbos_lite and on DBOS Transact (`pip install dbos`), both journaling
to a SQLite file on this machine, in the same run.

DBOS Transact is not a dependency: without it only dbos_lite's column is filled in. Each engine
runs in a fresh subprocess. DBOS Transact keeps SQLite's defaults (rollback journal,
synchronous=FULL), so dbos_lite runs with synchronous=FULL too.

Usage: python benchmarks/bench_dbos_transact.py [--quick] [--dbos-python PATH]
  --dbos-python: an interpreter that has DBOS Transact installed (default: this one)
"""

import json
import os
import subprocess
import sys

from _common import ROOT, Scratch, print_table

QUICK = "--quick" in sys.argv
STEPS = 50 if QUICK else 200  # sequential steps in one workflow
WORKFLOWS = 20 if QUICK else 100  # one-step workflows called one after the other
CONCURRENT = 20 if QUICK else 100  # workflows of 5 steps started together

WORKLOAD = r"""
import json, sys, time
engine, path, steps, workflows, concurrent = sys.argv[1:6]
steps, workflows, concurrent = int(steps), int(workflows), int(concurrent)
if engine == "dbos_lite":
    sys.path.insert(0, sys.argv[6])
    from dbos_lite import DBOS
    DBOS(config={"name": "bench-app", "system_database_url": "sqlite:///" + path,
                 "sqlite_synchronous": "FULL"})
else:
    import logging
    logging.disable(logging.CRITICAL)
    from dbos import DBOS
    DBOS(config={"name": "bench-app", "system_database_url": "sqlite:///" + path,
                 "run_admin_server": False})

@DBOS.step()
def trivial(i: int) -> int:
    return i

@DBOS.workflow()
def many(n: int) -> int:
    return sum(trivial(i) for i in range(n))

@DBOS.workflow()
def one_step() -> int:
    return trivial(1)

@DBOS.workflow()
def five_steps() -> int:
    return sum(trivial(i) for i in range(5))

DBOS.launch()
many(5)  # warm up
results = {}
start = time.perf_counter()
many(steps)
results["step_us"] = (time.perf_counter() - start) / steps * 1e6
start = time.perf_counter()
for _ in range(workflows):
    one_step()
results["workflow_us"] = (time.perf_counter() - start) / workflows * 1e6
start = time.perf_counter()
handles = [DBOS.start_workflow(five_steps) for _ in range(concurrent)]
for handle in handles:
    handle.get_result()
results["steps_per_s"] = concurrent * 5 / (time.perf_counter() - start)
DBOS.destroy()
print(json.dumps(results))
"""


def run(python, engine, path):
    out = subprocess.run(
        [python, "-c", WORKLOAD, engine, path, str(STEPS), str(WORKFLOWS), str(CONCURRENT),
         ROOT],
        capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"{engine} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    python = sys.executable
    if "--dbos-python" in sys.argv:
        python = sys.argv[sys.argv.index("--dbos-python") + 1]
    probe = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('dbos'))"],
        capture_output=True, text=True)
    with Scratch() as scratch:
        ours = run(sys.executable, "dbos_lite", scratch.file("lite.sqlite"))
        theirs = run(python, "dbos", scratch.file("transact.sqlite")) \
            if probe.returncode == 0 else None
    workloads = [(f"step ({STEPS} in one workflow)", "step_us", "{:,.0f} us", True),
                 (f"one-step workflow ({WORKFLOWS})", "workflow_us", "{:,.0f} us", True),
                 (f"concurrent ({CONCURRENT} x 5 steps)", "steps_per_s", "{:,.0f} steps/s", False)]
    rows = []
    for title, key, unit, lower_is_better in workloads:
        if theirs is None:
            rows.append((title, unit.format(ours[key]), "not installed", "-"))
            continue
        ratio = theirs[key] / ours[key] if lower_is_better else ours[key] / theirs[key]
        rows.append((title, unit.format(ours[key]), unit.format(theirs[key]), f"{ratio:.1f}x"))
    version = probe.stdout.strip() if theirs is not None else "(not installed: pip install "\
        "dbos in a scratch environment, then pass --dbos-python PATH)"
    print_table(f"dbos_lite against DBOS Transact {version}, both on SQLite, synchronous=FULL",
                ("workload", "dbos_lite", "DBOS Transact", "dbos_lite faster by"), rows)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
