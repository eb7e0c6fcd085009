"""A dbos_lite app for the coordination crash tests (DBOS.sleep, send/recv, events, child
workflows, idle waiters), run as a subprocess and killed with SIGKILL by
tests/test_coordination_crash.py.

Usage: python tests/coordination_app.py JOURNAL_PATH LOGFILE MODE

MODE is one of:

  sleep       start ``sleeper(COORD_SLEEP_SEC)`` as "sleep-1" and wait for it. The body logs
              "begin" before its DBOS.sleep and "woke" after it, then runs step "hold".
  call_sleep  call ``sleeper(COORD_SLEEP_SEC)`` directly under SetWorkflowID("sleep-1"); the
              SUMMARY's "extra" holds how long the call took ("call_sec").
  inbox       start ``inbox(COORD_TOPICS)`` as "inbox-1": one DBOS.recv per topic of the
              comma-separated list, in order, each message handed to step "handle".
  echo        start ``echo(COORD_PINGS)`` as "echo-1": COORD_PINGS times DBOS.recv("ping") and
              step "stamp"; then DBOS.recv("go"), and DBOS.set_event("pong", <epoch time>).
  parent      start ``parent()`` as "par": a direct child call, two DBOS.start_workflow
              children and another direct child call (see ``parent`` below).
  idle        start COORD_WAITERS workflows ``waiter()`` as "idle-0", "idle-1", ...: each
              blocks in DBOS.recv("wake", timeout_seconds=60) and returns what it got.
  recover     only DBOS.launch(); then wait until every workflow in the journal is finished.

Log lines, appended with O_APPEND and fsynced so they survive SIGKILL, are
"<pid> <workflow_id> <event> <arg> <epoch seconds>". Steps log "start <arg>" before their work
and "end <arg>" after it, so the log counts every real run of a step. Each process logs
"<pid> - launched <executor_id> <t>" after DBOS.launch().

Environment: COORD_HOLD_SEC (step "hold" sleeps this long), COORD_SLOW_MSG and COORD_SLOW_SEC
(step "handle" sleeps COORD_SLOW_SEC on that message), COORD_SLOW_CHILDREN and
COORD_SLOW_CHILD_SEC (comma-separated child numbers whose step sleeps), COORD_POLL_SEC (the
notification_listener_polling_interval_sec, default 0.1), COORD_THREADS
(max_executor_threads), COORD_TIMEOUT_SEC (how long the process waits for its workflows).

At the end the process prints "SUMMARY <json>": {"workflows": {id: {...}}, "extra": {...}}
for every workflow in the journal. Exit status 0, or 3 if the workflows did not finish in time.
"""

import os
import sys
import time

# app_support (found in this script's directory) puts dbos_lite on sys.path.
from app_support import append_line, await_all, describe, print_summary, start_all, wait_finished
from dbos_lite import DBOS, SetWorkflowID

JOURNAL, LOGFILE, MODE = sys.argv[1], sys.argv[2], sys.argv[3]


def env_float(name, default):
    return float(os.environ.get(name, default))


SLEEP_SEC = env_float("COORD_SLEEP_SEC", "4")
HOLD_SEC = env_float("COORD_HOLD_SEC", "0")
SLOW_MSG = os.environ.get("COORD_SLOW_MSG", "")
SLOW_SEC = env_float("COORD_SLOW_SEC", "0")
SLOW_CHILDREN = {int(k) for k in os.environ.get("COORD_SLOW_CHILDREN", "").split(",") if k}
SLOW_CHILD_SEC = env_float("COORD_SLOW_CHILD_SEC", "0")
TOPICS = [t for t in os.environ.get("COORD_TOPICS", "").split(",") if t]
PINGS = int(os.environ.get("COORD_PINGS", "0"))
WAITERS = int(os.environ.get("COORD_WAITERS", "0"))
TIMEOUT_SEC = env_float("COORD_TIMEOUT_SEC", "60")


def log(workflow_id, event, arg):
    append_line(LOGFILE, f"{os.getpid()} {workflow_id} {event} {arg} {time.time():.6f}")


DBOS(config={
    "name": "coordination-app",
    "system_database_url": f"sqlite:///{JOURNAL}",
    "sqlite_synchronous": "NORMAL",  # survives SIGKILL, which is all these tests do
    "notification_listener_polling_interval_sec": env_float("COORD_POLL_SEC", "0.1"),
    "max_executor_threads": int(os.environ.get("COORD_THREADS", "64")),
})


# ---- steps: each logs "start" and "end", so the log counts how often it really ran ----


@DBOS.step()
def hold() -> str:
    log(DBOS.workflow_id, "start", "hold")
    if HOLD_SEC > 0:
        time.sleep(HOLD_SEC)
    log(DBOS.workflow_id, "end", "hold")
    return "held"


@DBOS.step()
def handle(message: str) -> str:
    log(DBOS.workflow_id, "start", message)
    if message == SLOW_MSG and SLOW_SEC > 0:
        time.sleep(SLOW_SEC)
    log(DBOS.workflow_id, "end", message)
    return message


@DBOS.step()
def stamp(message: str) -> float:
    now = time.time()
    log(DBOS.workflow_id, "got", message)
    return now


@DBOS.step()
def now() -> float:
    return time.time()


@DBOS.step()
def child_work(k: int) -> int:
    log(DBOS.workflow_id, "start", k)
    if k in SLOW_CHILDREN and SLOW_CHILD_SEC > 0:
        time.sleep(SLOW_CHILD_SEC)
    log(DBOS.workflow_id, "end", k)
    return k * 11


# ---- workflows ----


@DBOS.workflow()
def sleeper(seconds: float) -> str:
    log(DBOS.workflow_id, "begin", seconds)  # the body is replayed: logged by every run
    DBOS.sleep(seconds)
    log(DBOS.workflow_id, "woke", seconds)
    hold()
    return "slept"


@DBOS.workflow()
def inbox(topics: list[str]) -> list[str]:
    handled = []
    for topic in topics:
        message = DBOS.recv(topic, timeout_seconds=30)
        handled.append(handle(str(message)))
    return handled


@DBOS.workflow()
def echo(pings: int) -> int:
    for _ in range(pings):
        stamp(str(DBOS.recv("ping", timeout_seconds=30)))
    if DBOS.recv("go", timeout_seconds=30) is not None:
        DBOS.set_event("pong", now())
    return pings


@DBOS.workflow()
def child(k: int) -> int:
    return child_work(k)


@DBOS.workflow()
def parent() -> list[int]:
    first = child(1)                                # operations 1-2: child "par-1"
    second = DBOS.start_workflow(child, 2)          # operation 3: child "par-3"
    third = DBOS.start_workflow(child, 3)           # operation 4: child "par-4"
    fourth = child(4)                               # operations 5-6: child "par-5"
    return [first, second.get_result(), third.get_result(), fourth]


@DBOS.workflow()
def waiter() -> str:
    return str(DBOS.recv("wake", timeout_seconds=60))


def main():
    deadline = time.monotonic() + TIMEOUT_SEC
    DBOS.launch()
    log("-", "launched", DBOS.executor_id)
    extra = {}
    try:
        starts = []
        if MODE == "sleep":
            starts = [("sleep-1", sleeper, (SLEEP_SEC,))]
        elif MODE == "call_sleep":
            began = time.monotonic()
            with SetWorkflowID("sleep-1"):
                extra["result"] = sleeper(SLEEP_SEC)
            extra["call_sec"] = time.monotonic() - began
        elif MODE == "inbox":
            starts = [("inbox-1", inbox, (TOPICS,))]
        elif MODE == "echo":
            starts = [("echo-1", echo, (PINGS,))]
        elif MODE == "parent":
            starts = [("par", parent, ())]
        elif MODE == "idle":
            starts = [(f"idle-{i}", waiter, ()) for i in range(WAITERS)]
        elif MODE != "recover":
            print(f"unknown mode {MODE!r}", file=sys.stderr)
            return 2
        handles = start_all(starts)
        log("-", "started", len(handles))
        await_all(handles)
        finished = wait_finished(DBOS.list_workflows, deadline)
        workflows = {s.workflow_id: describe(s, parent=s.parent_workflow_id)
                     for s in DBOS.list_workflows()}
        print_summary({"workflows": workflows, "extra": extra})
        return 0 if finished else 3
    finally:
        DBOS.destroy()


if __name__ == "__main__":
    sys.exit(main())
