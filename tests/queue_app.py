"""A program sharing the queue "jobs" with other processes, for tests/test_queues_multiprocess.py.

    python queue_app.py JOURNAL LOG enqueue N   enqueue job-0..job-N-1 (working no queue), exit
    python queue_app.py JOURNAL LOG work N      work the queue until all N jobs have succeeded

The queue's settings come from the environment: QA_GLOBAL, QA_WORKER (concurrency), QA_LIMIT and
QA_PERIOD (a rate limiter), and each job's step sleeps QA_JOB_SEC. The step appends
"<pid> start|end <job> <epoch seconds>" to LOG, durably, so a SIGKILL loses nothing logged."""

import os
import sys
import time

from app_support import append_line

from dbos_lite import DBOS, SetWorkflowID

journal, log, mode, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
env = os.environ


def number(name, kind):
    return kind(env[name]) if env.get(name) else None


@DBOS.step()
def work(i: int) -> int:
    append_line(log, f"{os.getpid()} start job-{i} {time.time():.6f}")
    time.sleep(float(env.get("QA_JOB_SEC", "0.02")))
    append_line(log, f"{os.getpid()} end job-{i} {time.time():.6f}")
    return i


@DBOS.workflow()
def job(i: int) -> int:
    return work(i)


DBOS(config={"name": "queue-app", "system_database_url": f"sqlite:///{journal}",
             "sqlite_synchronous": "NORMAL"})
limiter = None
if env.get("QA_LIMIT"):
    limiter = {"limit": int(env["QA_LIMIT"]), "period": float(env["QA_PERIOD"])}
queue = DBOS.register_queue("jobs", global_concurrency=number("QA_GLOBAL", int),
                            worker_concurrency=number("QA_WORKER", int), limiter=limiter,
                            polling_interval_sec=0.05)
if mode == "enqueue":
    DBOS.listen_queues([])
DBOS.launch()
if mode == "enqueue":
    for i in range(count):
        with SetWorkflowID(f"job-{i}"):
            queue.enqueue(job, i)
else:
    while len(DBOS.list_workflows(queue_name="jobs", status="SUCCESS")) < count:
        time.sleep(0.05)
print("SUMMARY done", flush=True)
DBOS.destroy()
