"""Queue throughput and latency: N one-step workflows enqueued, then drained by workers.

The floor is the same work done with apsw in the same run, one workflow after another: an
enqueue INSERT, a claim UPDATE, a step INSERT and a finish UPDATE, each committed on its own
(four commits per workflow), at the same synchronous setting. dbos_lite drains with
worker_concurrency 1, 8 and 32 in one process, and with 8 in each of two processes. Latency is
the time from the start of Queue.enqueue() to the start of the workflow's body in the enqueuing
process, one workflow at a time, with the enqueuing thread then waiting for the result or
blocking in its own code (under NORMAL, where threads take turns, the two differ). With DBOS
Transact installed (``pip install dbos``), the same drain runs on it too, with fewer workflows
(it dispatches on a one-second poll).

Usage: python benchmarks/bench_queue.py [--quick]
"""

import os
import statistics
import subprocess
import sys
import time

from _common import Scratch, fsync_cost_us, print_table, timed

QUICK = "--quick" in sys.argv
N = 300 if QUICK else 5000
DBOS_N = 100 if QUICK else 300
LATENCY_SAMPLES = 50 if QUICK else 300
HERE = os.path.dirname(os.path.abspath(__file__))


def floor_rate(path, synchronous):
    import apsw

    conn = apsw.Connection(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = " + synchronous)
    conn.execute("CREATE TABLE wf (id TEXT PRIMARY KEY, status TEXT, inputs TEXT, output TEXT,"
                 " queue TEXT, created INTEGER, started INTEGER)")
    conn.execute("CREATE TABLE steps (id TEXT, function_id INTEGER, output TEXT,"
                 " PRIMARY KEY (id, function_id))")

    def commit(sql, args):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(sql, args)
        conn.execute("COMMIT")

    def run():
        for i in range(N):
            commit("INSERT INTO wf VALUES (?, 'ENQUEUED', '[1]', NULL, 'q', ?, NULL)",
                   (f"w{i}", i))
        for i in range(N):
            commit("UPDATE wf SET status = 'PENDING', started = ? WHERE id = ?", (i, f"w{i}"))
            commit("INSERT INTO steps VALUES (?, 1, '1')", (f"w{i}",))
            commit("UPDATE wf SET status = 'SUCCESS', output = '1' WHERE id = ?", (f"w{i}",))

    seconds = timed(run)
    conn.close()
    return N / seconds


# -- the dbos_lite program: enqueue N, or work the queue until N have succeeded --

def program(journal, synchronous, mode, count, concurrency):
    """Runs in a subprocess: mode "enqueue" fills the queue (working none), mode "drain"
    works it and prints the seconds from the end of its launch to the last success."""
    sys.path.insert(0, os.path.dirname(HERE))
    from dbos_lite import DBOS, SetWorkflowID

    DBOS(config={"name": "bench", "sqlite_synchronous": synchronous,
                 "system_database_url": f"sqlite:///{journal}",
                 "notification_listener_polling_interval_sec": 0.01})

    @DBOS.step()
    def one(i: int) -> int:
        return i

    @DBOS.workflow()
    def job(i: int) -> int:
        return one(i)

    queue = DBOS.register_queue("bench", worker_concurrency=concurrency,
                                polling_interval_sec=0.05)
    if mode == "enqueue":
        DBOS.listen_queues([])
    DBOS.launch()
    if mode == "enqueue":
        for i in range(count):
            with SetWorkflowID(f"job-{i}"):
                queue.enqueue(job, i)
    else:
        launched = time.time()
        for i in range(count):  # waits on commits, not on a poll
            DBOS.retrieve_workflow(f"job-{i}").get_result()
        print(launched, time.time())
    DBOS.destroy()


def run_program(*args):
    return subprocess.run([sys.executable, __file__, "--program", *map(str, args)],
                          check=True, capture_output=True, text=True).stdout


def drain_rate(scratch, synchronous, concurrency, processes, name):
    journal = scratch.file(f"{name}.sqlite")
    run_program(journal, synchronous, "enqueue", N, concurrency)
    workers = [subprocess.Popen([sys.executable, __file__, "--program", journal, synchronous,
                                 "drain", str(N), str(concurrency)],
                                stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    times = [tuple(map(float, worker.communicate()[0].split())) for worker in workers]
    return N / (max(end for _, end in times) - min(start for start, _ in times))


def latency_ms(scratch, synchronous, blocks):
    """Median and p99 of enqueue-to-body-start in the enqueuing process, which then waits for
    the result, or (``blocks``) blocks in its own code until the body has begun, as a server
    answering a request would."""
    import threading

    sys.path.insert(0, os.path.dirname(HERE))
    from dbos_lite import DBOS

    name = f"latency-{synchronous}-{blocks}.sqlite"
    DBOS(config={"name": "bench", "sqlite_synchronous": synchronous,
                 "system_database_url": f"sqlite:///{scratch.file(name)}"})
    started = {}
    began = threading.Event()

    @DBOS.workflow()
    def job(i: int) -> int:
        started[i] = time.perf_counter()
        began.set()
        return i

    DBOS.launch()
    queue = DBOS.register_queue("latency", worker_concurrency=8)
    samples = []
    for i in range(LATENCY_SAMPLES):
        began.clear()
        before = time.perf_counter()
        handle = queue.enqueue(job, i)
        if blocks:
            began.wait(5)
        handle.get_result()
        samples.append((started[i] - before) * 1000)
    DBOS.destroy(destroy_registry=True)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def dbos_transact_rate(scratch):
    """The drain on DBOS Transact (if installed), in a program of its own; None if absent."""
    try:
        import dbos  # noqa: F401
    except ImportError:
        return None
    output = subprocess.run([sys.executable, __file__, "--dbos", scratch.file("dbos.sqlite"),
                             str(DBOS_N)], capture_output=True, text=True, timeout=600)
    return float(output.stdout.split()[-1]) if output.returncode == 0 else None


def dbos_program(journal, count):
    from dbos import DBOS

    DBOS(config={"name": "bench-dbos", "system_database_url": f"sqlite:///{journal}"})

    @DBOS.step()
    def one(i: int) -> int:
        return i

    @DBOS.workflow()
    def job(i: int) -> int:
        return one(i)

    DBOS.launch()
    queue = DBOS.register_queue("bench", worker_concurrency=8)
    start = time.time()
    handles = [queue.enqueue(job, i) for i in range(count)]
    for handle in handles:
        handle.get_result()
    print(count / (time.time() - start))
    DBOS.destroy()


def main():
    rows = []
    with Scratch() as scratch:
        fsync = fsync_cost_us(scratch)
        for synchronous in ("FULL", "NORMAL"):
            floor = floor_rate(scratch.file(f"floor-{synchronous}.sqlite"), synchronous)
            rates = {}
            for concurrency, processes in ((1, 1), (8, 1), (32, 1), (8, 2)):
                rates[(concurrency, processes)] = drain_rate(
                    scratch, synchronous, concurrency, processes,
                    f"{synchronous}-{concurrency}-{processes}")
            for (concurrency, processes), rate in rates.items():
                target = "1.0x" if (concurrency, processes, synchronous) == (8, 1, "FULL") \
                    else "-"
                rows.append((synchronous, concurrency, processes, f"{floor:,.0f}",
                             f"{rate:,.0f}", f"{rate / floor:.2f}x", target))
            rows.append((synchronous, "8 vs 1", 1, "", "",
                         f"{rates[(8, 1)] / rates[(1, 1)]:.2f}x", ">= 1.0x"))
        latencies = {(synchronous, blocks): latency_ms(scratch, synchronous, blocks)
                     for synchronous in ("FULL", "NORMAL") for blocks in (False, True)}
        on_dbos = dbos_transact_rate(scratch)
    print_table(f"Queue drain: {N} one-step workflows enqueued, then drained (workflows/s; "
                f"floor: 4 commits per workflow with apsw; fsync costs {fsync:.0f} us here)",
                ("synchronous", "worker_concurrency", "processes", "floor wf/s",
                 "dbos_lite wf/s", "ratio", "target"), rows)
    print("\nEnqueue to start in the enqueuing process (target: median under 2 ms under FULL):")
    for (synchronous, blocks), (median, p99) in latencies.items():
        then = "then blocks in its own code" if blocks else "then waits for the result"
        print(f"  {synchronous:6s} {then:28s} median {median:.2f} ms, p99 {p99:.2f} ms")
    if on_dbos is None:
        print("DBOS Transact: not installed here (pip install dbos to compare).")
    else:
        print(f"DBOS Transact 3.4 on SQLite, {DBOS_N} workflows, worker_concurrency 8: "
              f"{on_dbos:,.0f} workflows/s")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--program"]:
        program(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    elif sys.argv[1:2] == ["--dbos"]:
        dbos_program(sys.argv[2], int(sys.argv[3]))
    else:
        main()
