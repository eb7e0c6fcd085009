"""A program sharing the every-second schedule "tick" with other processes, for
tests/test_schedules_multiprocess.py.

    python schedule_app.py JOURNAL LOG SECONDS   run SECONDS (0: until killed), then stop cleanly

Each process applies the same schedule (an upsert: the first creates it), unless SA_APPLY=0.
The environment sets SA_BACKFILL (1: automatic_backfill), SA_STEP_SEC (how long the middle
step sleeps), SA_HEARTBEAT (seconds between looks for dead processes' workflows) and a
wall-clock jump: SA_JUMP_BY seconds added to time.time() once SA_JUMP_AFTER real seconds have
passed since launch.

Each run is the workflow tick(scheduled_time): step "first", step "slow" (logs slow-start and
slow-end), step "last", which logs "run <scheduled epoch> <start> <end>". Log lines are
"<pid> <workflow_id> <event> <arg>" with real (unshifted) epoch seconds, appended durably, so a
SIGKILL loses nothing logged. Stdout gets "START <epoch>" just before launch and "READY <epoch>"
just after, in real time."""

import os
import sys
import threading
import time

real_time = time.time
shift = [0.0]
time.time = lambda: real_time() + shift[0]  # what dbos_lite reads the wall clock with

from app_support import append_line  # noqa: E402

import dbos_lite  # noqa: E402
from dbos_lite import DBOS  # noqa: E402

journal, log, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
env = os.environ
pid = os.getpid()
if env.get("SA_HEARTBEAT"):
    dbos_lite._HEARTBEAT_SEC = float(env["SA_HEARTBEAT"])


def note(workflow_id, event, arg):
    append_line(log, f"{pid} {workflow_id} {event} {arg}")


@DBOS.step()
def first(workflow_id: str) -> None:
    note(workflow_id, "first", f"{real_time():.6f}")


@DBOS.step()
def slow(workflow_id: str) -> None:
    note(workflow_id, "slow-start", f"{real_time():.6f}")
    time.sleep(float(env.get("SA_STEP_SEC", "0")))
    note(workflow_id, "slow-end", f"{real_time():.6f}")


@DBOS.step()
def last(workflow_id: str, scheduled: float, start: float) -> None:
    note(workflow_id, "run", f"{scheduled:.3f} {start:.6f} {real_time():.6f}")


@DBOS.workflow()
def tick(scheduled_time, context) -> None:
    start = real_time()
    workflow_id = DBOS.workflow_id
    first(workflow_id)
    slow(workflow_id)
    last(workflow_id, scheduled_time.timestamp(), start)


def jump_later(after, by):
    time.sleep(after)
    shift[0] = by
    print(f"JUMPED {real_time():.6f} {by}", flush=True)


DBOS(config={"name": "schedule-app", "system_database_url": f"sqlite:///{journal}",
             "sqlite_synchronous": "NORMAL"})
print(f"START {real_time():.6f}", flush=True)
DBOS.launch()
if env.get("SA_APPLY", "1") == "1":
    DBOS.apply_schedules([{"schedule_name": "tick", "workflow_fn": tick,
                           "schedule": "* * * * * *",
                           "automatic_backfill": env.get("SA_BACKFILL") == "1"}])
print(f"READY {real_time():.6f}", flush=True)
if env.get("SA_JUMP_BY"):
    threading.Thread(target=jump_later, args=(float(env["SA_JUMP_AFTER"]),
                                              float(env["SA_JUMP_BY"])), daemon=True).start()
if seconds > 0:
    time.sleep(seconds)
else:
    threading.Event().wait()
print(f"STOPPING {real_time():.6f}", flush=True)
DBOS.destroy()
print("SUMMARY {}", flush=True)
