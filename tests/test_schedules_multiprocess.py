"""Several processes on one every-second schedule (tests/schedule_app.py as real
subprocesses): each scheduled time runs once however many processes fire it, a run cut short
by SIGKILL is resumed elsewhere without repeating its completed steps, times missed while no
process ran are run once each (automatic_backfill) or skipped, and a wall clock that jumps
neither doubles a time nor fires times the process was not up for. Each run's steps log
(pid, workflow id, event, real time); the checks read that log."""

import collections
import datetime
import os
import signal
import time

import pytest

from conftest import wait_until
from harness import Apps

pytestmark = pytest.mark.slow  # several processes, several seconds each

UTC = datetime.timezone.utc


class Schedule(Apps):
    """The processes of one test, on one journal and one log."""

    def __init__(self, tmp_path):
        super().__init__(tmp_path, "schedule_app.py", "runs.log", "SA_")

    def start(self, seconds=0, **settings):
        return self.spawn([str(seconds)], {f"SA_{k.upper()}": v for k, v in settings.items()})

    def stamp(self, proc, word, timeout=20):
        """The real time the process printed after ``word`` (START, READY, JUMPED)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.output(proc)[0].splitlines():
                if line.startswith(word + " "):
                    return float(line.split()[1])
            assert proc.poll() is None, self.output(proc)[1]
            time.sleep(0.02)
        pytest.fail(f"the process printed no {word} line in {timeout} s")

    def runs(self):
        """[(pid, workflow_id, scheduled epoch, start, end)] of the finished runs."""
        return [(pid, workflow_id, *map(float, arg.split()))
                for pid, workflow_id, _, arg in self.lines("run")]

    def wait_for(self, predicate, what, timeout=20):
        try:
            wait_until(predicate, what, timeout)
        except pytest.fail.Exception:
            pytest.fail(f"{what} did not happen in {timeout} s; log:\n{self.log_text()}")

    def sigkill(self, proc):
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return time.time()

    def stopped(self, proc, timeout=30):
        _, stderr, summary = self.exited(proc, timeout)
        assert summary == {}, stderr
        assert "Traceback" not in stderr, stderr

    def created_at(self):
        """{workflow id: created_at} of the scheduled runs in the journal."""
        return dict(self.query("SELECT workflow_id, created_at FROM workflow_status"
                               " WHERE schedule_name = 'tick'"))


@pytest.fixture
def schedule(tmp_path):
    with Schedule(tmp_path) as apps:
        yield apps


def doubled(lines, killed=()):
    """The workflow ids that ``lines`` (one event) show more than once. A step that ran in
    a process killed before its outcome was recorded runs again where the workflow is
    resumed: a line from a ``killed`` pid followed by one from elsewhere is not a double."""
    pids = collections.defaultdict(list)
    for pid, workflow_id, *_ in lines:
        pids[workflow_id].append(pid)
    return [workflow_id for workflow_id, found in pids.items()
            if len([p for p in found if p not in killed]) > 1
            or any(found.count(p) > 1 for p in killed)]


def once_each(runs, killed=()):
    """The scheduled times (whole seconds) of ``runs``, checking that none ran twice."""
    assert doubled(runs, killed) == []
    times = sorted({round(scheduled) for _, _, scheduled, _, _ in runs})
    assert len(times) == len({workflow_id for _, workflow_id, *_ in runs})
    return times


def assert_consecutive(times):
    missing = sorted(set(range(times[0], times[-1] + 1)) - set(times))
    assert missing == [], f"times missing: {missing} in {times}"


@pytest.mark.parametrize("processes", [2, 3])
def test_each_time_runs_once_across_processes(schedule, processes):
    procs = [schedule.start(seconds=6) for _ in range(processes)]
    ready = [schedule.stamp(proc, "READY") for proc in procs]
    stopping = []
    for proc in procs:
        schedule.stopped(proc)
        stopping.append(schedule.stamp(proc, "STOPPING"))
    runs = schedule.runs()
    times = once_each(runs)
    assert_consecutive(times)
    # None missing while the processes were up: from the first ready to the first stopping.
    assert times[0] <= min(ready) + 2 and times[-1] >= min(stopping) - 2, (ready, times)
    assert len(times) >= 4
    for _, workflow_id, scheduled, start, end in runs:
        assert start >= scheduled - 0.05  # never early (real clock)
        assert workflow_id.startswith("sched-tick-") and workflow_id.endswith("+00:00")


def test_a_process_that_did_not_create_the_schedule_takes_over(schedule):
    """The process that created the schedule is killed soon after; another, up all along
    but with no schedule of its own, goes on firing: no time missing."""
    other = schedule.start(seconds=6, apply=0)
    schedule.stamp(other, "READY")
    creator = schedule.start()
    schedule.stamp(creator, "READY")
    schedule.wait_for(lambda: len(schedule.lines("run", pid=creator.pid)) >= 1, "a run")
    schedule.sigkill(creator)
    schedule.stopped(other)
    stopping = schedule.stamp(other, "STOPPING")
    times = once_each(schedule.runs(), killed={creator.pid})
    assert_consecutive(times)
    assert times[-1] >= stopping - 2, (times, stopping)


def test_a_run_killed_mid_step_is_resumed_elsewhere_and_its_steps_not_repeated(schedule):
    settings = {"step_sec": 1.0, "heartbeat": 0.3}
    doomed = schedule.start(**settings)
    survivor = schedule.start(**settings)
    schedule.stamp(doomed, "READY")
    schedule.stamp(survivor, "READY")
    schedule.wait_for(lambda: schedule.lines("slow-start", pid=doomed.pid), "a run in the doomed "
                      "process")
    time.sleep(0.2)
    schedule.sigkill(doomed)
    cut = {w for _, w, _, _ in schedule.lines("slow-start", pid=doomed.pid)} \
        - {w for _, w, _, _ in schedule.lines("slow-end", pid=doomed.pid)}
    assert cut, "no run was cut short by the kill"
    finished = {w for _, w, _, _ in schedule.lines("run")}
    schedule.wait_for(lambda: cut <= {w for _, w, _, _ in schedule.lines("run")},
                      "the killed runs finished elsewhere")
    schedule.wait_for(lambda: len(schedule.lines("run")) >= len(finished) + 3, "more runs")
    schedule.sigkill(survivor)
    for workflow_id in cut:
        # Resumed in the survivor: "first" (done before the kill) not again; "slow" again.
        assert len(schedule.lines("first", workflow_id=workflow_id)) == 1
        assert len(schedule.lines("slow-start", workflow_id=workflow_id)) == 2
        [(pid, *_)] = schedule.lines("slow-end", workflow_id=workflow_id)
        assert pid == survivor.pid
        [(pid, *_)] = schedule.lines("run", workflow_id=workflow_id)
        assert pid == survivor.pid
    # No time doubled, no step that finished ran again, in any run.
    for event in ("first", "slow-end", "run"):
        assert doubled(schedule.lines(event), killed={doomed.pid}) == [], event
    assert_consecutive(once_each(schedule.runs(), killed={doomed.pid}))
    for workflow_id in cut:
        assert schedule.query("SELECT status FROM workflow_status WHERE workflow_id = ?",
                              (workflow_id,)) == [("SUCCESS",)]


@pytest.mark.parametrize("backfill", [True, False])
def test_downtime(schedule, backfill):
    """Killed, the journal idle ~3 s, started again: with automatic_backfill the missed times
    run once each, in order; without it they are skipped."""
    settings = {"backfill": "1" if backfill else "0"}
    first = schedule.start(**settings)
    schedule.stamp(first, "READY")
    schedule.wait_for(lambda: len(schedule.lines("run")) >= 2, "two runs")
    killed = schedule.sigkill(first)
    time.sleep(3)
    second = schedule.start(seconds=3, **settings)
    ready = schedule.stamp(second, "READY")
    schedule.stopped(second)
    times = once_each(schedule.runs(), killed={first.pid})
    assert doubled(schedule.lines("first"), killed={first.pid}) == []
    assert times[-1] >= ready + 1
    missed = [t for t in times if killed + 0.5 < t < ready - 0.5]
    if backfill:
        assert_consecutive(times)
        assert len(missed) >= 2
        # In order: each time's run was created no later than the next time's.
        created = schedule.created_at()
        by_time = [created[f"sched-tick-{datetime.datetime.fromtimestamp(t, UTC).isoformat()}"]
                   for t in times]
        assert by_time == sorted(by_time), "the missed times were not run in order"
    else:
        assert missed == [], (killed, ready, times)


@pytest.mark.parametrize("jump", [3600.0, -5.0])
def test_a_wall_clock_jump(schedule, jump):
    """The wall clock set forward an hour runs only the times the process was really up for
    (no hour of catching up without backfill); set back, it runs nothing twice and nothing
    from before the process started."""
    # Set back 5 s, it runs long enough for the clock to pass the times it ran before.
    proc = schedule.start(seconds=6 if jump > 0 else 8, jump_after=1.5, jump_by=jump)
    started = schedule.stamp(proc, "START")
    schedule.stopped(proc)
    jumped = schedule.stamp(proc, "JUMPED")
    stopping = schedule.stamp(proc, "STOPPING")
    times = once_each(schedule.runs())
    assert times[0] >= started - 0.5  # nothing from before the process started
    up = stopping - started
    assert len(times) <= up + 2, f"{len(times)} times fired in {up:.1f} s of uptime"
    if jump > 0:
        before = [t for t in times if t < jumped + jump / 2]
        after = [t for t in times if t >= jumped + jump / 2]
        assert before and after
        assert_consecutive(before)
        assert_consecutive(after)
        # After the jump, only times the process was up for in the new clock's terms.
        assert after[0] >= started + jump - 0.5, (started, jumped, times)
    else:
        # Set back: the times already run are not run again; once the clock is past them,
        # the schedule goes on from where it was.
        assert_consecutive(times)
        before = [round(t) for _, _, t, start, _ in schedule.runs() if start < jumped]
        assert max(times) > max(before)  # it went on
        assert times[-1] <= stopping + jump + 1
