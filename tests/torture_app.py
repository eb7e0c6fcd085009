"""The app that tests/torture.py SIGKILLs again and again ("kill -9 torture").

Usage: python tests/torture_app.py JOURNAL LOG SYNC WORKFLOWS STEPS [--round R] [--step-ms MS]
                                   [--timeout SEC]

On start it launches DBOS on JOURNAL with ``sqlite_synchronous=SYNC`` (which recovers whatever a
killed predecessor left), then starts WORKFLOWS workflows ``torture_workflow`` of STEPS steps each,
under the fixed ids ``torture.workflow_ids(WORKFLOWS, R)`` (``t-0`` .. ``t-{W-1}`` in round 0,
``r{R}.t-0`` ... in round R), with SetWorkflowID + DBOS.start_workflow. An id that exists just
returns its handle (or, if its owner died, is taken over and resumed here), so starting the app
again is idempotent. The driver moves to the next round when a run has finished everything, so
that its kills keep landing in running steps.

Step k of workflow ``key`` is a function registered with ``@DBOS.step(name="step-k")``. Each
run of a step appends to LOG (O_APPEND, write, fsync: the line survives SIGKILL)

    start <pid> <workflow_id> <k> <time_ns>

before its work, sleeps a random 0..MS milliseconds (so that kills land inside steps), and

    end <pid> <workflow_id> <k> <time_ns>

after it, returning ``torture.step_value(key, k, previous step's value)``. The workflow returns
``torture.workflow_value(step values)``. The process also logs ``launched <pid> - 0 <time_ns>``
once DBOS.launch() returned and ``done <pid> - 0 <time_ns>`` before it exits.

When every workflow it started has finished and no workflow in the journal is PENDING any more
(another process's, or one it recovered), it prints ``DONE`` and exits 0. Exit status 3: not
finished within --timeout; 4: a workflow returned a wrong result (details on stdout).
"""

import argparse
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# app_support puts dbos_lite on sys.path; torture holds what the workflows compute, so that the
# driver can recompute it without importing dbos_lite.
import torture  # noqa: E402
from app_support import append_line  # noqa: E402
from dbos_lite import DBOS, SetWorkflowID  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("journal")
parser.add_argument("log")
parser.add_argument("sync", choices=["FULL", "NORMAL"])
parser.add_argument("workflows", type=int)
parser.add_argument("steps", type=int)
parser.add_argument("--round", type=int, default=0, dest="round_")
parser.add_argument("--step-ms", type=float, default=torture.DEFAULT_STEP_MS)
parser.add_argument("--timeout", type=float, default=120.0)
ARGS = parser.parse_args()

# The torture kills the app hundreds of times, and every launch after a kill counts a recovery
# attempt of each workflow still PENDING: the default limit (100) would dead-letter them.
MAX_RECOVERY_ATTEMPTS = 1_000_000


def log(event, workflow_id, k):
    append_line(ARGS.log, f"{event} {os.getpid()} {workflow_id} {k} {time.time_ns()}")


DBOS(config={
    "name": "torture-app",
    "system_database_url": f"sqlite:///{ARGS.journal}",
    "sqlite_synchronous": ARGS.sync,
    "notification_listener_polling_interval_sec": 0.05,
})


def make_step(k):
    """Step k, registered with @DBOS.step() as "step-k", so that the journal's function names
    tell the steps apart."""
    def step(key: str, previous: int) -> int:
        log("start", key, k)
        time.sleep(random.uniform(0.0, ARGS.step_ms / 1000.0))
        value = torture.step_value(key, k, previous)
        log("end", key, k)
        return value

    step.__name__ = step.__qualname__ = torture.step_name(k)
    return DBOS.step(name=torture.step_name(k))(step)


STEPS = {k: make_step(k) for k in range(1, ARGS.steps + 1)}


@DBOS.workflow(max_recovery_attempts=MAX_RECOVERY_ATTEMPTS)
def torture_workflow(key: str, steps: int) -> int:
    values = []
    previous = 0
    for k in range(1, steps + 1):
        previous = STEPS[k](key, previous)
        values.append(previous)
    return torture.workflow_value(values)


def main():
    deadline = time.monotonic() + ARGS.timeout
    DBOS.launch()
    try:
        log("launched", "-", 0)
        handles = []
        for workflow_id in torture.workflow_ids(ARGS.workflows, ARGS.round_):
            with SetWorkflowID(workflow_id):
                handles.append(DBOS.start_workflow(torture_workflow, workflow_id, ARGS.steps))
        wrong = []
        for handle in handles:
            workflow_id = handle.get_workflow_id()
            result = handle.get_result()
            if result != torture.expected_output(workflow_id, ARGS.steps):
                wrong.append((workflow_id, result))
        if wrong:
            print(f"WRONG {wrong}", flush=True)
            return 4
        # Workflows of other rounds this process recovered, or that another process runs.
        while DBOS.list_workflows(status="PENDING", load_input=False, load_output=False):
            if time.monotonic() > deadline:
                print("TIMEOUT", flush=True)
                return 3
            time.sleep(0.05)
        log("done", "-", 0)
        print("DONE", flush=True)
        return 0
    finally:
        DBOS.destroy()


if __name__ == "__main__":
    sys.exit(main())
