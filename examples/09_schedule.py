# Shows a cron schedule that survives a crash: a job runs every second and appends the second
# it was scheduled for to 09_schedule.log. `python examples/09_schedule.py demo` starts the job
# in a process of its own, which kills itself with SIGKILL in the middle of its fourth run; it
# stays down for three seconds, is started again and checks the log: the run killed mid-way
# was resumed (not run again), the seconds missed while it was down were run after the restart,
# in order (automatic_backfill=True, and a queue that runs one at a time), and no second was
# run twice. Or by hand:
# `python examples/09_schedule.py run`, stop it with Ctrl-C (or kill -9), start it again later
# and look at the log.
import datetime
import os
import signal
import subprocess
import sys
import time

from dbos_lite import DBOS

HERE = os.path.dirname(os.path.abspath(__file__))
JOURNAL = f"{HERE}/09_schedule.sqlite"
LOG = f"{HERE}/09_schedule.log"
COMMAND = sys.argv[1] if len(sys.argv) > 1 else "run"
LIFE = sys.argv[2] if COMMAND == "run" and len(sys.argv) > 2 else "again"  # "first" dies
if COMMAND == "demo":  # a fresh start
    for path in (JOURNAL, JOURNAL + "-wal", JOURNAL + "-shm", LOG):
        if os.path.exists(path):
            os.remove(path)
DBOS(config={"name": "every-second", "system_database_url": f"sqlite:///{JOURNAL}"})


def log_lines():
    """The log as (scheduled time, which process life, what happened) in file order."""
    if not os.path.exists(LOG):
        return []
    return [tuple(line.split()) for line in open(LOG).read().splitlines()]


def append(line):
    with open(LOG, "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


@DBOS.step()
def write_line(line: str) -> None:
    append(line)


@DBOS.workflow()
def keep_log(scheduled_time: datetime.datetime, context: object) -> None:
    when = scheduled_time.astimezone(datetime.timezone.utc).isoformat()
    if LIFE == "first" and len(log_lines()) == 3:  # the demo's crash, in the fourth run
        append(f"{when} {LIFE} killed")
        os.kill(os.getpid(), signal.SIGKILL)
    write_line(f"{when} {LIFE} ran")


def run(until):
    """Keep the log (until the log has a run of the time ``until``, if given)."""
    DBOS.launch()  # resumes a run a killed process left, and runs the seconds it missed
    # The runs go through a queue that runs one at a time, so that the seconds caught up
    # after a restart are written in order (on its own queue, each run starts at its time).
    DBOS.register_queue("keep-log", global_concurrency=1)
    DBOS.apply_schedules([{"schedule_name": "keep-log", "workflow_fn": keep_log,
                           "schedule": "* * * * * *", "automatic_backfill": True,
                           "queue_name": "keep-log"}])
    try:
        while until is None or not any(when == until and event == "ran"
                                       for when, _, event in log_lines()):
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    DBOS.destroy()


def start(*args):
    return subprocess.Popen([sys.executable, __file__, "run", *args])


def seconds(killed, offsets):
    return [(killed + datetime.timedelta(seconds=s)).isoformat() for s in offsets]


def demo():
    first = start("first")
    first.wait()
    killed = datetime.datetime.fromisoformat(
        next(when for when, _, event in log_lines() if event == "killed"))
    print(f"The job was killed with SIGKILL (exit {first.returncode}) in its run for the "
          "fourth second; it stays down for 3 seconds.")
    while time.time() < killed.timestamp() + 3.5:  # seconds +1, +2 and +3 pass while down
        time.sleep(0.05)
    start("again", seconds(killed, [8])[0]).wait()
    ran = [(when, life) for when, life, event in log_lines() if event == "ran"]
    window = seconds(killed, range(-3, 9))
    runs = [when for when, _ in ran if when in window]
    print(f"Scheduled seconds from the first run to 8 seconds after the kill: {len(window)}, "
          f"each run once: {sorted(runs) == window}")
    print(f"Run before the kill: {sum(1 for when, life in ran if life == 'first')}")
    print("The run killed mid-way was resumed after the restart, once: "
          f"{[life for when, life in ran if when == window[3]] == ['again']}")
    missed = seconds(killed, [1, 2, 3])
    after = [when for when, life in ran if when in missed and life == "again"]
    print(f"Missed while down, run after the restart: {len(after)}, "
          f"in order: {after == missed}")
    print("Later seconds run after the restart: "
          f"{sum(1 for when, life in ran if when in window[7:] and life == 'again')}")


if __name__ == "__main__":
    if COMMAND == "demo":
        demo()
    else:
        run(sys.argv[3] if len(sys.argv) > 3 else None)
