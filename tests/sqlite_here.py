"""SQL on a journal from the test's own process, through the engine's own copy of SQLite.

Two copies of SQLite in one process must not open the same file. Each keeps its own table of the
POSIX locks it holds, and closing a file descriptor drops every lock the process has on that file:
when one copy closes its connection, the other's locks are gone, and the closing copy, believing
itself the last connection, checkpoints and deletes the -wal and -shm files that the other still
has mapped ("How To Corrupt An SQLite Database File", section 2.2.1, sqlite.org/howtocorrupt.html).
dbos_lite's apsw bundles its own SQLite and Python's sqlite3 module links another, so a test that
opened the journal with sqlite3 while dbos_lite ran in the same process could crash the worker
(SIGBUS on the truncated -shm) or see "database disk image is malformed".

So a test that looks into a journal in its own process uses ``connect`` here: apsw on dbos_lite,
the sqlite3 module on DBOS Transact (its SQLAlchemy engine uses that one). A test whose point is
that another program can read the journal reads it from a subprocess (``read_elsewhere``)."""

import json
import os
import sqlite3
import subprocess
import sys

from engine import ON_DBOS

if not ON_DBOS:
    import apsw

#: What the engine's copy of SQLite raises (no such table, a file that is not there, ...).
Error = sqlite3.Error if ON_DBOS else apsw.Error


class Connection:
    """One connection in autocommit mode; ``with`` closes it. ``execute`` returns a cursor that
    iterates over tuples and has ``fetchall`` and ``fetchone``."""

    def __init__(self, path, read_only: bool = False, timeout: float = 10.0):
        path = os.fspath(path)
        if ON_DBOS:
            target = f"file:{path}?mode=ro" if read_only else path
            self._conn = sqlite3.connect(target, uri=read_only, timeout=timeout,
                                         isolation_level=None)
        else:
            flags = (apsw.SQLITE_OPEN_READONLY if read_only
                     else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE)
            self._conn = apsw.Connection(path, flags=flags)
            self._conn.set_busy_timeout(int(timeout * 1000))

    def execute(self, sql: str, args=()):
        return self._conn.execute(sql, args)

    def dicts(self, sql: str, args=()) -> list[dict]:
        """The rows of a query as {column: value}."""
        cursor = self._conn.cursor()
        if ON_DBOS:
            cursor.execute(sql, args)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor]
        cursor.row_trace = lambda cur, row: dict(zip([d[0] for d in cur.get_description()], row))
        return list(cursor.execute(sql, args))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def connect(path, read_only: bool = False, timeout: float = 10.0) -> Connection:
    return Connection(path, read_only=read_only, timeout=timeout)


def query(path, sql: str, args=()) -> list[tuple]:
    """Every row of one read-only query."""
    with connect(path, read_only=True) as conn:
        return [tuple(row) for row in conn.execute(sql, args)]


_ELSEWHERE = """
import json, sqlite3, sys
path, queries = sys.argv[1], json.loads(sys.argv[2])
conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
try:
    print(json.dumps([conn.execute(sql, args).fetchall() for sql, args in queries]))
finally:
    conn.close()
"""


def read_elsewhere(path, *queries) -> list[list[list]]:
    """The rows of each (sql, args) query, read by Python's sqlite3 module in another process,
    as another program would read the journal (rows come back as lists, through JSON)."""
    done = subprocess.run([sys.executable, "-c", _ELSEWHERE, os.fspath(path),
                           json.dumps([[sql, list(args)] for sql, args in queries])],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
