"""kill -9 torture, CI-sized: tests/torture.py SIGKILLs tests/torture_app.py at random moments and
checks that nothing recorded was lost and nothing completed ran twice (see its docstring for every
check). The long run is ``python tests/torture.py --kills 500 --seed 1`` (README).

Each test calls the driver and asserts on its report, so a failure prints what was violated."""

import json
import shutil
import sqlite3

import pytest

import torture

pytestmark = pytest.mark.slow  # each test runs torture_app.py processes for seconds


def assert_passed(report, min_kills):
    assert report.ok, report.summary()
    assert report.kills >= min_kills, report.summary()
    assert report.steps_total == report.rounds * report.options["workflows"] * \
        report.options["steps"], report.summary()
    # Kills that land inside steps are what makes the run a test of "nothing runs twice".
    assert report.kills_in_step > 0, report.summary()
    print(report.summary())


@pytest.mark.parametrize("sync", ["FULL", "NORMAL"])
def test_single_process(tmp_path, sync):
    report = torture.run(kills=20, seed=11, sync=sync, workflows=20, steps=6,
                         journal_dir=tmp_path)
    assert_passed(report, 20)
    assert report.reexecuted_steps > 0, report.summary()


def test_several_processes_on_one_journal(tmp_path):
    # Each of the 3 apps is killed at its own moments; the log shows no workflow ran in two
    # processes at once, and none moved away from a live process.
    report = torture.run(kills=30, seed=12, sync="NORMAL", workflows=20, steps=6, processes=3,
                         journal_dir=tmp_path)
    assert_passed(report, 30)
    assert report.moves > 0, report.summary()  # workflows did go on in other processes


def test_live_snapshots_of_the_journal(tmp_path):
    report = torture.run(kills=20, seed=13, sync="FULL", workflows=20, steps=6, snapshots=True,
                         journal_dir=tmp_path)
    assert_passed(report, 20)
    assert report.snapshots_checked >= 10, report.summary()
    assert report.snapshot_pending > 0, report.summary()  # copies taken mid-work


# ---- the checks themselves: a check that cannot fail proves nothing ----


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A short torture whose kills land after launch, inside slow steps."""
    directory = tmp_path_factory.mktemp("small")
    report = torture.run(kills=6, seed=5, workflows=4, steps=4, step_ms=300, kill_min=0.25,
                         kill_max=0.6, journal_dir=directory)
    assert report.ok, report.summary()
    assert report.kills_in_step > 0, report.summary()
    return directory


def tampered(small_run, tmp_path):
    directory = tmp_path / "copy"
    shutil.copytree(small_run, directory)
    return directory


def log_lines(directory):
    return (directory / torture.LOG_NAME).read_text().splitlines()


def saved_runs(directory):
    with open(directory / torture.RUN_FILE) as f:
        return torture.load_app_runs(json.load(f))


def violations(directory, app_runs=None):
    with open(directory / torture.RUN_FILE) as f:
        rounds = json.load(f)["rounds"]
    report = torture.check(str(directory), workflows=4, steps=4, rounds=rounds,
                           app_runs=app_runs or saved_runs(directory))
    assert not report.ok
    return "\n".join(report.violations)


def test_a_step_run_twice_without_a_kill_is_caught(small_run, tmp_path):
    directory = tampered(small_run, tmp_path)
    event, pid, workflow_id, k, t = next(
        line.split() for line in log_lines(directory) if line.startswith("start "))
    # An earlier run of that step, in a process that was never killed, that ran to its end.
    with open(directory / torture.LOG_NAME, "a") as f:
        f.write(f"start 999999 {workflow_id} {k} {int(t) - 2000}\n")
        f.write(f"end 999999 {workflow_id} {k} {int(t) - 1000}\n")
    text = violations(directory)
    assert "comes from pid 999999, which the driver was not running then" in text
    assert f"{workflow_id} step {k}: ran again in pid {pid} although pid 999999, which ran it " \
        "to its end, was never killed" in text


def test_a_lost_record_is_caught(small_run, tmp_path):
    directory = tampered(small_run, tmp_path)
    conn = sqlite3.connect(directory / torture.JOURNAL_NAME)
    with conn:
        conn.execute("DELETE FROM operation_outputs WHERE workflow_id = 't-1' AND function_id = 2")
    conn.close()
    text = violations(directory)
    assert "final journal: t-1 has operations [1, 3, 4] recorded" in text
    assert "log: t-1 step 2: ran (" in text


def test_a_wrong_recorded_value_is_caught(small_run, tmp_path):
    directory = tampered(small_run, tmp_path)
    conn = sqlite3.connect(directory / torture.JOURNAL_NAME)
    with conn:
        conn.execute("UPDATE operation_outputs SET output = '7'"
                     " WHERE workflow_id = 't-2' AND function_id = 3")
    conn.close()
    assert "t-2 step 3 recorded as 'step-3' output='7'" in violations(directory)


def test_a_workflow_taken_from_a_live_process_is_caught(small_run, tmp_path):
    directory = tampered(small_run, tmp_path)
    app_runs = saved_runs(directory)
    # A process killed inside a step: "forget" that it was killed.
    open_steps = {}
    for line in log_lines(directory):
        event, pid, workflow_id, k, _ = line.split()
        if event in ("start", "end"):
            open_steps.setdefault((int(pid), workflow_id, k), set()).add(event)
    killed = {r.pid: r for r in app_runs if r.killed is not None}
    pid = next(p for (p, _, _), events in open_steps.items() if events == {"start"} and p in killed)
    killed[pid].killed = None
    text = violations(directory, app_runs)
    assert f"pid {pid} started a step of" in text and "but it was not killed" in text


def test_a_reused_pid_is_told_apart_by_time():
    runs = [torture.AppRun(100, spawned=1000, ended=2000, killed=(1900, 2000)),
            torture.AppRun(101, spawned=1500, ended=5000),
            torture.AppRun(100, spawned=3000, ended=4000)]
    lines = [torture.LogLine("start", 100, "t-0", 1, 1800),
             torture.LogLine("start", 100, "t-0", 1, 3500),
             torture.LogLine("end", 101, "t-0", 1, 3600),
             torture.LogLine("end", 100, "t-0", 1, 4500)]
    report = torture.Report(options={})
    labelled, kills, _ = torture._label_processes(lines, runs, report)
    assert [line.pid for line in labelled] == ["100.1", "100.2", "101", "100"]
    assert kills == {"100.1": (1900, 2000)}
    assert report.violations == ["log: end t-0 1 at 4500 comes from pid 100, which the driver was "
                                 "not running then"]


def test_snapshot_copies_need_the_read_transaction(tmp_path):
    """Why snapshots hold a read transaction: without it, a checkpoint that restarts the WAL
    between the copy of the main file and the copy of the -wal gives a corrupt copy."""
    results = {}
    for guarded in (False, True):
        journal = str(tmp_path / f"{guarded}.sqlite")
        writer = sqlite3.connect(journal, isolation_level=None, timeout=0)
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        for _ in range(200):
            writer.execute("INSERT INTO t (v) VALUES (?)", ("x" * 500,))

        def checkpoint_then_write():
            writer.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
            writer.execute("INSERT INTO t (v) VALUES ('y')")  # restarts the WAL if it can

        target = str(tmp_path / f"copy-{guarded}.sqlite")
        assert torture.copy_journal(journal, target, guarded=guarded,
                                    between=checkpoint_then_write)
        writer.close()
        copy = sqlite3.connect(target)
        try:
            results[guarded] = (copy.execute("PRAGMA integrity_check").fetchall(),
                                copy.execute("SELECT count(*) FROM t").fetchall())
        except sqlite3.DatabaseError as exc:
            results[guarded] = str(exc)
        finally:
            copy.close()
    assert results[True] == ([("ok",)], [(201,)])
    assert results[False] != results[True], results
