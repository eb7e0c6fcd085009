"""Recovery after a crash: a process killed with 10,000 workflows in flight (quick: 1,000).

Setup (not measured): a child process launches dbos_lite on a new journal, starts 8 workflows
``job(i) = step_two(step_one(i))`` with the public API and waits until each has recorded
step_one and entered step_two (which blocks). It then writes the other in-flight workflows
with dbos_lite's own INSERT statements, copying the rows dbos_lite wrote for the first
workflow (same owner, executor, version; PENDING; step_one recorded), and kills itself with
SIGKILL. The journal is then what a process killed with N workflows in flight leaves behind:
their owner is a process registered on this host whose pid is gone.

Measured, in this process, with the same workflow functions registered:
  (a) how long DBOS.launch() takes to return (it finds the dead process and claims its
      workflows, which then run on the thread pool);
  (b) the time from calling DBOS.launch() until all N workflows are SUCCESS;
  (c) the baseline: the same N workflows started fresh with DBOS.start_workflow on an empty
      journal, from the first start until all are SUCCESS.
A recovered workflow replays step_one and runs only step_two, so (b) / (c) should be at most 1.
Completion is detected without disturbing the workers: an event set by the N-th step_two, then
a poll of list_workflows(status="PENDING", limit=1) every millisecond until none is left.
Every run checks that each workflow ended SUCCESS with output 2 * i + 1, that no recovered
workflow ran step_one again, and that step_two ran once per workflow. Best of 3 (quick: 1),
with sqlite_synchronous FULL (the default) and NORMAL.

Usage: python benchmarks/bench_recovery.py [--quick]
"""

import os
import signal
import subprocess
import sys
import threading
import time

from _common import Scratch, best, bulk_insert, print_table

import msgspec

import dbos_lite
from dbos_lite import DBOS, SetWorkflowID

QUICK = "--quick" in sys.argv
WORKFLOWS = 1_000 if QUICK else 10_000
REPEATS = 1 if QUICK else 3
REAL = 8  # in-flight workflows the killed process starts with the public API
TIMEOUT_SEC = 120


class Calls:
    """How many times each step body ran in this process; ``done`` is set by the last
    expected step_two."""

    def __init__(self, expected=0):
        self.lock = threading.Lock()
        self.step_one = 0
        self.step_two = 0
        self.expected = expected
        self.done = threading.Event()

    def count(self, name):
        with self.lock:
            value = getattr(self, name) + 1
            setattr(self, name, value)
            if name == "step_two" and value == self.expected:
                self.done.set()


calls = Calls()
entered_step_two = threading.Semaphore(0)  # in the killed process: workflows blocked in step_two


def register(victim=False):
    """The workflow, under explicit names so that both processes record and find the same."""

    @DBOS.step(name="step_one")
    def step_one(i: int) -> int:
        calls.count("step_one")
        return 2 * i

    @DBOS.step(name="step_two")
    def step_two(x: int) -> int:
        if victim:
            entered_step_two.release()
            threading.Event().wait()  # in flight until the process is killed
        calls.count("step_two")
        return x + 1

    @DBOS.workflow(name="job")
    def job(i: int) -> int:
        return step_two(step_one(i))

    return job


def workflow_id(i):
    return f"wf-{i:06d}"


def configure(path, synchronous):
    DBOS(config={"name": "bench-recovery", "sqlite_synchronous": synchronous,
                 "system_database_url": f"sqlite:///{path}"})


# -- setup: the process that is killed --

def victim(path, count, synchronous):
    """Run in a child process: leave ``count`` workflows in flight, then SIGKILL itself."""
    configure(path, synchronous)
    job = register(victim=True)
    DBOS.launch()
    real = min(REAL, count)
    for i in range(real):
        with SetWorkflowID(workflow_id(i)):
            DBOS.start_workflow(job, i)
    for _ in range(real):
        if not entered_step_two.acquire(timeout=60):
            raise RuntimeError("the workflows started with the public API did not reach step_two")
    # Setup, not measured: the other in-flight workflows are written with dbos_lite's own
    # statements, as copies of what dbos_lite recorded for workflow 0 (the same owner, executor,
    # application version and recovery count, status PENDING, step_one recorded at position 1).
    journal = dbos_lite._Journal(path, synchronous=synchronous)
    template = journal.get_workflow(workflow_id(0))
    step = journal.list_operations(workflow_id(0))[0]
    journal.close()
    assert template.status == "PENDING" and template.owner is not None, template
    assert template.inputs == msgspec.json.encode({"args": [0], "kwargs": {}}).decode(), template
    assert (step.function_id, step.function_name, step.output) == (1, "step_one", "0"), step
    workflows = (msgspec.structs.replace(
        template, workflow_id=workflow_id(i), created_at=template.created_at + i,
        updated_at=template.updated_at + i,
        inputs=msgspec.json.encode({"args": [i], "kwargs": {}}).decode())
        for i in range(real, count))
    operations = (msgspec.structs.replace(step, workflow_id=workflow_id(i), output=str(2 * i))
                  for i in range(real, count))
    bulk_insert(path, workflows, operations)
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def build_killed_journal(path, synchronous):
    """Setup: run the victim in a child process and check that it was killed."""
    child = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--victim", path, str(WORKFLOWS),
         synchronous], capture_output=True, text=True, timeout=TIMEOUT_SEC)
    if child.returncode != -signal.SIGKILL:
        raise SystemExit(f"the victim process exited with {child.returncode}, not SIGKILL:\n"
                         f"{child.stdout}{child.stderr}")


# -- measurements --

def wait_until_finished():
    """Wait for the last step_two (no polling), then poll cheaply until no workflow is
    PENDING: the last workflows still had to record their outcome."""
    if not calls.done.wait(TIMEOUT_SEC):
        raise SystemExit(f"timed out: step_two ran {calls.step_two} of {WORKFLOWS} times")
    deadline = time.monotonic() + TIMEOUT_SEC
    while DBOS.list_workflows(status="PENDING", limit=1, load_input=False, load_output=False):
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the last workflows to finish")
        time.sleep(0.001)


def verify(step_one_calls, recovery_attempts):
    statuses = DBOS.list_workflows(workflow_id_prefix="wf-", load_input=False)
    assert len(statuses) == WORKFLOWS, len(statuses)
    for status in statuses:
        i = int(status.workflow_id[3:])
        assert status.status == "SUCCESS", (status.workflow_id, status.status, status.error)
        assert status.output == 2 * i + 1, (status.workflow_id, status.output)
        assert status.recovery_attempts == recovery_attempts, status
    assert calls.step_one == step_one_calls, f"step_one ran {calls.step_one} times"
    assert calls.step_two == WORKFLOWS, f"step_two ran {calls.step_two} times"


def recovered(scratch, synchronous, run):
    """(a) launch() and (b) launch() until all are SUCCESS, on a journal left by a killed
    process."""
    global calls
    path = scratch.file(f"killed-{synchronous}-{run}.sqlite")
    build_killed_journal(path, synchronous)
    calls = Calls(WORKFLOWS)
    configure(path, synchronous)
    register()
    start = time.perf_counter()
    DBOS.launch()
    launched = time.perf_counter()
    wait_until_finished()
    finished = time.perf_counter()
    verify(step_one_calls=0, recovery_attempts=2)  # step_one was recorded: never run again
    DBOS.destroy(destroy_registry=True)
    return launched - start, finished - start


def fresh(scratch, synchronous, run):
    """(c) the same workflows started with start_workflow on an empty journal."""
    global calls
    calls = Calls(WORKFLOWS)
    configure(scratch.file(f"fresh-{synchronous}-{run}.sqlite"), synchronous)
    job = register()
    DBOS.launch()
    start = time.perf_counter()
    for i in range(WORKFLOWS):
        with SetWorkflowID(workflow_id(i)):
            DBOS.start_workflow(job, i)
    wait_until_finished()
    finished = time.perf_counter()
    verify(step_one_calls=WORKFLOWS, recovery_attempts=1)
    DBOS.destroy(destroy_registry=True)
    return finished - start


def main():
    started = time.perf_counter()
    rows = []
    with Scratch() as scratch:
        for synchronous in ("FULL", "NORMAL"):
            launches, recoveries, baselines = [], [], []
            for run in range(REPEATS):
                launch, recovery = recovered(scratch, synchronous, run)
                launches.append(launch)
                recoveries.append(recovery)
                baselines.append(fresh(scratch, synchronous, run))
            a, b, c = best(launches), best(recoveries), best(baselines)
            rows.append((synchronous, f"{a * 1e3:.0f} ms", f"{b:.2f} s ({WORKFLOWS / b:,.0f}/s)",
                         f"{c:.2f} s ({WORKFLOWS / c:,.0f}/s)", f"{b / c:.2f}x"))
    print_table(f"Recovery of {WORKFLOWS:,} in-flight workflows of a killed process "
                f"(dbos_lite {dbos_lite.__version__}, best of {REPEATS}; checked: all SUCCESS "
                "with the right output, step_one never re-run)",
                ("synchronous", "(a) launch()", "(b) launch() to all SUCCESS",
                 "(c) fresh start_workflow to all SUCCESS", "(b)/(c)"), rows)
    print(f"Total time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--victim":
        try:
            victim(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        except BaseException:
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)  # the pool's threads are blocked in step_two: do not wait for them
    else:
        main()
