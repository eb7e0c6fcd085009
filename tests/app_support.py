"""What the app scripts the tests run as subprocesses (crash_app.py, coordination_app.py) share:
dbos_lite on sys.path, a log that survives SIGKILL, starting and awaiting workflows, and the
SUMMARY line."""

import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from dbos_lite import DBOS, SetWorkflowID  # noqa: E402

FINISHED = {"SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"}


def append_line(path, line):
    """Append one line durably: O_APPEND keeps concurrent writers' lines whole, fsync makes it
    survive SIGKILL."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def start_all(starts):
    """Start each (workflow_id, func, args) with DBOS.start_workflow; their handles."""
    handles = []
    for workflow_id, func, args in starts:
        with SetWorkflowID(workflow_id):
            handles.append(DBOS.start_workflow(func, *args))
    return handles


def await_all(handles):
    for handle in handles:
        try:
            handle.get_result()
        except Exception:
            pass  # reported in the summary


def wait_finished(statuses, deadline):
    """Poll until every status ``statuses()`` returns is finished; False if the deadline
    (time.monotonic()) passed first."""
    while True:
        if all(s is not None and s.status in FINISHED for s in statuses()):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def describe(status, **extra):
    """A workflow's status for the SUMMARY, with ``extra`` fields."""
    return {
        "status": status.status,
        "output": status.output,
        "error": None if status.error is None else f"{type(status.error).__name__}: {status.error}",
        "recovery_attempts": status.recovery_attempts,
        **extra,
        "steps": [s["function_name"] for s in DBOS.list_workflow_steps(status.workflow_id)],
    }


def print_summary(summary):
    print("SUMMARY " + json.dumps(summary), flush=True)
