"""Concurrent throughput: 200 workflows of 5 steps started together with start_workflow.

The floor is one INSERT + COMMIT per step, one after the other, at the same synchronous
setting: what recording each step in its own transaction costs. dbos_lite's group commit lets
the threads that record at the same moment share one transaction (one fsync), so concurrent
workflows should record steps faster than that floor. Reported in steps per second.

Usage: python benchmarks/bench_concurrent.py [--quick]
"""

import sys
import threading

from _common import Scratch, best, commit_insert, floor_connection, print_table, timed

from dbos_lite import DBOS

QUICK = "--quick" in sys.argv
WORKFLOWS = 50 if QUICK else 200
STEPS = 5
REPEATS = 1 if QUICK else 3


def floor_rate(scratch, synchronous, run):
    conn = floor_connection(scratch.file(f"floor-{synchronous}-{run}.sqlite"), synchronous)
    n = WORKFLOWS * STEPS
    seconds = timed(lambda: [commit_insert(conn, f"w{i // STEPS}", i % STEPS) for i in range(n)])
    conn.close()
    return n / seconds


def dbos_lite_rate(scratch, synchronous, run, starters=1):
    """Steps/s with the workflows started by ``starters`` threads (each starts its share in a
    loop, then waits for its handles)."""
    DBOS(config={"name": "bench", "sqlite_synchronous": synchronous,
                 "system_database_url":
                 f"sqlite:///{scratch.file(f'dbos-{synchronous}-{run}-{starters}.sqlite')}"})

    @DBOS.step()
    def trivial(i: int) -> int:
        return i

    @DBOS.workflow()
    def five_steps() -> int:
        return sum(trivial(i) for i in range(STEPS))

    DBOS.launch()

    def start_and_wait(count):
        handles = [DBOS.start_workflow(five_steps) for _ in range(count)]
        for handle in handles:
            handle.get_result()

    def run_all():
        threads = [threading.Thread(target=start_and_wait, args=(WORKFLOWS // starters,))
                   for _ in range(starters - 1)]
        for thread in threads:
            thread.start()
        start_and_wait(WORKFLOWS - (starters - 1) * (WORKFLOWS // starters))
        for thread in threads:
            thread.join()

    seconds = timed(run_all)
    DBOS.destroy(destroy_registry=True)
    return WORKFLOWS * STEPS / seconds


def main():
    rows = []
    with Scratch() as scratch:
        for synchronous in ("FULL", "NORMAL"):
            floors, ours, ours_4 = [], [], []
            for run in range(REPEATS):
                floors.append(floor_rate(scratch, synchronous, run))
                ours.append(dbos_lite_rate(scratch, synchronous, run))
                ours_4.append(dbos_lite_rate(scratch, synchronous, run, starters=4))
            floor, rate, rate_4 = max(floors), max(ours), max(ours_4)
            target = "1.5x" if synchronous == "FULL" else "-"
            rows.append((synchronous, f"{floor:,.0f}", f"{rate:,.0f}", f"{rate / floor:.2f}x",
                         target, f"{rate_4:,.0f}", f"{rate_4 / floor:.2f}x"))
    print_table(f"Concurrent throughput: {WORKFLOWS} workflows x {STEPS} steps started together "
                f"(steps/s, best of {REPEATS}; dbos_lite counts workflow starts and finishes "
                "as extra work; the last two columns: started from 4 threads instead of 1)",
                ("synchronous", "floor steps/s", "dbos_lite steps/s", "ratio", "target",
                 "4 starters", "ratio"), rows)


if __name__ == "__main__":
    main()
