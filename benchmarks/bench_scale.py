"""Latency with a large journal: 1,000,000 finished workflows against an empty journal.

A journal is never pruned by dbos_lite, so it grows with every workflow run. This benchmark
checks that a big journal does not slow down new work:

1. Setup (not measured): a journal holding 1,000,000 finished workflows (quick: 50,000), each
   with one recorded step, written in one transaction with dbos_lite's own INSERT statements.
2. On that journal and on an empty one, with the same synchronous setting (NORMAL, then FULL;
   quick: NORMAL only), best of 3, alternating the two journals: a workflow of 1,000 trivial
   steps (time per step); 500 one-step workflows called directly (time per workflow), with the
   ids dbos_lite gives them (time-ordered UUIDs) and with increasing ids given by SetWorkflowID.
   Target: within 1.2x of the empty journal.
3. Also reported: DBOS.launch() (it opens the journal and looks for workflows to recover) and
   a list_workflows(status="PENDING") on each journal; the slowest step over one heartbeat
   period after launch (full run only); bytes of journal per recorded step and per one-step
   workflow (growth of page_count * page_size); the big journal's size after a checkpoint.

Usage: python benchmarks/bench_scale.py [--quick]
"""

import sys
import time
import uuid

from _common import (Scratch, apsw, best, bulk_insert, checkpoint, create_journal, file_bytes,
                     journal_bytes, print_table, register_trivial_workflows, timed)

import dbos_lite
from dbos_lite import DBOS, SetWorkflowID

QUICK = "--quick" in sys.argv
BIG = 50_000 if QUICK else 1_000_000
STEPS = 500 if QUICK else 1000
WORKFLOWS = 200 if QUICK else 500
REPEATS = 3
SYNCS = ("NORMAL",) if QUICK else ("NORMAL", "FULL")


def populate(path, count):
    """Setup, not measured: ``count`` finished workflows with one recorded step each, shaped as
    dbos_lite records them (JSON inputs and outputs; random uuid4 ids, as DBOS Transact gives, the
    harder case for the indexes), in one transaction."""
    create_journal(path)
    now = int(time.time() * 1000) - count
    executor = "setup-host-1234-0badcafe"  # the shape of a real executor_id
    workflow_ids = [(i, str(uuid.uuid4())) for i in range(count)]

    def workflows():
        for i, workflow_id in workflow_ids:
            yield dbos_lite._WorkflowRecord(
                workflow_id, "SUCCESS", "one_step", f'{{"args":[{i}],"kwargs":{{}}}}', str(i),
                None, executor, None, "", now + i, now + i, 1, 100, None, None, None, None, None)

    def operations():
        for i, workflow_id in workflow_ids:
            yield dbos_lite._OperationRecord(workflow_id, 1, "trivial", str(i), None, None,
                                            now + i, now + i)

    bulk_insert(path, workflows(), operations())
    checkpoint(path)


def register():
    trivial, many_steps, one_step = register_trivial_workflows()

    @DBOS.workflow()
    def steps_for(seconds: float) -> list[float]:
        """Steps one after the other for ``seconds``: the number of steps, the 99th percentile
        and the slowest step's latency (a measurement, never replayed)."""
        latencies, end = [], time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < end:
            start = time.perf_counter()
            trivial(i)
            latencies.append(time.perf_counter() - start)
            i += 1
        latencies.sort()
        return [len(latencies), latencies[int(len(latencies) * 0.99)], latencies[-1]]

    return many_steps, one_step, steps_for


def configure(path, synchronous):
    DBOS(config={"name": "bench", "sqlite_synchronous": synchronous,
                 "system_database_url": f"sqlite:///{path}"})


def measure(path, synchronous, run, sizes=None):
    """One run on one journal: launch time, time per step, time per one-step workflow (random
    uuid ids, as dbos_lite makes them, and increasing ids given with SetWorkflowID), time of a
    list_workflows that looks for PENDING workflows. With ``sizes`` (a dict), also the
    journal's growth per step and per workflow."""
    configure(path, synchronous)
    many_steps, one_step, _ = register()
    result = {"launch": timed(DBOS.launch)}
    before = journal_bytes(path) if sizes is not None else 0
    with SetWorkflowID(f"many-{synchronous}-{run}"):
        result["step"] = timed(lambda: many_steps(STEPS)) / STEPS
    middle = journal_bytes(path) if sizes is not None else 0
    result["workflow"] = timed(lambda: [one_step(i) for i in range(WORKFLOWS)]) / WORKFLOWS
    if sizes is not None:
        sizes["step"] = (middle - before) / STEPS
        sizes["workflow"] = (journal_bytes(path) - middle) / WORKFLOWS

    def ordered_ids():
        for i in range(WORKFLOWS):
            with SetWorkflowID(f"seq-{synchronous}-{run}-{i:08d}"):
                one_step(i)
    result["ordered"] = timed(ordered_ids) / WORKFLOWS
    result["list"] = timed(lambda: DBOS.list_workflows(
        status="PENDING", limit=10, load_input=False, load_output=False))
    DBOS.destroy(destroy_registry=True)
    return result


def worst_step(path, synchronous):
    """Step latencies over one heartbeat period after launch (the housekeeper renews the lease
    and looks for workflows to recover every HEARTBEAT_SEC): the slowest step and the 99th
    percentile."""
    configure(path, synchronous)
    _, _, steps_for = register()
    DBOS.launch()
    with SetWorkflowID(f"steps-for-{synchronous}"):
        count, p99, worst = steps_for(dbos_lite._HEARTBEAT_SEC + 1.5)
    DBOS.destroy(destroy_registry=True)
    return worst, p99, int(count)


def quick_check_seconds(path):
    """For reference: a raw PRAGMA quick_check of the file (not dbos_lite)."""
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    seconds = timed(lambda: conn.execute("PRAGMA quick_check(5)").fetchall())
    conn.close()
    return seconds


def main():
    started = time.perf_counter()
    rows, size_rows, stall_rows = [], [], []
    label = f"{BIG:,}"
    with Scratch() as scratch:
        big = scratch.file("big.sqlite")
        setup = timed(lambda: populate(big, BIG))
        big_size = file_bytes(big)
        print(f"setup: {BIG:,} finished workflows written in {setup:.1f} s; journal "
              f"{big_size / 1e6:,.1f} MB ({big_size / BIG:,.0f} bytes per workflow with its step)")
        for synchronous in SYNCS:
            results = {"empty": [], "big": []}
            sizes = {"empty": {}, "big": {}}
            for run in range(REPEATS):
                empty = scratch.file(f"empty-{synchronous}-{run}.sqlite")
                create_journal(empty)
                for kind, path in (("empty", empty), ("big", big)):
                    results[kind].append(measure(path, synchronous, run,
                                                 sizes[kind] if run == 0 else None))
            e, b = ({key: best(r[key] for r in results[kind]) for key in results[kind][0]}
                    for kind in ("empty", "big"))
            for key, unit, scale, suffix, target in (
                    ("step", f"step ({STEPS:,} in one workflow)", 1e6, "us", "1.2x"),
                    ("workflow", "one-step workflow (default ids)", 1e6, "us", "1.2x"),
                    ("ordered", "one-step workflow (increasing ids)", 1e6, "us", "1.2x"),
                    ("launch", "DBOS.launch()", 1e3, "ms", "-"),
                    ("list", "list_workflows(status=PENDING, limit=10)", 1e3, "ms", "-")):
                rows.append((synchronous, unit, f"{e[key] * scale:.1f} {suffix}",
                             f"{b[key] * scale:.1f} {suffix}", f"{b[key] / e[key]:.2f}x",
                             target))
            if synchronous == SYNCS[0]:
                for kind in ("empty", "big"):
                    size_rows.append((kind, f"{sizes[kind]['step']:,.0f}",
                                      f"{sizes[kind]['workflow']:,.0f}"))
        if not QUICK:
            empty = scratch.file("empty-stall.sqlite")
            create_journal(empty)
            for kind, path in (("empty", empty), ("big", big)):
                worst, p99, count = worst_step(path, "NORMAL")
                stall_rows.append((kind, f"{count:,}", f"{p99 * 1e6:.0f} us",
                                   f"{worst * 1e3:.1f} ms"))
        quick_check = quick_check_seconds(big)
        checkpoint(big)
        big_size = file_bytes(big)
    print_table(f"Latency with {label} finished workflows in the journal vs an empty journal "
                f"(dbos_lite {dbos_lite.__version__}, best of {REPEATS})",
                ("synchronous", "unit", "empty journal", f"{label} workflows", "ratio",
                 "target"), rows)
    print(f"(for reference: a raw PRAGMA quick_check(5) of the {label}-workflow journal takes "
          f"{quick_check * 1e3:.0f} ms)")
    if stall_rows:
        print_table(f"Steps one after the other for {dbos_lite._HEARTBEAT_SEC + 1.5:g} s after "
                    "launch, covering one heartbeat (NORMAL)",
                    ("journal", "steps", "p99 step", "slowest step"), stall_rows)
    print_table("Journal growth (page_count * page_size; a page is 4,096 bytes, so a single "
                "measurement is +/- 4,096 / count)",
                ("journal", f"bytes per step ({STEPS:,}-step workflow)",
                 "bytes per one-step workflow"), size_rows)
    print(f"\nJournal with {label} finished workflows (+ the benchmark's own) after a "
          f"checkpoint: {big_size / 1e6:,.1f} MB on disk, {big_size / BIG:,.0f} bytes per "
          f"workflow.")
    print(f"Total time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
