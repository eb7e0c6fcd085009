"""Shared helpers for the benchmarks: fresh journals, the raw-SQLite floor, and tables."""

import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import apsw  # noqa: E402

FLOOR_SCHEMA = (
    "CREATE TABLE steps (workflow_id TEXT, function_id INTEGER, output TEXT,"
    " PRIMARY KEY (workflow_id, function_id))"
)


class Scratch:
    """A temporary directory for journals, removed at the end."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="dbos_lite_bench_")
        return self

    def file(self, name):
        return os.path.join(self.path, name)

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def floor_connection(path, synchronous):
    """A raw apsw connection set up as dbos_lite sets up its journal (WAL, same synchronous)."""
    conn = apsw.Connection(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = " + synchronous)
    conn.execute(FLOOR_SCHEMA)
    return conn


def commit_insert(conn, workflow_id, function_id, output="1"):
    """The floor's unit of work: one INSERT in one BEGIN IMMEDIATE ... COMMIT."""
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO steps VALUES (?, ?, ?)", (workflow_id, function_id, output))
    conn.execute("COMMIT")


def fsync_cost_us(scratch, samples=50):
    """The median cost of one fsync after a small write, on the disk the benchmarks use."""
    path = scratch.file("fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    costs = []
    try:
        for i in range(samples):
            os.pwrite(fd, b"x" * 4096, (i % 8) * 4096)
            start = time.perf_counter()
            os.fsync(fd)
            costs.append((time.perf_counter() - start) * 1e6)
    finally:
        os.close(fd)
    return statistics.median(costs)


def best(samples):
    return min(samples)


def median(samples):
    return statistics.median(samples)


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def print_table(title, header, rows):
    print(f"\n{title}")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = "  ".join(str(h).ljust(w) for h, w in zip(header, widths))
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)))


# -- Setup of large journals (not measured): dbos_lite's own schema and SQL statements --


def create_journal(path, synchronous="NORMAL"):
    """Setup: an empty journal at ``path``, its schema created by dbos_lite itself."""
    import dbos_lite

    dbos_lite._Journal(path, synchronous=synchronous).close()


def bulk_insert(path, workflows=(), operations=()):
    """Setup: write journal rows in one transaction with dbos_lite's own INSERT statements.
    Each argument is an iterable (a generator is fine) of dbos_lite._WorkflowRecord or
    OperationRecord. Not a measured path: it only fills a journal quickly."""
    import dbos_lite
    import msgspec

    conn = apsw.Connection(path)
    conn.set_busy_timeout(10_000)
    conn.execute("PRAGMA cache_size = -262144")  # 256 MB, so that random-key inserts stay fast
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(dbos_lite._SQL_INSERT_WORKFLOW,
                         (msgspec.structs.astuple(w) for w in workflows))
        conn.executemany(dbos_lite._SQL_INSERT_OPERATION_IF_ABSENT,
                         (msgspec.structs.astuple(o) for o in operations))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


def checkpoint(path):
    """Move the WAL into the database file and truncate the WAL (for measuring file sizes)."""
    conn = apsw.Connection(path)
    conn.set_busy_timeout(10_000)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    conn.close()


def journal_bytes(path):
    """The journal's logical size, page_count * page_size (committed WAL frames included)."""
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    pages = conn.execute("PRAGMA page_count").fetchall()[0][0]
    size = conn.execute("PRAGMA page_size").fetchall()[0][0]
    conn.close()
    return pages * size


def file_bytes(path):
    """Bytes on disk of a journal with its -wal and -shm files."""
    return sum(os.path.getsize(path + suffix) for suffix in ("", "-wal", "-shm")
               if os.path.exists(path + suffix))


def register_trivial_workflows():
    """Register the benchmarks' workflows: a trivial step, a workflow of n such steps, and a
    one-step workflow. Returns (trivial, many_steps, one_step)."""
    from dbos_lite import DBOS

    @DBOS.step()
    def trivial(i: int) -> int:
        return i

    @DBOS.workflow()
    def many_steps(n: int) -> int:
        for i in range(n):
            trivial(i)
        return n

    @DBOS.workflow()
    def one_step(i: int) -> int:
        return trivial(i)

    return trivial, many_steps, one_step
