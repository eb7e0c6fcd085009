"""The journal file: its format, the files dbos_lite refuses to touch, and the configuration that
chooses it. Everything here is checked from outside: with the stdlib ``sqlite3`` module reading
the file from another process (or SQL on a second connection, tests/sqlite_here.py says why),
file hashes, and what DBOS raises or logs."""

import hashlib
import logging
import os
import random
import sqlite3
import subprocess
import sys
import textwrap
import time

import apsw
import pytest

import dbos_lite
from dbos_lite import DBOS, DBOSException, DBOSInitializationError, SetWorkflowID

import sqlite_here
from conftest import journal_of_schema, journal_url

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- Helpers --------------------------------------------------------------------------------


@pytest.fixture
def no_dbos():
    """No DBOS instance and no registered functions, before and after the test."""
    DBOS.destroy(destroy_registry=True)
    yield DBOS
    DBOS.destroy(destroy_registry=True)


def snapshot(directory) -> dict[str, str]:
    """Every file in ``directory`` and the hash of its bytes."""
    result = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as f:
            result[name] = hashlib.sha256(f.read()).hexdigest()
    return result


def pragma(path, name: str):
    """A PRAGMA's value, read by the stdlib sqlite3 module in another process (not by dbos_lite's
    apsw)."""
    return sqlite_here.read_elsewhere(path, (f"PRAGMA {name}", ()))[0][0][0]


def make_other_app_database(path, journal_mode: str = "delete") -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA journal_mode = {journal_mode}")
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('ada'), ('grace')")
    conn.commit()
    conn.close()  # before dbos_lite opens the file: two SQLites in one process (sqlite_here.py)
    conn.close()


def register_app(runs: list):
    """A small app: one workflow with two steps. Returns the workflow."""

    @DBOS.step(name="fetch")
    def fetch(n: int) -> list[int]:
        return list(range(n))

    @DBOS.step(name="total")
    def total(values: list[int]) -> int:
        return sum(values)

    @DBOS.workflow(name="report")
    def report(n: int) -> dict:
        runs.append(n)
        values = fetch(n)
        return {"total": total(values), "items": values, "label": f"report of {n}"}

    return report


# ---- The file format ------------------------------------------------------------------------


def test_launched_journal_is_a_wal_sqlite_file_with_dbos_lite_header(dbos, journal_path):
    assert not os.path.exists(journal_path)  # DBOS(config=...) alone creates nothing
    DBOS.launch()
    assert os.path.exists(journal_path)
    assert pragma(journal_path, "journal_mode") == "wal"
    assert pragma(journal_path, "application_id") == dbos_lite.APPLICATION_ID
    assert pragma(journal_path, "user_version") == dbos_lite.SCHEMA_VERSION
    assert dbos_lite.APPLICATION_ID == int.from_bytes(b"DBOS", "big")

    DBOS.destroy()  # still so once the journal is closed
    assert pragma(journal_path, "journal_mode") == "wal"
    assert pragma(journal_path, "application_id") == dbos_lite.APPLICATION_ID
    assert pragma(journal_path, "user_version") == dbos_lite.SCHEMA_VERSION


def test_journal_is_readable_with_stdlib_sqlite3_and_json_extract(dbos, journal_path):
    report = register_app([])
    DBOS.launch()
    with SetWorkflowID("r-3"):
        report(3)

    def read():
        rows, whole, steps = sqlite_here.read_elsewhere(
            journal_path,
            ("SELECT status, name, json_extract(output, '$.total'),"
             " json_extract(output, '$.items[2]'), json_extract(output, '$.label'),"
             " json_extract(inputs, '$.args[0]')"
             " FROM workflow_status WHERE workflow_id = ?", ("r-3",)),
            ("SELECT json_extract(output, '$') FROM workflow_status"
             " WHERE workflow_id = 'r-3'", ()),
            ("SELECT function_id, function_name, json_extract(output, '$')"
             " FROM operation_outputs WHERE workflow_id = ? ORDER BY function_id", ("r-3",)))
        return tuple(rows[0]), whole[0][0], [tuple(step) for step in steps]

    expected = (("SUCCESS", "report", 3, 2, "report of 3", 3),
                '{"total":3,"items":[0,1,2],"label":"report of 3"}',
                [(1, "fetch", "[0,1,2]"), (2, "total", 3)])
    assert read() == expected  # while DBOS runs: WAL lets a reader in
    DBOS.destroy()
    assert read() == expected


@pytest.mark.parametrize("setting, syncs_each_commit", [
    (None, True),        # the default is FULL: every commit reaches the disk
    ("FULL", True),
    ("full", True),
    ("NORMAL", False),   # NORMAL: the WAL is synced only at checkpoints
    ("normal", False),
])
def test_sqlite_synchronous_full_is_the_default_and_normal_is_accepted(
        no_dbos, journal_path, setting, syncs_each_commit):
    """What the setting changes is whether a commit is fsync'ed: counted with an apsw VFS that
    wraps the default one and records each xSync on the journal's WAL file."""
    wal_syncs = []

    class CountingFile(apsw.VFSFile):
        def __init__(self, base, name, flags):
            self.is_wal = str(name.filename() if isinstance(name, apsw.URIFilename)
                              else name).endswith("-wal")
            super().__init__(base, name, flags)

        def xSync(self, flags):
            if self.is_wal:
                wal_syncs.append(flags)
            return super().xSync(flags)

    class CountingVFS(apsw.VFS):
        def __init__(self):
            self.base = apsw.vfs_names()[0]
            super().__init__("dbos-lite-test-counting", self.base, makedefault=True)

        def xOpen(self, name, flags):
            return CountingFile(self.base, name, flags)

    config = {"name": "sync-app", "system_database_url": journal_url(journal_path)}
    if setting is not None:
        config["sqlite_synchronous"] = setting
    vfs = CountingVFS()
    try:
        DBOS(config=config)
        report = register_app([])
        DBOS.launch()
        wal_syncs.clear()
        with SetWorkflowID("r"):
            assert report(2)["total"] == 1  # at least 3 commits: start, 2 steps, outcome
        counted = len(wal_syncs)
    finally:
        DBOS.destroy(destroy_registry=True)  # closes the journal before its VFS goes away
        vfs.unregister()
    if syncs_each_commit:
        assert counted >= 4
    else:
        assert counted == 0


@pytest.mark.parametrize("setting, largest_wal_kb", [("FULL", 600), ("NORMAL", 8000)])
def test_the_wal_starts_over_sooner_under_full(no_dbos, journal_path, setting, largest_wal_kb):
    """Under FULL the WAL is checkpointed every 100 pages, so a run's WAL stays small (and its
    commits rewrite blocks instead of growing the file); under NORMAL, SQLite's default 1000."""
    DBOS(config={"name": "wal-app", "system_database_url": journal_url(journal_path),
                 "sqlite_synchronous": setting})

    @DBOS.step()
    def one(i: int) -> int:
        return i

    @DBOS.workflow()
    def many(n: int) -> int:
        return sum(one(i) for i in range(n))

    DBOS.launch()
    largest = 0
    for batch in range(6):
        with SetWorkflowID(f"many-{batch}"):
            assert many(100) == 4950
        largest = max(largest, os.path.getsize(journal_path + "-wal"))
    DBOS.destroy(destroy_registry=True)
    assert largest < largest_wal_kb * 1024
    if setting == "NORMAL":
        assert largest > 1000 * 1024  # it did grow past what FULL allows


@pytest.mark.parametrize("setting", ["SOMETIMES", "OFF", "fast", 2])
def test_bad_sqlite_synchronous_is_refused(no_dbos, journal_path, setting):
    with pytest.raises(DBOSInitializationError, match="FULL.*NORMAL"):
        DBOS(config={"name": "app", "system_database_url": journal_url(journal_path),
                     "sqlite_synchronous": setting})
    with pytest.raises(DBOSException):
        DBOS.launch()  # no instance was made
    assert not os.path.exists(journal_path)


# ---- URLs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "postgresql://postgres:dbos@localhost:5432/app_dbos_sys",
    "postgres://localhost/app",
    "postgresql+psycopg://user@db.example.com/app",
    "POSTGRESQL://localhost/app",
])
def test_postgres_url_is_refused_pointing_to_dbos_transact(no_dbos, url):
    with pytest.raises(DBOSInitializationError) as info:
        DBOS(config={"name": "app", "system_database_url": url})
    message = str(info.value)
    assert "DBOS Transact" in message and "Postgres" in message
    assert url in message
    with pytest.raises(DBOSException):
        DBOS.launch()  # no instance was made


@pytest.mark.parametrize("url", [
    "nonsense",
    "sqlite://",
    "sqlite:///",
    "sqlite:///:memory:",
    "mysql://x",
    "mysql://user@localhost/app",
    "file://app.sqlite",
])
def test_malformed_url_is_refused_at_configuration(no_dbos, tmp_path, url):
    before = snapshot(tmp_path)
    with pytest.raises(DBOSInitializationError) as info:
        DBOS(config={"name": "app", "system_database_url": url})
    message = str(info.value)
    assert repr(url) in message
    assert "sqlite:///" in message  # says what a good URL looks like
    with pytest.raises(DBOSException):
        DBOS.launch()
    assert snapshot(tmp_path) == before


def test_relative_sqlite_url_is_relative_to_the_working_directory(no_dbos, tmp_path,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    DBOS(config={"name": "app", "system_database_url": "sqlite:///relative.sqlite"})
    DBOS.launch()
    assert os.path.exists(tmp_path / "relative.sqlite")
    assert pragma(tmp_path / "relative.sqlite", "application_id") == dbos_lite.APPLICATION_ID


# ---- Files that are not a dbos_lite journal are refused, and left as they were --------------


@pytest.mark.parametrize("content", [
    pytest.param(random.Random(7).randbytes(8192), id="random-bytes"),
    pytest.param(b"hello, these are my notes\n", id="short-text"),
    pytest.param(b"\x00" * 4096, id="zeros"),
    pytest.param(b"SQLite format 3\x00" + random.Random(8).randbytes(4080), id="fake-header"),
])
def test_file_that_is_not_sqlite_is_refused_unchanged(dbos, journal_path, tmp_path, content):
    with open(journal_path, "wb") as f:
        f.write(content)
    before = snapshot(tmp_path)
    with pytest.raises(DBOSInitializationError, match="not modified"):
        DBOS.launch()
    assert snapshot(tmp_path) == before  # same bytes; no -wal, -shm or -journal next to it
    with pytest.raises(DBOSInitializationError):
        DBOS.launch()  # still refused, still unchanged
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_sqlite_file_of_another_app_is_refused_unchanged(dbos, journal_path, tmp_path,
                                                         journal_mode):
    make_other_app_database(journal_path, journal_mode)
    before = snapshot(tmp_path)
    with pytest.raises(DBOSInitializationError, match="not a dbos_lite journal"):
        DBOS.launch()
    assert snapshot(tmp_path) == before
    assert pragma(journal_path, "application_id") == 0
    with sqlite_here.connect(journal_path, read_only=True) as conn:
        assert conn.execute("SELECT name FROM customers ORDER BY id").fetchall() == [
            ("ada",), ("grace",)]
        assert conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0] == 1


def test_journal_of_a_newer_dbos_lite_is_refused_unchanged(dbos, config, journal_path,
                                                           tmp_path):
    report = register_app([])
    DBOS.launch()
    with SetWorkflowID("r"):
        report(2)
    DBOS.destroy(destroy_registry=True)
    with sqlite_here.connect(journal_path) as conn:
        conn.execute(f"PRAGMA user_version = {dbos_lite.SCHEMA_VERSION + 1}")
    before = snapshot(tmp_path)

    DBOS(config=config)
    register_app([])
    with pytest.raises(DBOSInitializationError, match="newer dbos_lite") as info:
        DBOS.launch()
    assert str(dbos_lite.SCHEMA_VERSION + 1) in str(info.value)
    assert snapshot(tmp_path) == before
    assert pragma(journal_path, "user_version") == dbos_lite.SCHEMA_VERSION + 1


def test_refused_launch_can_be_retried_once_the_file_is_moved_away(dbos, journal_path):
    with open(journal_path, "wb") as f:
        f.write(b"not a database at all, but longer than a SQLite header would be" * 10)
    with pytest.raises(DBOSInitializationError):
        DBOS.launch()
    os.rename(journal_path, journal_path + ".mine")
    report = register_app([])
    DBOS.launch()
    with SetWorkflowID("r"):
        assert report(3)["total"] == 3
    with open(journal_path + ".mine", "rb") as f:
        assert f.read().startswith(b"not a database at all")


def test_journal_in_a_directory_that_does_not_exist_is_refused_at_launch(no_dbos, tmp_path):
    DBOS(config={"name": "app",
                 "system_database_url": journal_url(tmp_path / "missing" / "journal.sqlite")})
    with pytest.raises(DBOSInitializationError, match="directory"):
        DBOS.launch()
    assert os.listdir(tmp_path) == []


def test_empty_file_becomes_a_new_journal(dbos, journal_path):
    open(journal_path, "wb").close()
    report = register_app([])
    DBOS.launch()
    with SetWorkflowID("r"):
        assert report(1)["total"] == 0
    assert pragma(journal_path, "application_id") == dbos_lite.APPLICATION_ID


# ---- Reopening, and several processes -------------------------------------------------------


def test_reopening_an_existing_journal_keeps_its_data(dbos, config, journal_path):
    runs = []
    report = register_app(runs)
    DBOS.launch()
    with SetWorkflowID("r-4"):
        first = report(4)
    DBOS.destroy(destroy_registry=True)

    for _ in range(2):  # two more "processes" open it in turn
        DBOS(config=config)
        report = register_app(runs)
        DBOS.launch()
        assert pragma(journal_path, "user_version") == dbos_lite.SCHEMA_VERSION
        status = DBOS.get_workflow_status("r-4")
        assert status.status == "SUCCESS" and status.output == first
        assert status.input == {"args": (4,), "kwargs": {}}
        assert [(s["function_name"], s["output"]) for s in DBOS.list_workflow_steps("r-4")] == [
            ("fetch", [0, 1, 2, 3]), ("total", 6)]
        with SetWorkflowID("r-4"):
            assert report(4) == first
        DBOS.destroy(destroy_registry=True)
    assert runs == [4]  # the recorded workflow never ran again

    DBOS(config=config)
    register_app(runs)
    DBOS.launch()
    assert [w.workflow_id for w in DBOS.list_workflows()] == ["r-4"]


def test_a_journal_of_schema_8_is_read_as_it_is_then_upgraded_and_recovered_by_launch(
        no_dbos, config, journal_path):
    # Schema 9 rewrote the condition of the index of unfinished workflows: a client's reads of
    # an older journal still find them through the index it has there, and a launch upgrades
    # the journal and then finds them through the new one.
    journal_of_schema(journal_path, 8)
    conn = apsw.Connection(journal_path)
    for workflow_id, status in (("left", "PENDING"), ("done", "SUCCESS")):
        conn.execute("INSERT INTO workflow_status (workflow_id, status, name, inputs, created_at,"
                     " updated_at, max_recovery_attempts) VALUES (?, ?, 'resumed',"
                     " '{\"args\":[3],\"kwargs\":{}}', 1, 2, 10)", (workflow_id, status))
    conn.close()
    client = dbos_lite.DBOSClient(system_database_url=journal_url(journal_path))
    assert [w.workflow_id for w in client.list_workflows(status=["PENDING", "ENQUEUED"])] == [
        "left"]
    client.destroy()
    assert pragma(journal_path, "user_version") == 8

    DBOS(config=config)

    @DBOS.workflow(name="resumed")  # the name recorded above (not this function's qualname)
    def resumed(x: int) -> int:
        return x * 2

    DBOS.launch()
    assert DBOS.retrieve_workflow("left").get_result() == 6  # recovered through the new index
    assert pragma(journal_path, "user_version") == dbos_lite.SCHEMA_VERSION
    index = sqlite_here.read_elsewhere(journal_path, (
        "SELECT sql FROM sqlite_schema WHERE name = 'workflow_status_active'", ()))[0][0][0]
    assert "status = 'PENDING' OR status = 'ENQUEUED'" in index
    assert [w.workflow_id for w in DBOS.list_workflows(status="PENDING")] == []
    assert sorted(w.workflow_id for w in DBOS.list_workflows(status="SUCCESS")) == [
        "done", "left"]


_LAUNCHER = textwrap.dedent("""
    import sys, time
    from dbos_lite import DBOS

    start, interval, paths = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
    for i, path in enumerate(paths):
        DBOS(config={"name": "together", "system_database_url": "sqlite:///" + path,
                     "sqlite_synchronous": "NORMAL"})
        go = start + i * interval
        time.sleep(max(0.0, go - time.time() - 0.002))
        while time.time() < go:
            pass
        try:
            DBOS.launch()
            print("ok", flush=True)
        except BaseException as exc:
            print("FAIL", type(exc).__module__, type(exc).__name__, exc, flush=True)
        DBOS.destroy()
""")


@pytest.mark.slow
def test_processes_launching_together_on_a_new_journal_all_succeed(tmp_path):
    """Several processes may share one journal, so several may also start at once on a journal
    that does not exist yet (a deployment of N workers). Each round, 4 processes launch at the
    same instant on a new file; every launch must succeed."""
    rounds, processes, interval = 25, 4, 0.12
    paths = [str(tmp_path / f"round-{i}.sqlite") for i in range(rounds)]
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    start = time.time() + 2.0
    workers = [
        subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(start), str(interval), *paths],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(processes)
    ]
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=60)[0])
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    lines = [line for output in outputs for line in output.splitlines()]
    failures = [line for line in lines if line != "ok"]
    assert not failures, f"{len(failures)} of {len(lines)} launches failed:\n" + "\n".join(
        failures)
    assert len(lines) == rounds * processes
    for path in paths:
        assert pragma(path, "application_id") == dbos_lite.APPLICATION_ID
        assert pragma(path, "user_version") == dbos_lite.SCHEMA_VERSION


# ---- reset_system_database ------------------------------------------------------------------


def test_reset_system_database_before_launch_deletes_the_journal(dbos, config, journal_path,
                                                                 tmp_path):
    runs = []
    report = register_app(runs)
    DBOS.launch()
    with SetWorkflowID("r"):
        report(2)
    DBOS.destroy(destroy_registry=True)
    assert os.path.exists(journal_path)

    DBOS(config=config)
    DBOS.reset_system_database()
    assert os.listdir(tmp_path) == []  # the journal, and any -wal or -shm, are gone

    report = register_app(runs)
    DBOS.launch()
    assert DBOS.list_workflows() == []
    with SetWorkflowID("r"):
        report(2)
    assert runs == [2, 2]  # a new journal: the id runs again


def test_reset_system_database_also_deletes_an_unclean_journal(dbos, config, journal_path,
                                                               tmp_path):
    """A journal whose -wal still holds commits (its process was killed) is still ours."""
    report = register_app([])
    DBOS.launch()
    with SetWorkflowID("r"):
        report(2)
    # Copy the files as they are while DBOS runs: what a kill -9 leaves behind.
    copies = {}
    for suffix in ("", "-wal"):
        with open(journal_path + suffix, "rb") as f:
            copies[suffix] = f.read()
    DBOS.destroy(destroy_registry=True)
    for suffix, data in copies.items():
        with open(journal_path + suffix, "wb") as f:
            f.write(data)

    DBOS(config=config)
    DBOS.reset_system_database()
    assert os.listdir(tmp_path) == []


def test_reset_system_database_without_a_journal_does_nothing(dbos, tmp_path):
    DBOS.reset_system_database()
    assert os.listdir(tmp_path) == []
    DBOS.launch()  # and launching afterwards works


def test_reset_system_database_after_launch_is_refused(dbos, journal_path):
    DBOS.launch()
    with pytest.raises(DBOSException, match="destroy"):
        DBOS.reset_system_database()
    assert os.path.exists(journal_path)


@pytest.mark.parametrize("kind", ["random-bytes", "other-app", "other-app-wal"])
def test_reset_system_database_refuses_to_delete_a_file_that_is_not_a_journal(
        dbos, journal_path, tmp_path, kind):
    if kind == "random-bytes":
        with open(journal_path, "wb") as f:
            f.write(random.Random(1).randbytes(8192))
    else:
        make_other_app_database(journal_path, "wal" if kind.endswith("wal") else "delete")
    before = snapshot(tmp_path)
    with pytest.raises(DBOSInitializationError):
        DBOS.reset_system_database()
    assert snapshot(tmp_path) == before  # same bytes, and nothing created next to it


# ---- Configuration --------------------------------------------------------------------------


@pytest.mark.parametrize("config", [
    {},
    {"system_database_url": "sqlite:///x.sqlite"},
    {"name": ""},
    {"name": None},
    {"name": 42},
    "app",
])
def test_config_without_a_name_is_refused(no_dbos, tmp_path, monkeypatch, config):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DBOSInitializationError, match="name"):
        DBOS(config=config)
    with pytest.raises(DBOSException):
        DBOS.launch()
    assert os.listdir(tmp_path) == []


def test_unknown_config_key_is_a_warning_not_an_error(no_dbos, journal_path, caplog):
    config = {"name": "app", "system_database_url": journal_url(journal_path),
              "sqlite_synchronous": "NORMAL", "database_url": "postgresql://localhost/app",
              "enable_otlp": True}
    with caplog.at_level(logging.WARNING, logger="dbos_lite"):
        DBOS(config=config)
    warnings = [r for r in caplog.records
                if r.name == "dbos_lite" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "database_url" in warnings[0].getMessage()
    assert "enable_otlp" in warnings[0].getMessage()
    report = register_app([])
    DBOS.launch()
    with SetWorkflowID("r"):
        assert report(2)["total"] == 1


def test_name_alone_is_enough_and_names_the_journal(no_dbos, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    DBOS(config={"name": "solo-app", "sqlite_synchronous": "NORMAL"})
    DBOS.launch()
    assert os.path.exists(tmp_path / "solo-app.sqlite")


# ---- Lifecycle errors -----------------------------------------------------------------------


def test_launch_before_configuration_is_an_error(no_dbos):
    with pytest.raises(DBOSException, match=r"DBOS\(config=\.\.\.\)"):
        DBOS.launch()


def test_starting_a_workflow_before_launch_says_to_launch(dbos, journal_path):
    runs = []
    report = register_app(runs)
    with pytest.raises(DBOSException, match=r"DBOS\.launch\(\)"):
        report(1)
    with pytest.raises(DBOSException, match=r"DBOS\.launch\(\)"):
        with SetWorkflowID("r"):
            report(1)
    with pytest.raises(DBOSException, match=r"DBOS\.launch\(\)"):
        DBOS.start_workflow(report, 1)
    with pytest.raises(DBOSException, match=r"DBOS\.launch\(\)"):
        DBOS.list_workflows()
    assert runs == []
    assert not os.path.exists(journal_path)

    DBOS.launch()  # and then it works
    with SetWorkflowID("r"):
        assert report(1)["total"] == 0
    assert runs == [1]


def test_forks_are_found_through_an_index(dbos, journal_path):
    """Migration 8: was_forked_from (in every status, and as a filter) reads a partial index
    on forked_from, which holds forks only, never the whole table."""

    @DBOS.workflow()
    def job() -> int:
        return 1

    DBOS.launch()
    with SetWorkflowID("original"):
        job()
    DBOS.fork_workflow("original", 1).get_result()
    with sqlite_here.connect(journal_path, read_only=True) as conn:
        plan = conn.execute("EXPLAIN QUERY PLAN " + dbos_lite._SQL_FORKED_FROM_ANY.replace(
            "?", "'[\"original\"]'")).fetchall()
        entries = conn.execute("SELECT count(*) FROM workflow_status"
                               " INDEXED BY workflow_status_forked_from"
                               " WHERE forked_from IS NOT NULL").fetchone()[0]
    assert any("workflow_status_forked_from" in row[-1] for row in plan), plan
    assert entries == 1
    assert DBOS.get_workflow_status("original").was_forked_from is True


def test_list_filters_that_take_a_bool_refuse_other_values(dbos):
    DBOS.launch()
    for parameter in ("has_parent", "is_fork", "was_forked_from"):
        with pytest.raises(ValueError, match=parameter):
            DBOS.list_workflows(**{parameter: "yes"})
