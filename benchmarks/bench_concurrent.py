"""Concurrent throughput: 200 workflows of 5 steps started together with start_workflow.

Two yardsticks, measured in the same run. The floor is one INSERT + COMMIT per step, one after
the other, at the same synchronous setting: what recording each step in its own transaction
costs. dbos_lite's group commit lets the threads that record at the same moment share one
transaction (one fsync), so under FULL concurrent workflows should record steps faster than
that floor wherever an fsync costs more than dbos_lite's Python per step (the fsync cost of the
run is printed). And dbos_lite's own sequential rate: the same 200 workflows called one after
another in one thread; running them concurrently must never be slower than that. Reported in
steps per second (dbos_lite also records each workflow's start and finish).

Under NORMAL, where threads take turns running dbos_lite's code (the baton, in dbos_lite.py),
the concurrent runs are also made with the baton switched off: whether taking turns pays
depends on the machine (what waking a thread costs against the work between two wake-ups).

Then the same 200 workflows with two steps that wait 5 ms each (a request over the network),
under NORMAL: against the same run with the baton switched off, taking turns must not make
them slower.

Last, the same 200 workflows started and awaited one at a time
(``DBOS.start_workflow(...).get_result()``, each run by the thread that awaits it), against
calling them: what going through a handle costs.

Usage: python benchmarks/bench_concurrent.py [--quick]
"""

import contextlib
import sys
import threading

from _common import Scratch, commit_insert, floor_connection, fsync_cost_us, print_table, timed

import time

import dbos_lite
from dbos_lite import DBOS

QUICK = "--quick" in sys.argv
WORKFLOWS = 50 if QUICK else 200
STEPS = 5
REPEATS = 1 if QUICK else 5


def floor_rate(scratch, synchronous, run):
    conn = floor_connection(scratch.file(f"floor-{synchronous}-{run}.sqlite"), synchronous)
    n = WORKFLOWS * STEPS
    seconds = timed(lambda: [commit_insert(conn, f"w{i // STEPS}", i % STEPS) for i in range(n)])
    conn.close()
    return n / seconds


@contextlib.contextmanager
def baton(on):
    """``on`` False: threads never take turns (the baton patched off) inside the block."""
    turn_on = dbos_lite._Baton.turn_on
    if not on:
        dbos_lite._Baton.turn_on = lambda self, active: turn_on(self, False)
    try:
        yield
    finally:
        dbos_lite._Baton.turn_on = turn_on


def dbos_lite_rate(scratch, synchronous, run, starters, taking_turns=True):
    """Steps/s with the workflows started by ``starters`` threads (each starts its share in a
    loop, then waits for its handles); ``starters`` 0: called one after another in one
    thread; "awaiting": each started and awaited in turn, in one thread. ``taking_turns``
    False: with the baton off."""
    with baton(taking_turns):
        return _dbos_lite_rate(scratch, synchronous, f"{run}-{taking_turns}", starters)


def _dbos_lite_rate(scratch, synchronous, run, starters):
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
        if starters == 0:
            for _ in range(WORKFLOWS):
                five_steps()
            return
        if starters == "awaiting":
            for _ in range(WORKFLOWS):
                DBOS.start_workflow(five_steps).get_result()
            return
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


def waiting_rate(scratch, run, taking_turns):
    """Workflows/s for WORKFLOWS workflows whose steps wait on I/O, started together under
    NORMAL; ``taking_turns`` False: with the baton off."""
    with baton(taking_turns):
        DBOS(config={"name": "bench", "sqlite_synchronous": "NORMAL", "system_database_url":
                     f"sqlite:///{scratch.file(f'waiting-{run}-{taking_turns}.sqlite')}"})

        @DBOS.step()
        def request(i: int) -> int:
            time.sleep(0.005)
            return i

        @DBOS.step()
        def trivial(i: int) -> int:
            return i

        @DBOS.workflow()
        def two_requests(i: int) -> int:
            return request(i) + sum(trivial(j) for j in range(3)) + request(i)

        DBOS.launch()

        def run_all():
            handles = [DBOS.start_workflow(two_requests, i) for i in range(WORKFLOWS)]
            for handle in handles:
                handle.get_result()

        seconds = timed(run_all)
        DBOS.destroy(destroy_registry=True)
    return WORKFLOWS / seconds


def main():
    rows, one_at_a_time = [], []
    with Scratch() as scratch:
        fsync = fsync_cost_us(scratch)
        for synchronous in ("FULL", "NORMAL"):
            rates = {"floor": [], 0: [], 1: [], 4: [], "off 1": [], "off 4": [],
                     "awaiting": []}
            for run in range(REPEATS):
                rates["floor"].append(floor_rate(scratch, synchronous, run))
                for starters in (0, 1, 4, "awaiting"):
                    rates[starters].append(dbos_lite_rate(scratch, synchronous, run, starters))
                    if synchronous == "NORMAL" and starters in (1, 4):
                        rates[f"off {starters}"].append(
                            dbos_lite_rate(scratch, synchronous, run, starters, False))
            floor, sequential = max(rates["floor"]), max(rates[0])
            for starters in (1, 4):
                rate = max(rates[starters])
                rows.append((synchronous, starters, f"{floor:,.0f}", f"{sequential:,.0f}",
                             f"{rate:,.0f}", f"{rate / floor:.2f}x",
                             "1.5x" if synchronous == "FULL" else "-",
                             f"{rate / sequential:.2f}x", "1.0x"))
            awaiting = max(rates["awaiting"])
            one_at_a_time.append((synchronous, f"{sequential:,.0f}", f"{awaiting:,.0f}",
                                  f"{awaiting / sequential:.2f}x"))
            if synchronous == "NORMAL":
                turns = [(starters, f"{max(rates[starters]):,.0f}",
                          f"{max(rates[f'off {starters}']):,.0f}",
                          f"{max(rates[starters]) / max(rates[f'off {starters}']):.2f}x")
                         for starters in (1, 4)]
        waiting = {True: [], False: []}
        for run in range(REPEATS):
            for baton in (True, False):
                waiting[baton].append(waiting_rate(scratch, run, baton))
    print_table(f"Concurrent throughput: {WORKFLOWS} workflows x {STEPS} steps started together "
                f"(steps/s, best of {REPEATS}; fsync costs {fsync:.0f} us here; sequential: "
                "dbos_lite calling the same workflows one after another)",
                ("synchronous", "starters", "floor", "dbos_lite sequential",
                 "dbos_lite concurrent", "vs floor", "target", "vs sequential", "target"), rows)
    print_table(f"The same under NORMAL, with threads taking turns (the baton, as dbos_lite "
                f"chooses) and never (steps/s, best of {REPEATS})",
                ("starters", "taking turns", "never", "ratio"), turns)
    on, off = max(waiting[True]), max(waiting[False])
    print_table(f"Workflows whose two steps wait 5 ms each, {WORKFLOWS} started together, NORMAL "
                f"(workflows/s, best of {REPEATS})",
                ("threads take turns", "never", "ratio", "target"),
                [(f"{on:,.0f}", f"{off:,.0f}", f"{on / off:.2f}x", "1.0x")])
    print_table(f"The same {WORKFLOWS} workflows started and awaited one at a time, against "
                f"calling them (steps/s, best of {REPEATS})",
                ("synchronous", "called", "started and awaited", "ratio"), one_at_a_time)


if __name__ == "__main__":
    main()
