"""The public surface: every exported name is documented, and the DBOS Transact names exist."""

import inspect
import os

import dbos_lite
from dbos_lite import DBOS


def test_every_public_name_has_a_docstring():
    missing = [name for name in dbos_lite.__all__
               if not (getattr(dbos_lite, name).__doc__ or "").strip()]
    assert missing == []


def test_every_public_dbos_method_has_a_docstring():
    missing = [name for name, member in vars(DBOS).items()
               if not name.startswith("_")
               and not (getattr(member, "__doc__", None) or "").strip()]
    assert missing == []


CONTRACT_NAMES = """
launch destroy reset_system_database workflow step run_step run_step_async register_workflow
register_step start_workflow start_workflow_async retrieve_workflow get_workflow_status
list_workflows list_workflow_steps sleep sleep_async send send_async recv recv_async set_event
set_event_async get_event get_event_async get_all_events get_all_events_async write_stream
write_stream_async close_stream close_stream_async read_stream read_stream_async
cancel_workflow cancel_workflow_async resume_workflow resume_workflow_async fork_workflow
fork_workflow_async delete_workflow delete_workflow_async patch deprecate_patch workflow_id
step_id step_status logger executor_id application_version
""".split()


def test_the_dbos_names_of_the_contract_exist():
    assert [name for name in CONTRACT_NAMES if not hasattr(DBOS, name)] == []


def test_async_twins_are_coroutine_functions():
    for name in CONTRACT_NAMES:
        if name.endswith("_async") and name != "read_stream_async":
            assert inspect.iscoroutinefunction(getattr(DBOS, name)), name
    assert inspect.isasyncgenfunction(DBOS.read_stream_async)


def test_importing_has_no_side_effects(tmp_path):
    import subprocess
    import sys

    code = ("import threading, sys, dbos_lite; "
            "print(threading.active_count(), 'logging' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path,
                         env={"PYTHONPATH": os.path.dirname(dbos_lite.__file__)})
    assert out.stdout.split() == ["1", "False"]
    assert list(tmp_path.iterdir()) == []  # no file created
