"""Shared fixtures: a fresh DBOS per test, journaled in the test's own temporary directory."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from dbos_lite import DBOS  # noqa: E402


def journal_url(path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def journal_path(tmp_path):
    return str(tmp_path / "journal.sqlite")


@pytest.fixture
def config(journal_path):
    """The config a test's DBOS gets; NORMAL keeps the suite fast (FULL is tested on its own)."""
    return {
        "name": "test-app",
        "system_database_url": journal_url(journal_path),
        "sqlite_synchronous": "NORMAL",
        "notification_listener_polling_interval_sec": 0.05,
    }


@pytest.fixture
def dbos(config):
    """DBOS configured but not launched: the test registers its functions, then launches."""
    DBOS.destroy(destroy_registry=True)
    DBOS(config=config)
    yield DBOS
    DBOS.destroy(destroy_registry=True)
