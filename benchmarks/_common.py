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
