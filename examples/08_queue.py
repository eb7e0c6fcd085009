# Shows a durable queue worked by two processes: 12 photos to resize, at most 2 at once across
# both workers and at most 4 starts in any second, and a worker killed with SIGKILL halfway
# through a photo that loses nothing. `python examples/08_queue.py demo` does it all: it
# enqueues the photos, starts workers A and B, kills A while it resizes, starts A again, waits
# for the queue to drain and checks the workers' log. Or by hand, in three terminals:
# `python examples/08_queue.py worker a`, `... worker b`, then `python examples/08_queue.py`.
import os
import signal
import subprocess
import sys
import time

from dbos_lite import DBOS, SetWorkflowID

HERE = os.path.dirname(os.path.abspath(__file__))
JOURNAL = f"{HERE}/08_queue.sqlite"
LOG = f"{HERE}/08_queue.log"
PHOTOS = 12
COMMAND = sys.argv[1:2] or ["enqueue"]
WORKER = sys.argv[2] if COMMAND == ["worker"] else None
if COMMAND == ["demo"]:  # a fresh start
    for path in (JOURNAL, JOURNAL + "-wal", JOURNAL + "-shm", LOG):
        if os.path.exists(path):
            os.remove(path)
# Each process has an executor id of its own: DBOS Transact recovers at launch the workflows
# of its executor id, so a restarted worker takes up its own interrupted work, not another's.
DBOS(config={"name": "thumbnails", "system_database_url": f"sqlite:///{JOURNAL}",
             "executor_id": f"worker-{WORKER}" if WORKER else "enqueuer"})


def log(line):
    with open(LOG, "a") as f:
        f.write(f"{line} {time.time():.6f}\n")
        f.flush()
        os.fsync(f.fileno())


@DBOS.step()
def resize(photo: str) -> str:
    log(f"{os.getpid()} start {photo}")
    time.sleep(0.3)  # stands for the work
    log(f"{os.getpid()} done {photo}")
    return f"{photo}-small.jpg"


@DBOS.workflow()
def thumbnail(photo: str) -> str:
    return resize(photo)


def register():
    return DBOS.register_queue("thumbnails", global_concurrency=2, worker_concurrency=1,
                               limiter={"limit": 4, "period": 1.0}, polling_interval_sec=0.1)


def wait_until_drained():
    while len(DBOS.list_workflows(queue_name="thumbnails", status="SUCCESS")) < PHOTOS:
        time.sleep(0.1)


def start_worker(name):
    return subprocess.Popen([sys.executable, __file__, "worker", name])


def check_log():
    events = [line.split() for line in open(LOG).read().splitlines()]
    done = sorted(photo for _, event, photo, _ in events if event == "done")
    print(f"All {PHOTOS} photos resized, each exactly once: "
          f"{done == sorted(f'photo-{i}' for i in range(PHOTOS))}")
    running, most = set(), 0
    for pid, event, photo, at in sorted(events, key=lambda e: float(e[3])):
        if event == "start":
            running.add((pid, photo))
        elif event == "done":
            running.discard((pid, photo))
        else:  # "killed": what that process was running stopped there
            running = {(p, photo) for p, photo in running if p != pid}
        most = max(most, len(running))
    print(f"At most 2 photos resized at once: {most <= 2}")
    # The limit is on the times the workers took the photos from the queue, which the journal
    # records (dequeued_at, epoch ms); a body starts after, later still on a busy machine.
    taken = sorted(w.dequeued_at for w in DBOS.list_workflows(queue_name="thumbnails"))
    print("Rate limit held (at most 4 starts in any second): "
          f"{len(taken) == PHOTOS and all(b - a >= 1000 for a, b in zip(taken, taken[4:]))}")


if __name__ == "__main__":
    if not WORKER:
        DBOS.listen_queues([])  # this process enqueues; the workers run the photos
    DBOS.launch()
    if WORKER:
        register()
        wait_until_drained()
    elif COMMAND == ["demo"]:
        workers = {"a": start_worker("a"), "b": start_worker("b")}
        queue = register()
        for i in range(PHOTOS):
            with SetWorkflowID(f"photo-{i}"):
                queue.enqueue(thumbnail, f"photo-{i}")
        print(f"Enqueued {PHOTOS} photos onto queue 'thumbnails' (at most 2 at once, at most 4 "
              "starts per second), worked by workers A and B.")
        pid = str(workers["a"].pid)
        while not any(line.startswith(pid + " start") for line in
                      (open(LOG).read().splitlines() if os.path.exists(LOG) else [])):
            time.sleep(0.02)
        os.kill(workers["a"].pid, signal.SIGKILL)
        workers["a"].wait()
        log(f"{pid} killed -")
        print("Killed worker A with SIGKILL while it resized a photo; starting it again.")
        workers["a"] = start_worker("a")
        wait_until_drained()
        for worker in workers.values():
            worker.wait()
        check_log()
    else:
        queue = register()
        for i in range(PHOTOS):
            with SetWorkflowID(f"photo-{i}"):
                queue.enqueue(thumbnail, f"photo-{i}")
        print(f"Enqueued {PHOTOS} photos; start workers to resize them.")
    DBOS.destroy()
