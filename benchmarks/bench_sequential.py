"""Sequential latency against the raw SQLite floor, measured in the same run.

1. One workflow with 2,000 trivial steps: time per step, against one INSERT + COMMIT.
2. 500 one-step workflows called directly: time per workflow, against three commits
   (start, step, finish).
Each measurement is repeated (alternating dbos_lite and the floor) and the best run is kept,
so that noise from the rest of the machine hurts neither side.

Usage: python benchmarks/bench_sequential.py [--quick]
"""

import sys

from _common import (Scratch, best, commit_insert, floor_connection, print_table,
                     register_trivial_workflows, timed)

import dbos_lite
from dbos_lite import DBOS, SetWorkflowID

QUICK = "--quick" in sys.argv
STEPS = 400 if QUICK else 2000
WORKFLOWS = 100 if QUICK else 500
REPEATS = 2 if QUICK else 5


def floor_steps(scratch, synchronous, run):
    conn = floor_connection(scratch.file(f"floor-steps-{synchronous}-{run}.sqlite"), synchronous)
    seconds = timed(lambda: [commit_insert(conn, "w", i) for i in range(STEPS)])
    conn.close()
    return seconds / STEPS


def floor_workflows(scratch, synchronous, run):
    conn = floor_connection(scratch.file(f"floor-wf-{synchronous}-{run}.sqlite"), synchronous)

    def work():
        for i in range(WORKFLOWS):
            commit_insert(conn, f"w{i}", 0)  # start
            commit_insert(conn, f"w{i}", 1)  # step
            commit_insert(conn, f"w{i}", 2)  # finish
    seconds = timed(work)
    conn.close()
    return seconds / WORKFLOWS


def dbos_lite_run(scratch, synchronous, run):
    DBOS(config={"name": "bench", "sqlite_synchronous": synchronous,
                 "system_database_url": f"sqlite:///{scratch.file(f'dbos-{synchronous}-{run}.sqlite')}"})
    _, many_steps, one_step = register_trivial_workflows()
    DBOS.launch()
    with SetWorkflowID("many"):
        per_step = timed(lambda: many_steps(STEPS)) / STEPS
    per_workflow = timed(lambda: [one_step(i) for i in range(WORKFLOWS)]) / WORKFLOWS
    DBOS.destroy(destroy_registry=True)
    return per_step, per_workflow


def main():
    rows = []
    with Scratch() as scratch:
        for synchronous in ("FULL", "NORMAL"):
            floors_s, floors_w, ours_s, ours_w = [], [], [], []
            for run in range(REPEATS):
                floors_s.append(floor_steps(scratch, synchronous, run))
                floors_w.append(floor_workflows(scratch, synchronous, run))
                step, workflow = dbos_lite_run(scratch, synchronous, run)
                ours_s.append(step)
                ours_w.append(workflow)
            fs, fw, os_, ow = best(floors_s), best(floors_w), best(ours_s), best(ours_w)
            rows.append((synchronous, "step (2,000 in one workflow)" if not QUICK else "step",
                         f"{fs * 1e6:.1f} us", f"{os_ * 1e6:.1f} us", f"{os_ / fs:.2f}x", "1.3x"))
            rows.append((synchronous, "one-step workflow", f"{fw * 1e6:.1f} us",
                         f"{ow * 1e6:.1f} us", f"{ow / fw:.2f}x", "1.5x"))
    print_table(f"Sequential latency (dbos_lite {dbos_lite.__version__}, best of {REPEATS})",
                ("synchronous", "unit", "floor", "dbos_lite", "ratio", "target"), rows)


if __name__ == "__main__":
    main()
