"""Several processes on one queue (tests/queue_app.py as real subprocesses): the queue's limits
hold across them exactly, each job runs once, and a worker killed with SIGKILL mid-job loses
nothing. Each job's step logs (pid, start, end); the checks read the intervals."""

import os
import signal
import subprocess
import sys
import time

import pytest

import sqlite_here

pytestmark = pytest.mark.slow  # several processes

HERE = os.path.dirname(os.path.abspath(__file__))


class Queue:
    """The processes of one test, on one journal and one log."""

    def __init__(self, tmp_path, **settings):
        self.tmp_path = tmp_path
        self.journal = str(tmp_path / "journal.sqlite")
        self.log = str(tmp_path / "jobs.log")
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("QA_")},
                    **{f"QA_{k.rstrip('_').upper()}": str(v) for k, v in settings.items()}}
        self.procs = []

    def start(self, mode, count):
        tag = len(self.procs)
        proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "queue_app.py"), self.journal, self.log, mode,
             str(count)], env=self.env,
            stdout=open(self.tmp_path / f"out-{tag}.txt", "wb"),
            stderr=open(self.tmp_path / f"err-{tag}.txt", "wb"))
        self.procs.append(proc)
        return proc

    def wait(self, proc, timeout=60):
        assert proc.wait(timeout) == 0, (self.tmp_path / "err-0.txt").read_text()

    def events(self):
        """[(pid, event, job, time)] from the log."""
        if not os.path.exists(self.log):
            return []
        rows = []
        for line in open(self.log).read().splitlines():
            pid, event, job, at = line.split()
            rows.append((int(pid), event, job, float(at)))
        return rows

    def intervals(self, killed_at=None):
        """{(pid, job): [start, end]}; a step cut short by a kill ends at ``killed_at``."""
        found = {}
        for pid, event, job, at in self.events():
            if event == "start":
                found[(pid, job)] = [at, killed_at]
            else:
                found[(pid, job)][1] = at
        return found

    def dequeued_at(self):
        return sorted(row[0] for row in sqlite_here.query(
            self.journal, "SELECT dequeued_at FROM workflow_status WHERE queue_name = 'jobs'"))

    def kill_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def make_queue(tmp_path):
    made = []

    def make(**settings):
        made.append(Queue(tmp_path, **settings))
        return made[-1]

    yield make
    for queue in made:
        queue.kill_all()


def most_at_once(intervals):
    """The most intervals open at one instant."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
                   key=lambda edge: (edge[0], edge[1]))
    now = most = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def run(queue, jobs, workers):
    """Enqueue ``jobs`` from a process that works no queue, work them with ``workers``."""
    working = [queue.start("work", jobs) for _ in range(workers)]
    queue.wait(queue.start("enqueue", jobs))
    for proc in working:
        queue.wait(proc)


@pytest.mark.parametrize("workers", [2, 3])
def test_global_concurrency_one_never_overlaps_across_processes(make_queue, workers):
    queue = make_queue(global_=1, job_sec=0.01)
    run(queue, 30, workers)
    intervals = queue.intervals()
    assert sorted(job for _, job in intervals) == sorted(f"job-{i}" for i in range(30))
    assert most_at_once(intervals.values()) == 1


def test_global_and_worker_concurrency_together(make_queue):
    queue = make_queue(global_=2, worker=1, job_sec=0.03)
    run(queue, 24, 3)
    intervals = queue.intervals()
    assert len(intervals) == 24  # each job once
    assert most_at_once(intervals.values()) <= 2
    for pid in {pid for pid, _ in intervals}:
        assert most_at_once([v for (p, _), v in intervals.items() if p == pid]) == 1
    assert len({pid for pid, _ in intervals}) >= 2  # the work was shared


def test_a_rate_limit_holds_across_processes(make_queue):
    queue = make_queue(limit=3, period=0.4, job_sec=0.001)
    run(queue, 12, 2)
    dequeued = queue.dequeued_at()
    assert len(dequeued) == 12
    assert all(later - earlier >= 400 for earlier, later in zip(dequeued, dequeued[3:]))


def test_a_worker_killed_mid_job_loses_nothing_and_runs_nothing_twice(make_queue):
    queue = make_queue(global_=1, job_sec=0.15)
    first = queue.start("work", 8)
    queue.wait(queue.start("enqueue", 8))
    deadline = time.time() + 20
    while not any(event == "start" for _, event, _, _ in queue.events()):
        assert time.time() < deadline
        time.sleep(0.01)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    killed_at = time.time()
    second = queue.start("work", 8)
    queue.wait(second)
    ends = [job for _, event, job, _ in queue.events() if event == "end"]
    assert sorted(ends) == sorted(f"job-{i}" for i in range(8))  # each finished exactly once
    intervals = queue.intervals(killed_at)
    assert most_at_once(intervals.values()) == 1  # the killed run counted until it died
    statuses = {row[0] for row in sqlite_here.query(
        queue.journal, "SELECT status FROM workflow_status WHERE queue_name = 'jobs'")}
    assert statuses == {"SUCCESS"}
