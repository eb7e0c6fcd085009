# Shows progress reporting across processes: a workflow publishes its progress as an event and
# writes a log line per item to a stream; another process (this script with `watch`) reads the
# stream as it grows and the event's latest value. `python examples/05_progress.py` runs both.
import os
import subprocess
import sys
import time

from dbos_lite import DBOS, SetWorkflowID

HERE = os.path.dirname(os.path.abspath(__file__))
WATCHER = len(sys.argv) > 2 and sys.argv[1] == "watch"
# The watcher has an executor id of its own: on DBOS Transact, launch() recovers the unfinished
# workflows of its executor id, so a watcher sharing the worker's would run the job a second time.
DBOS(config={"name": "progress", "system_database_url": f"sqlite:///{HERE}/05_progress.sqlite",
             "notification_listener_polling_interval_sec": 0.05,
             "executor_id": "watcher" if WATCHER else "worker"})
JOB_ID = f"resize-{int(time.time())}"


@DBOS.step()
def resize(image: str) -> str:
    time.sleep(0.2)  # stands for real work
    return f"{image} resized"


@DBOS.workflow()
def resize_all(images: list[str]) -> int:
    for done, image in enumerate(images, start=1):
        DBOS.write_stream("log", resize(image))
        DBOS.set_event("progress", f"{done}/{len(images)}")
    DBOS.close_stream("log")
    return len(images)


if __name__ == "__main__":
    DBOS.launch()
    if WATCHER:
        for line in DBOS.read_stream(sys.argv[2], "log"):  # waits for each new line
            print(f"  [watcher] {line}")
        print(f"  [watcher] stream closed; progress: {DBOS.get_event(sys.argv[2], 'progress')}")
    else:
        with SetWorkflowID(JOB_ID):
            handle = DBOS.start_workflow(resize_all, [f"photo{i}.jpg" for i in range(5)])
        watcher = subprocess.Popen([sys.executable, __file__, "watch", JOB_ID])
        print(f"Resized {handle.get_result()} images")  # one write: the watcher prints too
        watcher.wait(timeout=30)
    DBOS.destroy()
