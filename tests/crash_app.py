"""A small dbos_lite app that the crash tests run as a subprocess and kill with SIGKILL.

Usage: python tests/crash_app.py JOURNAL_PATH LOGFILE MODE [SYNC]

SYNC is the ``sqlite_synchronous`` setting (FULL by default). MODE is one of:

  run      start workflow ``pipeline`` (5 steps) under ids job-1..job-N (N = CRASH_APP_COUNT,
           default 1) with DBOS.start_workflow, and wait for their results.
  call     call ``pipeline`` directly under SetWorkflowID("job-1") and wait for its result (used
           to join a workflow another process runs).
  pause    start ``paused_pipeline`` as job-1: 5 steps, with a plain time.sleep of
           CRASH_APP_PAUSE_SEC (default 0) in the workflow body between steps 2 and 3.
  dsleep   start ``dsleep_pipeline`` as job-1: 5 steps, with DBOS.sleep(CRASH_APP_DSLEEP_SEC,
           default 2) between steps 2 and 3 (the duration is a workflow argument).
  doomed   start ``doomed`` as job-1, registered with max_recovery_attempts=2, whose step 3
           SIGKILLs its own process every time it runs.
  recover  only DBOS.launch(); then wait until every workflow in the journal is finished.

Every run of a step appends "<pid> <workflow_id> start <k>" before its work and
"<pid> <workflow_id> end <k>" after it to LOGFILE (appended, flushed and fsynced, so the lines
survive SIGKILL). The workflow bodies of pause/dsleep append "<pid> <workflow_id> pause 2" once
step 2 is recorded. Each process appends "<pid> - launched <executor_id>" after DBOS.launch().

CRASH_APP_SLOW_STEP=k and CRASH_APP_SLOW_SEC=s make step k sleep s seconds between its "start"
and "end" lines, so the parent can kill the process at a known point.

At the end the process prints one line "SUMMARY <json>" on stdout: for each workflow it waited
for, its status, output, error, recovery_attempts, executor_id and recorded operation names.
Exit status 0 on success, 3 if the workflows did not finish within CRASH_APP_TIMEOUT_SEC.
"""

import os
import signal
import sys
import time

# app_support (found in this script's directory) puts dbos_lite on sys.path.
from app_support import append_line, await_all, describe, print_summary, start_all, wait_finished
from dbos_lite import DBOS, SetWorkflowID

JOURNAL = sys.argv[1]
LOGFILE = sys.argv[2]
MODE = sys.argv[3]
SYNC = sys.argv[4] if len(sys.argv) > 4 else "FULL"

SLOW_STEP = int(os.environ.get("CRASH_APP_SLOW_STEP", "0"))
SLOW_SEC = float(os.environ.get("CRASH_APP_SLOW_SEC", "0"))
PAUSE_SEC = float(os.environ.get("CRASH_APP_PAUSE_SEC", "0"))
DSLEEP_SEC = float(os.environ.get("CRASH_APP_DSLEEP_SEC", "2"))
COUNT = int(os.environ.get("CRASH_APP_COUNT", "1"))
TIMEOUT_SEC = float(os.environ.get("CRASH_APP_TIMEOUT_SEC", "60"))
STEPS = 5


def log(workflow_id, event, k):
    append_line(LOGFILE, f"{os.getpid()} {workflow_id} {event} {k}")


DBOS(config={
    "name": "crash-app",
    "system_database_url": f"sqlite:///{JOURNAL}",
    "sqlite_synchronous": SYNC,
    "notification_listener_polling_interval_sec": 0.05,
})


@DBOS.step()
def work(k: int, acc: int) -> int:
    workflow_id = DBOS.workflow_id
    log(workflow_id, "start", k)
    if k == SLOW_STEP and SLOW_SEC > 0:
        time.sleep(SLOW_SEC)
    log(workflow_id, "end", k)
    return acc * 10 + k


@DBOS.step()
def work_or_die(k: int, acc: int) -> int:
    log(DBOS.workflow_id, "start", k)
    if k == 3:
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)  # not reached
    log(DBOS.workflow_id, "end", k)
    return acc * 10 + k


@DBOS.workflow()
def pipeline(start: int) -> int:
    acc = start
    for k in range(1, STEPS + 1):
        acc = work(k, acc)
    return acc


@DBOS.workflow()
def paused_pipeline(start: int) -> int:
    acc = start
    for k in range(1, STEPS + 1):
        acc = work(k, acc)
        if k == 2:
            log(DBOS.workflow_id, "pause", k)
            if PAUSE_SEC > 0:
                time.sleep(PAUSE_SEC)  # not durable: a pause the parent kills the process in
    return acc


@DBOS.workflow()
def dsleep_pipeline(start: int, sleep_sec: float) -> int:
    acc = start
    for k in range(1, STEPS + 1):
        acc = work(k, acc)
        if k == 2:
            log(DBOS.workflow_id, "pause", k)
            DBOS.sleep(sleep_sec)
    return acc


@DBOS.workflow(max_recovery_attempts=2)
def doomed(start: int) -> int:
    acc = start
    for k in range(1, STEPS + 1):
        acc = work_or_die(k, acc)
    return acc


def summarize(workflow_id):
    status = DBOS.get_workflow_status(workflow_id)
    return None if status is None else describe(status, executor_id=status.executor_id)


def main():
    deadline = time.monotonic() + TIMEOUT_SEC
    DBOS.launch()
    log("-", "launched", DBOS.executor_id)
    try:
        if MODE == "recover":
            workflow_ids = [w.workflow_id for w in DBOS.list_workflows()]
        elif MODE == "call":
            workflow_ids = ["job-1"]
            with SetWorkflowID("job-1"):
                pipeline(100000)  # the arguments mode "run" gives job-1
        else:
            if MODE == "run":
                starts = [(f"job-{i}", pipeline, (i * 100000,)) for i in range(1, COUNT + 1)]
            elif MODE == "pause":
                starts = [("job-1", paused_pipeline, (0,))]
            elif MODE == "dsleep":
                starts = [("job-1", dsleep_pipeline, (0, DSLEEP_SEC))]
            elif MODE == "doomed":
                starts = [("job-1", doomed, (0,))]
            else:
                print(f"unknown mode {MODE!r}", file=sys.stderr)
                return 2
            handles = start_all(starts)
            workflow_ids = [h.get_workflow_id() for h in handles]
            await_all(handles)
        finished = wait_finished(
            lambda: [DBOS.get_workflow_status(w) for w in workflow_ids], deadline)
        print_summary({w: summarize(w) for w in workflow_ids})
        return 0 if finished else 3
    finally:
        DBOS.destroy()


if __name__ == "__main__":
    sys.exit(main())
