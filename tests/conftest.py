"""Shared fixtures: a fresh DBOS per test, journaled in the test's own temporary directory.

The engine: dbos_lite, or DBOS Transact 3.4 with DBOS_LITE_TEST_ENGINE=dbos (tests/engine.py).
On DBOS Transact only the tests marked ``both_engines`` run; the others are skipped, and those
marked ``deliberate_difference("why")`` say why they hold for dbos_lite only.
"""

import logging
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from engine import DBOS, NAME, ON_DBOS  # noqa: E402


def journal_url(path) -> str:
    return f"sqlite:///{path}"


def journal_of_schema(path, version: int) -> None:
    """Write at ``path`` an empty journal as a dbos_lite of schema ``version`` left it."""
    import apsw
    import dbos_lite

    conn = apsw.Connection(str(path))
    conn.execute("PRAGMA journal_mode = WAL")
    for migration in dbos_lite._MIGRATIONS[:version]:
        for statement in migration:
            conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {dbos_lite.APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


def pytest_report_header(config):
    return f"engine: {NAME} (DBOS_LITE_TEST_ENGINE)"


def pytest_collection_modifyitems(config, items):
    """On DBOS Transact, skip what is not marked both_engines, and every deliberate difference
    (a parameter of a both_engines test may be one), saying why."""
    for item in items:
        difference = item.get_closest_marker("deliberate_difference")
        if difference is not None and not (difference.args and difference.args[0]):
            raise pytest.UsageError(f"{item.nodeid}: deliberate_difference(\"why\") needs why")
        if not ON_DBOS:
            continue
        if difference is not None:
            reason = f"a deliberate difference of dbos_lite: {difference.args[0]}"
        elif item.get_closest_marker("both_engines") is None:
            reason = "dbos_lite only: not marked both_engines (uses dbos_lite's own names)"
        else:
            continue
        item.add_marker(pytest.mark.skip(reason=reason))


def pytest_unconfigure(config):
    if ON_DBOS:  # DBOS's threads still waiting in recv log after pytest closed their stream
        logging.raiseExceptions = False


@pytest.fixture
def journal_path(tmp_path):
    return str(tmp_path / "journal.sqlite")


@pytest.fixture
def config(journal_path):
    """The config a test's DBOS gets; NORMAL keeps the suite fast (FULL is tested on its own).
    DBOS Transact gets the same without dbos_lite's own key (its app name rule: 3-256 chars of
    [a-z0-9_-], which "test-app" meets)."""
    config = {
        "name": "test-app",
        "system_database_url": journal_url(journal_path),
        "notification_listener_polling_interval_sec": 0.05,
    }
    if not ON_DBOS:
        config["sqlite_synchronous"] = "NORMAL"
    return config


@pytest.fixture
def dbos(config):
    """DBOS configured but not launched: the test registers its functions, then launches."""
    DBOS.destroy(destroy_registry=True)
    DBOS(config=config)
    yield DBOS
    DBOS.destroy(destroy_registry=True)


def wait_until(predicate, what, timeout=10.0):
    """Poll ``predicate`` until it is true; fail the test, naming ``what``, after ``timeout`` s."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.01)
