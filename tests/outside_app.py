"""A program for tests/test_outside.py: it runs workflows on the journal given as argv[1] and
keeps running (its queue worker takes what a client enqueues) until its stdin is closed.
It prints READY once the workflows (and the schedule) the tests look at are in place."""

import datetime
import sys
import time

from app_support import ROOT  # noqa: F401  (puts dbos_lite on sys.path)
import dbos_lite
from dbos_lite import DBOS, SetWorkflowID

DBOS(config={"name": "outside-app", "system_database_url": f"sqlite:///{sys.argv[1]}",
             "sqlite_synchronous": "NORMAL",
             "notification_listener_polling_interval_sec": 0.05})
DBOS.register_queue("jobs", polling_interval_sec=0.05)
failures = {"left": 2}


@DBOS.step(retries_allowed=True, max_attempts=4, interval_seconds=0.01, backoff_rate=1.0)
def flaky(x: int) -> int:
    if failures["left"] > 0:
        failures["left"] -= 1
        raise ValueError(f"flaky failed, {failures['left']} failures left")
    return x * 10


@DBOS.step()
def explode() -> None:
    raise RuntimeError("it broke")


@DBOS.workflow()
def greet(name: str) -> str:
    return f"hello {name}"


@DBOS.workflow()
def retried(x: int) -> int:
    return flaky(x)


@DBOS.workflow()
def broken() -> None:
    explode()


@DBOS.workflow()
def child(x: int) -> int:
    return x + 1


@DBOS.workflow()
def parent() -> object:
    child(1)
    DBOS.set_event("progress", {"done": 1, "of": 2})
    DBOS.write_stream("out", 1)
    DBOS.write_stream("out", "two")
    DBOS.close_stream("out")
    return DBOS.recv("go", timeout_seconds=120)


@DBOS.workflow()
def waiter() -> object:
    return DBOS.recv("hold", timeout_seconds=120)


@DBOS.workflow()
def double(x: int) -> int:
    return 2 * x


@DBOS.workflow()
def tick(scheduled_time: datetime.datetime, context: object) -> str:
    return f"{context!r} at {scheduled_time.isoformat()}"


DBOS.launch()
DBOS.create_schedule(schedule_name="nightly", workflow_fn=tick, schedule="0 3 * * *",
                     context={"report": "daily"}, cron_timezone="Europe/Paris")
for workflow_id, function, args in (("greet-1", greet, ("ada",)), ("retried-1", retried, (4,)),
                                    ("broken-1", broken, ())):
    with SetWorkflowID(workflow_id):
        try:
            function(*args)
        except Exception:
            pass
for workflow_id, function in (("parent-1", parent), ("waiter-1", waiter), ("waiter-2", waiter)):
    with SetWorkflowID(workflow_id):
        DBOS.start_workflow(function)
deadline = time.monotonic() + 10
while time.monotonic() < deadline and not all(  # each blocks in its recv, noted
        dbos_lite._looking().journal.list_waits(w) for w in ("parent-1", "waiter-1", "waiter-2")):
    time.sleep(0.02)
print("READY", flush=True)
sys.stdin.read()
DBOS.destroy()
