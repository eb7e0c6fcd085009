"""Cron schedules: what computing the next fire time costs, how late an every-second schedule
starts its runs, and what schedules cost while nothing is due.

The next fire time is timed against croniter (the parser DBOS Transact uses), when installed,
for an every-second schedule in a zone with daylight saving time and for one that fires on
Feb 29 or a Monday in February (a walk that must jump over most of a year).

Lateness is the start of the workflow's body (time.time() in the process that runs it) minus
its scheduled_time, over FIRES consecutive fires of `* * * * * *`: with one process, and with
three processes on one journal that all fire the schedule (each time must run once; the
benchmark checks it). The floor is one INSERT committed with apsw at the same synchronous
setting: the least a fire writes before its run can start.

Idle CPU is the CPU time of a whole process (time.process_time, every thread) per second of
wall time, over a window between two fires, with its scheduler's and housekeeper's threads
apart: three twin processes, one with no schedule (the housekeeper alone, which looks at the
journal every polling interval), one with a schedule that fires once a minute (`0 * * * * *`)
and one with 100 such, measured over the same seconds, since what the housekeeper costs moves
with the load of the machine from one minute to the next. One fire of the 100 (100 runs created,
started and finished in the process) is the CPU the busy twin spends around a minute boundary
beyond its idle twin; its floor is the same rows written with apsw (the 100 runs inserted in
one commit, then a start and a finish commit each). With DBOS Transact installed, its lateness
for the same schedule on SQLite is measured too, in the same run.

Usage: python benchmarks/bench_schedule.py [--quick] [--dbos-python PATH]
  --dbos-python: an interpreter that has DBOS Transact installed (default: this one if it has
  it, else the project's .venv-compat made by `make compat`, else DBOS Transact is left out)
"""

import datetime
import json
import os
import statistics
import subprocess
import sys
import time

from _common import ROOT, Scratch, commit_insert, floor_connection, fsync_cost_us, print_table

QUICK = "--quick" in sys.argv
FIRES = 3 if QUICK else 60  # fires measured for lateness
SCHEDULES = 100
IDLE_CRON = "*/2 * * * * *" if QUICK else "0 * * * * *"  # the 100 schedules
IDLE_PERIOD = 2 if QUICK else 60  # seconds between their fires
IDLE_WINDOW = 0.6 if QUICK else 25.0  # seconds of idle measured, after a fire
FIRE_LEAD, FIRE_SETTLE = (0.3, 0.8) if QUICK else (0.5, 2.0)  # a fire's window around its time
HERE = os.path.dirname(os.path.abspath(__file__))


def percentile(samples, fraction):
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, round(len(ordered) * fraction) - 1))]


def sleep_until(epoch):
    while True:
        left = epoch - time.time()
        if left <= 0:
            return
        time.sleep(min(left, 1.0))


# -- floors: the same writes with apsw --

def floor_commit_ms(path, synchronous, samples=200):
    conn = floor_connection(path, synchronous)
    costs = []
    for i in range(samples):
        start = time.perf_counter()
        commit_insert(conn, f"w{i}", 1)
        costs.append((time.perf_counter() - start) * 1000)
    conn.close()
    return statistics.median(costs)


def floor_fire_cpu_ms(path, synchronous, runs=SCHEDULES, repeats=5):
    """CPU of writing one fire's rows: runs inserted in one commit, a start and a finish
    commit each."""
    import apsw

    conn = apsw.Connection(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = " + synchronous)
    conn.execute("CREATE TABLE wf (id TEXT PRIMARY KEY, status TEXT, inputs TEXT, output TEXT)")
    costs = []
    for repeat in range(repeats):
        ids = [f"sched-s{i}-{repeat}" for i in range(runs)]
        start = time.process_time()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO wf VALUES (?, 'ENQUEUED', '[\"2026-01-01\", null]', NULL)",
                         ((i,) for i in ids))
        conn.execute("COMMIT")
        for workflow_id in ids:
            for sql in ("UPDATE wf SET status = 'PENDING' WHERE id = ?",
                        "UPDATE wf SET status = 'SUCCESS', output = 'null' WHERE id = ?"):
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(sql, (workflow_id,))
                conn.execute("COMMIT")
        costs.append((time.process_time() - start) * 1000)
    conn.close()
    return statistics.median(costs)


# -- lateness: programs that each fire the schedule; run in subprocesses --

def lateness_program(engine, journal, first, count, stop):
    """Fire `* * * * * *` and record, for the times in [first, first + count), the lateness
    of each run this process starts; print them as JSON at ``stop`` (epoch seconds)."""
    if engine == "dbos_lite":
        sys.path.insert(0, ROOT)
        from dbos_lite import DBOS

        DBOS(config={"name": "bench-schedule", "system_database_url": f"sqlite:///{journal}"})
    else:
        import logging

        logging.disable(logging.CRITICAL)
        from dbos import DBOS

        DBOS(config={"name": "bench-schedule", "system_database_url": f"sqlite:///{journal}",
                     "run_admin_server": False})
    late = {}

    @DBOS.workflow()
    def tick(scheduled_time: datetime.datetime, context: object) -> None:
        started = time.time()
        if first <= scheduled_time.timestamp() < first + count:
            late[scheduled_time.isoformat()] = (started - scheduled_time.timestamp()) * 1000

    DBOS.launch()
    if engine == "dbos_lite":  # an upsert: every process may declare it
        DBOS.apply_schedules([{"schedule_name": "tick", "workflow_fn": tick,
                               "schedule": "* * * * * *"}])
    else:
        DBOS.create_schedule(schedule_name="tick", workflow_fn=tick, schedule="* * * * * *")
    sleep_until(stop)
    print(json.dumps(late))
    sys.stdout.flush()
    DBOS.destroy()


def lateness(scratch, name, processes, engine="dbos_lite", python=sys.executable, slack=1.0):
    """(median ms, p99 ms, runs, distinct times) over FIRES fires of every process."""
    journal = scratch.file(f"{name}.sqlite")
    if processes > 1:  # the journal exists before they race to create it
        from _common import create_journal

        create_journal(journal)
    startup = (1.0 if QUICK else 3.0) if engine == "dbos_lite" else 6.0
    first = int(time.time() + startup) + 1
    stop = first + FIRES + slack
    programs = [subprocess.Popen([python, os.path.abspath(__file__), "--lateness", engine,
                                  journal, str(first), str(FIRES), str(stop)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(processes)]
    runs = []
    for program in programs:
        out, err = program.communicate(timeout=FIRES + 120)
        if program.returncode != 0:
            raise SystemExit(f"the {engine} lateness program failed:\n{err[-3000:]}")
        runs.append(json.loads(out.strip().splitlines()[-1]))
    samples = [ms for run in runs for ms in run.values()]
    times = {t for run in runs for t in run}
    if not samples:
        raise SystemExit(f"no run of the schedule started on {engine}")
    return statistics.median(samples), percentile(samples, 0.99), len(samples), len(times)


def dbos_python():
    """An interpreter with DBOS Transact, or None."""
    if "--dbos-python" in sys.argv:
        return sys.argv[sys.argv.index("--dbos-python") + 1]
    for python in (sys.executable, os.path.join(ROOT, ".venv-compat", "bin", "python")):
        if os.path.exists(python) and subprocess.run(
                [python, "-c", "import dbos"], capture_output=True).returncode == 0:
            return python
    return None


# -- idle CPU: twin processes measured over the same windows, with 0, 1 and 100 schedules --

def thread_cpu(name):
    """CPU seconds of this process's thread called ``name`` (0.0 if none, or not measurable
    on this platform)."""
    import threading

    for thread in threading.enumerate():
        if thread.name == name and hasattr(time, "pthread_getcpuclockid"):
            return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return 0.0


def idle_program(journal, schedules, boundary, result_path):
    """With ``schedules`` schedules firing at ``boundary`` (epoch seconds) and every
    IDLE_PERIOD after: the CPU of the process (and of its scheduler and housekeeper threads)
    around that fire, and over the idle window after it."""
    sys.path.insert(0, ROOT)
    from dbos_lite import DBOS

    DBOS(config={"name": "bench-idle", "system_database_url": f"sqlite:///{journal}"})

    @DBOS.workflow()
    def noop(scheduled_time: datetime.datetime, context: object) -> None:
        pass

    def cpu_ms():
        return [time.process_time() * 1000, thread_cpu("dbos_lite-schedules") * 1000,
                thread_cpu("dbos_lite-housekeeper") * 1000]

    DBOS.launch()
    if schedules:
        DBOS.apply_schedules([{"schedule_name": f"s{i}", "workflow_fn": noop,
                               "schedule": IDLE_CRON} for i in range(schedules)])
    sleep_until(boundary - FIRE_LEAD)
    before = cpu_ms()
    sleep_until(boundary + FIRE_SETTLE)
    fire = [b - a for a, b in zip(before, cpu_ms())]
    sleep_until(boundary + FIRE_SETTLE + 0.2)
    before, wall = cpu_ms(), time.perf_counter()
    sleep_until(boundary + FIRE_SETTLE + 0.2 + IDLE_WINDOW)
    seconds = time.perf_counter() - wall
    idle = [(b - a) / seconds for a, b in zip(before, cpu_ms())]
    when = datetime.datetime.fromtimestamp(boundary, datetime.timezone.utc).isoformat()
    done = sum(1 for i in range(schedules)
               if (status := DBOS.get_workflow_status(f"sched-s{i}-{when}")) is not None
               and status.status == "SUCCESS")
    with open(result_path, "w") as f:
        json.dump({"fire": fire, "idle": idle, "done": done}, f)
    DBOS.destroy()


def idle(scratch):
    """The twins' results: with no schedule, with one, with SCHEDULES."""
    boundary = (int(time.time() + 3.0) // IDLE_PERIOD + 1) * IDLE_PERIOD
    twins = [(scratch.file(f"idle-{n}.json"), subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--idle", scratch.file(f"idle-{n}.sqlite"),
         str(n), str(boundary), scratch.file(f"idle-{n}.json"), *(["--quick"] if QUICK else [])]))
        for n in (0, 1, SCHEDULES)]
    results = []
    for path, twin in twins:
        if twin.wait(timeout=IDLE_PERIOD * 2 + 60) != 0:
            raise SystemExit("the idle CPU program failed (its error is above)")
        with open(path) as f:
            results.append(json.load(f))
    return results


def next_fire_cost_us(expression, start, calls):
    """Microseconds per next fire time, walking `calls` fires from `start`: dbos_lite's cron
    parser, and croniter's (what DBOS Transact uses) when it is installed, in the same run."""
    import dbos_lite

    cron, moment = dbos_lite._parse_cron(expression), start
    began = time.perf_counter()
    for _ in range(calls):
        moment = cron.next_after(moment)
    ours = (time.perf_counter() - began) / calls * 1e6
    try:
        from croniter import croniter
    except ImportError:
        return ours, None
    walk = croniter(expression, start, second_at_beginning=True)  # as DBOS Transact calls it
    began = time.perf_counter()
    for _ in range(calls):
        walk.get_next(datetime.datetime)
    return ours, (time.perf_counter() - began) / calls * 1e6


def print_next_fire_costs():
    from zoneinfo import ZoneInfo

    rows = []
    for expression, zone, calls in (("* * * * * *", "America/New_York", 10_000),
                                    ("0 0 0 29 2 1", "UTC", 200)):
        start = datetime.datetime(2024, 1, 1, tzinfo=ZoneInfo(zone))
        ours, theirs = next_fire_cost_us(expression, start, calls)
        rows.append((f"`{expression}` in {zone}", f"{ours:.1f}",
                     "-" if theirs is None else f"{theirs:.1f}",
                     "-" if theirs is None else f"{ours / theirs:.2f}x"))
    print_table("Next fire time: us per call, over a walk of 10,000 fires (200 for the rare one)",
                ("schedule", "dbos_lite", "croniter", "ratio"), rows)


def main():
    print_next_fire_costs()
    python = dbos_python()
    with Scratch() as scratch:
        fsync = fsync_cost_us(scratch)
        commit_ms = floor_commit_ms(scratch.file("floor-commit.sqlite"), "FULL")
        fire_floor = floor_fire_cpu_ms(scratch.file("floor-fire.sqlite"), "FULL")
        one = lateness(scratch, "one", 1)
        three = lateness(scratch, "three", 3)
        theirs = lateness(scratch, "dbos", 1, "dbos", python, slack=4.0) if python else None
        cpu = idle(scratch)
    rows = []
    for label, result, target in (("dbos_lite, 1 process", one, "median < 20 ms"),
                                  ("dbos_lite, 3 processes", three, "-"),
                                  ("DBOS Transact 3.4, 1 process", theirs, "-")):
        if result is None:
            continue
        median, p99, runs, times = result
        rows.append((label, f"{median:.2f}", f"{p99:.2f}", f"{median / commit_ms:.1f}x",
                     f"{runs} runs of {times} times", target))
    print_table(f"Lateness of `* * * * * *` over {FIRES} fires (body start - scheduled_time; "
                f"synchronous FULL; floor: one INSERT committed with apsw, {commit_ms:.2f} ms; "
                f"fsync costs {fsync:.0f} us here)",
                ("engine", "median ms", "p99 ms", "median / floor", "each time once", "target"),
                rows)
    if python is None:
        print("DBOS Transact: not installed here (pip install dbos, or pass --dbos-python).")
    alone, single, busy = cpu

    def row(label, twin):
        return (label, f"{twin['idle'][0]:.3f}", f"{twin['idle'][1]:.3f}" if twin is not alone
                else "-", f"{twin['idle'][2]:.3f}")

    print_table(f"Idle CPU, three dbos_lite processes measured over the same {IDLE_WINDOW:.1f} s "
                f"after a fire (CPU ms per second of wall time)",
                ("process", "whole process", "scheduler thread", "housekeeper thread"),
                [row("no schedule", alone), row(f"1 schedule `{IDLE_CRON}`", single),
                 row(f"{SCHEDULES} schedules `{IDLE_CRON}`", busy),
                 (f"{SCHEDULES} schedules - 1 (target: no measurable difference)",
                  f"{busy['idle'][0] - single['idle'][0]:+.3f}",
                  f"{busy['idle'][1] - single['idle'][1]:+.3f}",
                  f"{busy['idle'][2] - single['idle'][2]:+.3f}"),
                 (f"{SCHEDULES} schedules - none", f"{busy['idle'][0] - alone['idle'][0]:+.3f}",
                  "", f"{busy['idle'][2] - alone['idle'][2]:+.3f}")])
    fire_ms = busy["fire"][0] - alone["fire"][0]
    print(f"\nOne fire of {SCHEDULES} schedules ({busy['done']} of {SCHEDULES} runs finished "
          f"within {FIRE_SETTLE:.1f} s): {fire_ms:.1f} CPU ms more than its twin over "
          f"{FIRE_LEAD + FIRE_SETTLE:.1f} s around it (of which the scheduler thread "
          f"{busy['fire'][1]:.1f} ms); floor (the same rows written with apsw): "
          f"{fire_floor:.1f} CPU ms, ratio {fire_ms / fire_floor:.1f}x")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--lateness"]:
        lateness_program(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
                         float(sys.argv[6]))
    elif sys.argv[1:2] == ["--idle"]:
        idle_program(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        main()
