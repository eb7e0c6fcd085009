"""Several processes on one journal: tests/crash_app.py is run as subprocesses. A workflow runs
in one process at a time: orphans of a killed process are resumed by exactly one live process, a
live owner's workflow is never taken over, and calling its id from another process waits for it.

Log lines carry the pid of the process that ran the step, so who ran what is read from the log."""

import time

import pytest

import dbos_lite
from harness import CrashApps

pytestmark = pytest.mark.slow  # several processes, and a lease that must run out


def expected(i):
    """The result of pipeline(i * 100000), which mode "run" starts as job-i."""
    return i * 100000 * 10**5 + 12345


# ---- helpers: running, watching and killing crash_app.py ----


@pytest.fixture
def apps(tmp_path):
    with CrashApps(tmp_path) as runner:
        yield runner


def steps_by_pid(apps, workflow_id):
    """{pid: [(event, step), ...]} of the step lines of one workflow."""
    result = {}
    for pid, w, event, step in apps.lines():
        if w == workflow_id and event in ("start", "end"):
            result.setdefault(pid, []).append((event, int(step)))
    return result


def executor_of(apps, proc):
    """The executor id a crash_app process logged after its launch."""
    ids = [arg for pid, _, event, arg in apps.lines() if pid == proc.pid and event == "launched"]
    assert len(ids) == 1, apps.log_text()
    return ids[0]


def wait_launched(apps, proc, timeout=20.0):
    """Wait until a crash_app process has logged the end of its DBOS.launch()."""
    deadline = time.monotonic() + timeout
    while not any(pid == proc.pid and e == "launched" for pid, _, e, _ in apps.lines()):
        assert proc.poll() is None, apps.output(proc)
        assert time.monotonic() < deadline, apps.log_text()
        time.sleep(0.02)


# ---- tests ----


@pytest.mark.deliberate_difference(
    "launch() recovers the PENDING workflows of any dead process sharing the journal; DBOS "
    "Transact recovers those of its own executor_id"
)
def test_orphans_of_a_killed_process_are_resumed_by_exactly_one_of_two_processes(apps):
    count = 10
    ids = [f"job-{i}" for i in range(1, count + 1)]
    dead = apps.start("run", "NORMAL", count=count, slow_step=3, slow_sec=60)
    for workflow_id in ids:
        apps.wait_for_line(dead, "start", 3, workflow_id)
    apps.kill(dead)

    first = apps.start("recover", "NORMAL")  # two launches at once on the same orphans
    second = apps.start("recover", "NORMAL")
    results = [apps.finish(first), apps.finish(second)]
    for code, summary, stderr in results:
        assert code == 0, stderr
        for i, workflow_id in enumerate(ids, 1):
            assert summary[workflow_id]["status"] == "SUCCESS"
            assert summary[workflow_id]["output"] == expected(i)
            assert summary[workflow_id]["steps"] == ["work"] * 5

    resumed_by = {}
    for workflow_id in ids:
        runs = steps_by_pid(apps, workflow_id)
        assert runs.pop(dead.pid) == [("start", 1), ("end", 1), ("start", 2), ("end", 2),
                                      ("start", 3)]
        # Everything after the crash ran in one process, once: step 3 again, then 4 and 5.
        assert len(runs) == 1, (workflow_id, runs)
        (pid, lines), = runs.items()
        assert pid in (first.pid, second.pid)
        assert lines == [("start", 3), ("end", 3), ("start", 4), ("end", 4),
                         ("start", 5), ("end", 5)], (workflow_id, lines)
        resumed_by[workflow_id] = pid
    # Recorded as run by the process that resumed it (its executor id), recovered once.
    executors = {first.pid: executor_of(apps, first), second.pid: executor_of(apps, second)}
    rows = dict(apps.query("SELECT workflow_id, executor_id FROM workflow_status"))
    for workflow_id, pid in resumed_by.items():
        assert rows[workflow_id] == executors[pid]
    attempts = apps.query("SELECT DISTINCT recovery_attempts FROM workflow_status")
    assert attempts == [(2,)]


def test_a_live_owner_keeps_its_workflow_until_it_dies(apps):
    owner = apps.start("run", slow_step=3, slow_sec=60)
    apps.wait_for_line(owner, "start", 3)
    owner_executor = executor_of(apps, owner)

    other = apps.start("recover")  # launches on the same journal, waits for every workflow
    wait_launched(apps, other)
    # Stay past one heartbeat, when the other process looks for dead owners again.
    time.sleep(dbos_lite._HEARTBEAT_SEC + 1.0)
    assert other.poll() is None, apps.output(other)
    assert other.pid not in steps_by_pid(apps, "job-1"), apps.log_text()
    (status, executor_id, owner_id, attempts), = apps.query(
        "SELECT status, executor_id, owner, recovery_attempts FROM workflow_status"
        " WHERE workflow_id = 'job-1'")
    assert status == "PENDING"
    assert executor_id == owner_executor
    assert owner_id is not None
    assert attempts == 1

    # Once the owner dies, the live process takes over at its next heartbeat.
    apps.kill(owner)
    code, summary, stderr = apps.finish(other, timeout=dbos_lite._HEARTBEAT_SEC + 15)
    assert code == 0, stderr
    job = summary["job-1"]
    assert job["status"] == "SUCCESS"
    assert job["output"] == expected(1)
    assert job["executor_id"] == executor_of(apps, other)
    assert job["recovery_attempts"] == 2
    runs = steps_by_pid(apps, "job-1")
    assert runs == {
        owner.pid: [("start", 1), ("end", 1), ("start", 2), ("end", 2), ("start", 3)],
        other.pid: [("start", 3), ("end", 3), ("start", 4), ("end", 4), ("start", 5),
                    ("end", 5)],
    }


@pytest.mark.parametrize("owner_fate", ["finishes", "is_killed"])
def test_calling_a_running_workflow_id_from_another_process_waits_for_it(apps, owner_fate):
    slow_sec = 3 if owner_fate == "finishes" else 60
    owner = apps.start("run", slow_step=3, slow_sec=slow_sec)
    apps.wait_for_line(owner, "start", 3)

    caller = apps.start("call")  # pipeline(...) under SetWorkflowID("job-1")
    wait_launched(apps, caller)
    time.sleep(0.5)  # the caller is now waiting for the owner
    assert caller.poll() is None, apps.output(caller)
    assert caller.pid not in steps_by_pid(apps, "job-1")

    if owner_fate == "finishes":
        code, summary, stderr = apps.finish(owner)
        assert code == 0, stderr
        assert summary["job-1"]["output"] == expected(1)
    else:
        apps.kill(owner)
    code, summary, stderr = apps.finish(caller, timeout=dbos_lite._HEARTBEAT_SEC + 15)
    assert code == 0, stderr
    assert summary["job-1"]["status"] == "SUCCESS"
    assert summary["job-1"]["output"] == expected(1)

    runs = steps_by_pid(apps, "job-1")
    if owner_fate == "finishes":
        # The body ran once, in the owner; the caller only got its recorded result.
        assert runs == {owner.pid: [(e, k) for k in range(1, 6) for e in ("start", "end")]}
    else:
        # The caller's process recovered the orphan and ran the rest of it.
        assert runs == {
            owner.pid: [("start", 1), ("end", 1), ("start", 2), ("end", 2), ("start", 3)],
            caller.pid: [("start", 3), ("end", 3), ("start", 4), ("end", 4), ("start", 5),
                         ("end", 5)],
        }
