"""Regression tests for issue 12, items 2 to 18 (item 1 is in test_readonly.py): interrupts and
SystemExit, workflow names, step names of callables, replayed errors, rows deleted by hand,
fork, relative journal paths, duration validation, a deleted journal, stream reads, clock jumps,
a second DBOS(), Ctrl-C under a lock, copies and backups of a journal, log messages, and the
examples in the README and the module docstring.

Programs that must be signalled, killed or watched run as real subprocesses (ScriptApps: their
source is here); steps append a line to a log for every run, so "ran once" is checked on what
really ran. Every wait is bounded: a hang fails the test instead of hanging the suite."""

import logging
import math
import os
import textwrap
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

import dbos_lite
import sqlite_here
from conftest import journal_url
from dbos_lite import (
    DBOS,
    DBOSException,
    DBOSInitializationError,
    SetWorkflowID,
    SetWorkflowTimeout,
)
from harness import ScriptApps, call_with_id, journal_rows, row_changes, within

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Long enough for a heartbeat of the live process (when it looks for work to recover) and more.
WINDOW_SEC = dbos_lite._HEARTBEAT_SEC + 2.0


def wait_until(predicate, timeout=10.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.01)


def lines_before(apps, event):
    """The log lines written before the first line with ``event``."""
    lines = apps.lines()
    index = next((i for i, line in enumerate(lines) if line[2] == event), None)
    assert index is not None, f"no {event!r} line in the log:\n{apps.log_text()}"
    return lines[:index]


# ---- programs watched for WINDOW_SEC (items 2 and 3), started together ----

INTERRUPTED_APP = """
    # A step's first run is interrupted: MODE "raise" raises KeyboardInterrupt in it, "sigint"
    # sends SIGINT to this process from it. The program catches the KeyboardInterrupt and lives
    # on for APP_WINDOW_SEC; then "raise" resumes the workflow with DBOS.resume_workflow and
    # "sigint" exits normally; MODE "recover" is a later launch that waits for it to finish.
    DBOS(config=config("interrupt-app"))

    @DBOS.step()
    def first() -> int:
        log(DBOS.workflow_id, "step", "first")
        return 1

    @DBOS.step()
    def interrupted() -> int:
        earlier_runs = logged("step", "interrupted")
        log(DBOS.workflow_id, "step", "interrupted")
        if earlier_runs == 0:
            if MODE == "raise":
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(30)  # the KeyboardInterrupt is raised here
        return 2

    @DBOS.workflow()
    def job() -> int:
        return first() + interrupted()

    DBOS.launch()
    if MODE == "recover":
        finished = wait_finished(lambda: [DBOS.get_workflow_status("job-1")],
                                 time.monotonic() + 20)
        print_summary({"job-1": status_of("job-1")})
        sys.exit(0 if finished else 3)
    try:
        with SetWorkflowID("job-1"):
            job()
        log("job-1", "not-interrupted")
    except KeyboardInterrupt:
        log("job-1", "caught", "KeyboardInterrupt")
    time.sleep(float(env("window_sec")))  # the program lives on; nothing may run job-1 now
    log("job-1", "window-end")
    summary = {"after_window": status_of("job-1")}
    if MODE == "raise":
        summary["resumed"] = DBOS.resume_workflow("job-1").get_result()
        summary["job-1"] = status_of("job-1")
    print_summary(summary)
    DBOS.destroy()
"""

SYSTEM_EXIT_APP = """
    # A background workflow whose step raises SystemExit; the program lives on for
    # APP_WINDOW_SEC. No logging configuration: what dbos_lite logs at WARNING or above reaches
    # stderr through Python's last-resort handler.
    DBOS(config=config("exit-app"))

    @DBOS.step()
    def stop_here() -> None:
        log(DBOS.workflow_id, "step", "stop_here")
        raise SystemExit("maintenance window")

    @DBOS.workflow()
    def job() -> None:
        stop_here()

    DBOS.launch()
    with SetWorkflowID("job-1"):
        DBOS.start_workflow(job)
    time.sleep(float(env("window_sec")))
    print_summary({"job-1": status_of("job-1")})
    DBOS.destroy()
"""


@pytest.fixture(scope="module")
def watched(tmp_path_factory):
    """The programs of items 2 and 3, each living WINDOW_SEC, started together so that this
    file waits for that window once, not once per test: {name: (apps, process)}."""
    runs = {}
    for name, source, mode in (("raise", INTERRUPTED_APP, "raise"),
                               ("sigint", INTERRUPTED_APP, "sigint"),
                               ("system_exit", SYSTEM_EXIT_APP, "")):
        apps = ScriptApps(tmp_path_factory.mktemp(name), source)
        runs[name] = (apps, apps.start(mode, window_sec=WINDOW_SEC))
    yield runs
    for apps, _ in runs.values():
        apps.kill_all()


def assert_left_alone_during_the_window(apps, summary):
    window = lines_before(apps, "window-end")
    assert [line for line in window if line[2] == "caught"], apps.log_text()
    steps = [line[3] for line in window if line[2] == "step"]
    assert steps == ["first", "interrupted"], (
        f"the live process ran job-1 again by itself: {steps}\n{apps.log_text()}")
    assert summary["after_window"]["status"] == "PENDING", summary


# ---- 2: a KeyboardInterrupt in a foreground workflow, caught by the program ----


@pytest.mark.slow
@pytest.mark.deliberate_difference(
    "calling again the id of a workflow that a BaseException left PENDING resumes it; on "
    "DBOS Transact 3.4 the call waits for ever (nothing runs it before a relaunch)"
)
def test_a_keyboard_interrupt_raised_in_a_step_leaves_the_workflow_pending_until_resumed(
        watched):
    apps, proc = watched["raise"]
    code, summary, stderr = apps.finish(proc, timeout=WINDOW_SEC + 30)
    assert code == 0, stderr
    assert_left_alone_during_the_window(apps, summary)
    assert summary["resumed"] == 3
    assert summary["job-1"]["status"] == "SUCCESS"
    assert apps.count("step", "first", "job-1") == 1
    assert apps.count("step", "interrupted", "job-1") == 2  # interrupted, then on resume


@pytest.mark.slow
def test_sigint_inside_a_step_leaves_the_workflow_pending_until_a_new_launch(watched):
    apps, proc = watched["sigint"]
    code, summary, stderr = apps.finish(proc, timeout=WINDOW_SEC + 30)
    assert code == 0, stderr
    assert_left_alone_during_the_window(apps, summary)

    again, code, summary, stderr = apps.run("recover")
    assert code == 0, stderr
    assert summary["job-1"]["status"] == "SUCCESS", summary
    assert summary["job-1"]["output"] == 3
    assert apps.count("step", "first", "job-1") == 1
    assert apps.count("step", "interrupted", "job-1") == 2
    assert apps.count("step", "interrupted", "job-1", pid=again.pid) == 1


# ---- 3: SystemExit in a background workflow ----


@pytest.mark.slow
def test_system_exit_in_a_background_step_is_logged_and_never_rerun(watched):
    apps, proc = watched["system_exit"]
    code, summary, stderr = apps.finish(proc, timeout=WINDOW_SEC + 30)
    assert code == 0, stderr
    assert apps.count("step", "stop_here", "job-1") == 1, (
        f"re-run behind the program's back:\n{apps.log_text()}")
    assert summary["job-1"]["status"] == "PENDING", summary  # interrupted, not dead-lettered
    assert "job-1" in stderr and "maintenance window" in stderr, (
        f"the SystemExit was not logged with the workflow id:\n{stderr}")


# ---- 4: one workflow name, one function; one journal, one app ----


def process_defined_in(module):
    """A function ``process`` as the module ``module`` would define it."""
    def process(order: int) -> int:
        return order

    process.__module__ = module
    process.__qualname__ = "process"
    return process


def test_two_functions_with_one_workflow_name_are_refused(dbos):
    DBOS.workflow()(process_defined_in("billing"))
    with pytest.raises(DBOSException, match="process"):
        DBOS.workflow()(process_defined_in("shipping"))


def test_two_functions_given_one_workflow_name_are_refused(dbos):
    DBOS.workflow(name="nightly")(process_defined_in("billing"))
    with pytest.raises(DBOSException, match="nightly"):
        DBOS.workflow(name="nightly")(process_defined_in("shipping"))


TWO_MODULES_APP = """
    DBOS(config=config("modules-app"))
    import billing
    try:
        import shipping
    except DBOSException as exc:
        print_summary({"refused": type(exc).__name__, "message": str(exc)})
    else:
        print_summary({"refused": None})
"""

PROCESS_MODULE = '''
from dbos_lite import DBOS


@DBOS.workflow()
def process(order: int) -> str:
    return "{module} " + str(order)
'''


@pytest.mark.slow
def test_two_modules_defining_one_workflow_are_refused(tmp_path):
    for module in ("billing", "shipping"):
        (tmp_path / f"{module}.py").write_text(PROCESS_MODULE.replace("{module}", module))
    with ScriptApps(tmp_path, TWO_MODULES_APP) as apps:
        _, code, summary, stderr = apps.run()
        assert code == 0, stderr
        assert summary["refused"] is not None, "shipping.process replaced billing.process"
        assert "process" in summary["message"], summary


TWO_APPS_APP = """
    DBOS(config=config(env("name")))

    @DBOS.step()
    def work(k: int) -> int:
        log(DBOS.workflow_id, "start", k)
        if k == 2 and MODE == "start":
            time.sleep(60)  # the test kills the process here
        log(DBOS.workflow_id, "end", k)
        return k

    @DBOS.workflow()
    def job() -> int:
        return work(1) + work(2)

    try:
        DBOS.launch()
    except DBOSInitializationError as exc:
        print_summary({"refused": str(exc)})
        sys.exit(0)
    if MODE == "start":
        with SetWorkflowID("job-1"):
            job()
    # MODE "look": leave recovery the time to take job-1, if this process would
    wait_finished(lambda: [DBOS.get_workflow_status("job-1")], time.monotonic() + 5)
    print_summary({"refused": None, "job-1": status_of("job-1")})
    DBOS.destroy()
"""


@pytest.mark.slow
@pytest.mark.deliberate_difference(
    "a journal belongs to one application: a launch with another name is refused; DBOS "
    "Transact shares a system database between applications"
)
def test_a_journal_belongs_to_the_app_that_created_it(tmp_path):
    with ScriptApps(tmp_path, TWO_APPS_APP) as apps:
        first = apps.start("start", name="app-a")
        apps.wait_for_line(first, "start", 2, "job-1")
        apps.kill(first)
        before = journal_rows(apps.journal, "job-1")

        other, code, summary, stderr = apps.run("look", name="app-b")
        assert code == 0, stderr
        assert summary["refused"] is not None, f"app-b launched on app-a's journal: {summary}"
        assert "app-a" in summary["refused"], summary
        assert apps.lines(pid=other.pid) == [], "app-b ran app-a's workflow"
        after = journal_rows(apps.journal, "job-1")
        assert after == before, row_changes(before, after)

        again, code, summary, stderr = apps.run("look", name="app-a")
        assert code == 0, stderr
        assert summary["job-1"]["status"] == "SUCCESS", summary
        assert summary["job-1"]["output"] == 3
        assert apps.count("start", 1, "job-1") == apps.count("end", 1, "job-1") == 1
        assert apps.count("start", 2, "job-1") == 2
        assert apps.count("end", 2, "job-1", pid=again.pid) == 1


# ---- 5: steps that are not plain functions get names without memory addresses ----

CALLABLES_APP = """
    import functools

    DBOS(config=config("callables-app"))

    def add(a: int, b: int) -> int:
        log(DBOS.workflow_id, "step", "add")
        return a + b

    class Scale:
        def __init__(self, factor: int):
            self.factor = factor

        def __call__(self, x: int) -> int:
            log(DBOS.workflow_id, "step", "scale")
            return x * self.factor

    @DBOS.step()
    def last() -> None:
        log(DBOS.workflow_id, "step", "last")
        if MODE == "crash":
            os.kill(os.getpid(), signal.SIGKILL)

    @DBOS.workflow()
    def job() -> int:
        total = DBOS.run_step(None, functools.partial(add, 1), 2)
        total = DBOS.run_step(None, Scale(10), total)
        last()
        return total

    DBOS.launch()
    if MODE == "crash":
        with SetWorkflowID("job-1"):
            job()
    wait_finished(lambda: [DBOS.get_workflow_status("job-1")], time.monotonic() + 20)
    print_summary({"job-1": status_of("job-1")})
    DBOS.destroy()
"""


@pytest.mark.slow
def test_partial_and_callable_object_steps_replay_after_a_crash(tmp_path):
    with ScriptApps(tmp_path, CALLABLES_APP) as apps:
        _, code, _, stderr = apps.run("crash")
        assert code == -signal.SIGKILL, stderr
        _, code, summary, stderr = apps.run("recover")
        assert code == 0, stderr
        job = summary["job-1"]
        assert len(job["steps"]) == 3, job
        assert not [name for name in job["steps"] if "0x" in name], job["steps"]
        assert job["status"] == "SUCCESS", job
        assert job["output"] == 30
        assert apps.count("step", "add", "job-1") == 1
        assert apps.count("step", "scale", "job-1") == 1
        assert apps.count("step", "last", "job-1") == 2


def test_a_lambda_step_gets_a_stable_name_or_a_clear_error(dbos):
    @DBOS.workflow()
    def job() -> int:
        return DBOS.run_step(None, lambda: 7)

    DBOS.launch()
    try:
        value = call_with_id("job-5", job)
    except DBOSException as exc:  # refused at call time: it must ask for a name
        assert "name" in str(exc), exc
        return
    assert value == 7
    (step,) = DBOS.list_workflow_steps("job-5")
    assert "0x" not in step["function_name"], step


# ---- 6: a replayed workflow error is the error the workflow raised ----


def assert_is_the_original(error):
    assert error.args == ("bad input 42",)
    assert getattr(error, "__notes__", None) is None, error.__notes__


def test_a_replayed_workflow_error_looks_like_the_original(dbos):
    @DBOS.workflow(name="reject_input")
    def reject_input(n: int) -> int:
        raise ValueError(f"bad input {n}")

    DBOS.launch()
    for call in ("first call", "replay"):
        with pytest.raises(ValueError, match="^bad input 42$") as info:
            call_with_id("job-6", reject_input, 42)
        assert_is_the_original(info.value)
    assert isinstance(info.value.dbos_traceback, str)
    assert "reject_input" in info.value.dbos_traceback
    with pytest.raises(ValueError, match="^bad input 42$") as info:
        DBOS.retrieve_workflow("job-6").get_result()
    assert_is_the_original(info.value)


REJECT_APP = """
    DBOS(config=config("test-app"))  # conftest's app name: the test process opens this journal

    @DBOS.workflow(name="reject_input")
    def reject_input(n: int) -> int:
        raise ValueError(f"bad input {n}")

    DBOS.launch()
    try:
        with SetWorkflowID("job-6"):
            reject_input(42)
    except ValueError as exc:
        print_summary({"error": repr(exc)})
    DBOS.destroy()
"""


@pytest.mark.slow
def test_a_workflow_error_replayed_after_a_restart_looks_like_the_original(
        dbos, tmp_path, journal_path):
    with ScriptApps(tmp_path, REJECT_APP) as apps:
        assert apps.journal == journal_path
        _, code, summary, stderr = apps.run()
        assert code == 0, stderr
        assert summary == {"error": "ValueError('bad input 42')"}

    @DBOS.workflow(name="reject_input")
    def reject_input(n: int) -> int:
        raise AssertionError("replayed: the body must not run again")

    DBOS.launch()
    with pytest.raises(ValueError, match="^bad input 42$") as info:
        call_with_id("job-6", reject_input, 42)
    assert_is_the_original(info.value)
    assert "reject_input" in info.value.dbos_traceback


# ---- 7: a workflow whose row was deleted by hand ----


def test_a_workflow_whose_row_was_deleted_by_hand_runs_afresh(dbos, journal_path):
    runs = []

    @DBOS.step()
    def stamp(k: int) -> int:
        runs.append(k)
        return len(runs)

    @DBOS.workflow()
    def job() -> list[int]:
        return [stamp(1), stamp(2)]

    DBOS.launch()
    assert call_with_id("job-7", job) == [1, 2]
    with sqlite_here.connect(journal_path) as shell:  # as in the sqlite3 shell: no foreign keys
        shell.execute("PRAGMA foreign_keys = OFF")
        shell.execute("DELETE FROM workflow_status WHERE workflow_id = ?", ("job-7",))

    assert call_with_id("job-7", job) == [3, 4]
    assert runs == [1, 2, 1, 2]
    assert DBOS.get_workflow_status("job-7").status == "SUCCESS"
    assert [(s["function_id"], s["output"]) for s in DBOS.list_workflow_steps("job-7")] == [
        (1, 3), (2, 4)]


# ---- 8: fork after launch ----

FORK_APP = """
    import multiprocessing

    DBOS(config=config("fork-app"))

    @DBOS.step()
    def record(name: str) -> str:
        log(DBOS.workflow_id, "step", name)
        return name

    @DBOS.workflow()
    def job(name: str) -> str:
        return record(name)

    @DBOS.workflow()
    def waiter() -> str:
        record("before")
        message = DBOS.recv("go", timeout_seconds=60)
        return f"{message}+{record('after')}"

    def run_in_child(report_path: str) -> None:
        try:
            with SetWorkflowID("child-1"):
                value = job("child")
            report = {"value": value, "executor_id": DBOS.executor_id,
                      "row_executor_id": DBOS.get_workflow_status("child-1").executor_id}
        except BaseException as exc:
            report = {"error": type(exc).__name__, "message": str(exc),
                      "dbos": isinstance(exc, DBOSException)}
        with open(report_path + ".tmp", "w") as f:
            json.dump(report, f)
        os.replace(report_path + ".tmp", report_path)

    DBOS.launch()
    parent_executor = DBOS.executor_id
    with SetWorkflowID("parent-1"):
        job("parent-1")
    with SetWorkflowID("waiter"):
        handle = DBOS.start_workflow(waiter)  # running (waiting) in the parent across the fork
    deadline = time.monotonic() + 10
    while not logged("step", "before") and time.monotonic() < deadline:
        time.sleep(0.01)
    report_path = env("report")
    if MODE == "fork":
        pid = os.fork()
        if pid == 0:
            run_in_child(report_path)
            sys.exit(0)  # a normal exit: the child runs its atexit handlers
        deadline = time.monotonic() + 10
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:  # hung
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
            time.sleep(0.02)
    else:
        child = multiprocessing.get_context("fork").Process(target=run_in_child,
                                                            args=(report_path,))
        child.start()
        child.join(10)
        if child.is_alive():  # hung
            child.kill()
            child.join()
    report = None
    if os.path.exists(report_path):
        with open(report_path) as f:
            report = json.load(f)
    DBOS.send("waiter", "go", "go")
    handle.get_result()
    with SetWorkflowID("parent-2"):
        job("parent-2")
    print_summary({"parent_executor": parent_executor, "child": report,
                   "waiter": status_of("waiter"), "parent-2": status_of("parent-2")})
    DBOS.destroy()
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["fork", "multiprocessing"])
def test_a_forked_child_gets_its_own_identity_or_a_clear_error(tmp_path, how):
    with ScriptApps(tmp_path, FORK_APP) as apps:
        parent, code, summary, stderr = apps.run(how, report=tmp_path / "child.json",
                                                 timeout=60)
        assert code == 0, stderr
        child = summary["child"]
        assert child is not None, f"the child hung (killed after 10 s)\n{stderr}"
        if "error" in child:
            assert child["dbos"], f"not a DBOSException: {child}"
            assert "fork" in child["message"].lower(), child
        else:
            assert child["value"] == "child"
            parent_executor = summary["parent_executor"]
            assert (child["executor_id"] != parent_executor
                    or child["row_executor_id"] != parent_executor), (
                f"the child ran as the parent's executor {parent_executor}: {child}")
            child_runs = apps.lines("step", "child", "child-1")
            assert len(child_runs) == 1 and child_runs[0][0] != parent.pid, apps.log_text()
        # The parent goes on: its waiting workflow and a new one finish, run by it alone.
        assert summary["waiter"]["status"] == "SUCCESS", summary
        assert summary["waiter"]["output"] == "go+after"
        assert summary["waiter"]["recovery_attempts"] == 1
        for name in ("before", "after"):
            assert apps.count("step", name, "waiter") == 1, apps.log_text()
            assert apps.count("step", name, "waiter", pid=parent.pid) == 1
        assert summary["parent-2"]["status"] == "SUCCESS", summary


# ---- 9: a relative journal path, then os.chdir ----


def test_a_relative_journal_path_stays_where_it_was_after_chdir(tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    DBOS.destroy(destroy_registry=True)
    DBOS(config={"name": "relative-app", "system_database_url": "sqlite:///rel.sqlite",
                 "sqlite_synchronous": "NORMAL",
                 "notification_listener_polling_interval_sec": 0.05})
    try:
        @DBOS.step()
        def double(x: int) -> int:
            return 2 * x

        @DBOS.workflow()
        def job(x: int) -> int:
            return double(x)

        DBOS.launch()
        assert call_with_id("before", job, 1) == 2
        monkeypatch.chdir(second)
        # Go on working for ten housekeeping rounds (each looks at the journal's file).
        deadline, n = time.monotonic() + 0.5, 0
        while time.monotonic() < deadline or n < 3:
            n += 1
            assert call_with_id(f"after-{n}", job, n) == 2 * n
        with SetWorkflowID("background"):
            assert DBOS.start_workflow(job, 50).get_result() == 100
    finally:
        DBOS.destroy(destroy_registry=True)
    assert os.listdir(second) == []
    assert sqlite_here.query(first / "rel.sqlite", "SELECT status, count(*) FROM workflow_status"
                             " GROUP BY status") == [("SUCCESS", n + 2)]


# ---- 10: durations are validated where they are given ----

NAN, INF = math.nan, math.inf


def only_retry():
    raise ConnectionError("never reached")


def succeed() -> str:
    return "ran"  # so that a step accepted today returns at once instead of retrying forever


@pytest.mark.parametrize("option, value", [
    ("interval_seconds", NAN), ("interval_seconds", INF), ("interval_seconds", -1.0),
    ("backoff_rate", NAN), ("backoff_rate", -2.0),
])
def test_step_retry_durations_are_validated_at_the_decorator(dbos, option, value):
    with pytest.raises(ValueError, match=option):
        DBOS.step(retries_allowed=True, **{option: value})(only_retry)


@pytest.mark.parametrize("option, value", [
    ("interval_seconds", NAN), ("interval_seconds", INF), ("backoff_rate", NAN),
])
def test_run_step_retry_durations_are_validated_and_nothing_recorded(dbos, option, value):
    @DBOS.workflow()
    def job() -> str:
        try:
            DBOS.run_step({"retries_allowed": True, option: value}, succeed)
        except ValueError as exc:
            return str(exc)
        return "accepted"

    DBOS.launch()
    assert re.search(option, within(5, call_with_id, "job-10", job))
    assert DBOS.list_workflow_steps("job-10") == []


def sleep_nan():
    DBOS.sleep(NAN)


def recv_nan():
    DBOS.recv("topic", timeout_seconds=NAN)


def get_event_nan():
    DBOS.get_event("job-10", "key", timeout_seconds=NAN)


@pytest.mark.parametrize("wait, parameter", [
    (sleep_nan, r"\bseconds\b"), (recv_nan, "timeout_seconds"),
    (get_event_nan, "timeout_seconds"),
])
def test_wait_durations_in_a_workflow_are_validated_and_nothing_recorded(dbos, wait, parameter):
    @DBOS.workflow()
    def job() -> str:
        try:
            wait()
        except ValueError as exc:
            return str(exc)
        return "accepted"

    DBOS.launch()
    assert re.search(parameter, within(5, call_with_id, "job-10", job))
    assert DBOS.list_workflow_steps("job-10") == []


def test_get_event_timeout_outside_a_workflow_is_validated(dbos):
    DBOS.launch()
    with pytest.raises(ValueError, match="timeout_seconds"):
        within(5, DBOS.get_event, "some-workflow", "key", NAN)


@pytest.mark.parametrize("timeout", [INF, 1e300, -1.0, NAN])
@pytest.mark.deliberate_difference(
    "durations are checked where they are given (NaN, infinite, zero or negative timeouts "
    "raise ValueError); DBOS Transact accepts them"
)
def test_workflow_timeouts_are_validated_and_no_workflow_is_started(dbos, timeout):
    @DBOS.workflow()
    def job() -> int:
        return 1

    def start_with_timeout():
        with SetWorkflowTimeout(timeout), SetWorkflowID("timed"):
            return job()

    DBOS.launch()
    with pytest.raises(ValueError, match="workflow_timeout_sec"):
        within(5, start_with_timeout)
    assert DBOS.get_workflow_status("timed") is None


@pytest.mark.parametrize("key", ["busy_timeout_sec", "notification_listener_polling_interval_sec"])
def test_config_durations_are_validated_and_no_journal_is_made(config, journal_path, key):
    DBOS.destroy(destroy_registry=True)
    try:
        # At DBOS(config=...), or at the latest at launch() (DBOSInitializationError for a
        # configuration error is fine too).
        with pytest.raises((ValueError, DBOSInitializationError), match=key):
            DBOS(config={**config, key: NAN})
            within(5, DBOS.launch)
    finally:
        DBOS.destroy(destroy_registry=True)
    assert not os.path.exists(journal_path)


# ---- 11: a journal deleted while a workflow waits ----


def test_a_deleted_journal_is_reported_a_few_times_not_at_every_poll(
        dbos, journal_path, caplog):
    @DBOS.workflow()
    def listener() -> str:
        return DBOS.recv("topic", timeout_seconds=60)

    DBOS.launch()
    with SetWorkflowID("listener"):
        DBOS.start_workflow(listener)
    wait_until(lambda: "DBOS.sleep" in [s["function_name"]
                                        for s in DBOS.list_workflow_steps("listener")],
               what="the listener's recv")
    with caplog.at_level(logging.ERROR, logger="dbos_lite"):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(journal_path + suffix):
                os.remove(journal_path + suffix)
        time.sleep(2.0)  # forty polling intervals of the conftest config
    errors = [r for r in caplog.records if r.name == "dbos_lite" and r.levelno >= logging.ERROR]
    housekeeping = [r for r in errors if "housekeeping" in r.getMessage()]
    assert len(housekeeping) <= 2, f"{len(housekeeping)} housekeeping errors in 2 s"
    assert len(errors) <= 3, [r.getMessage() for r in errors]


# ---- 12: reading a long stream ----


def test_reading_a_stream_of_ten_thousand_values_takes_well_under_three_seconds(dbos):
    @DBOS.workflow()
    def writer(n: int) -> None:
        for i in range(n):
            DBOS.write_stream("numbers", i)
        DBOS.close_stream("numbers")

    DBOS.launch()
    call_with_id("writer", writer, 10_000)
    began = time.monotonic()
    values = within(3, lambda: list(DBOS.read_stream("writer", "numbers")))
    elapsed = time.monotonic() - began
    assert values == list(range(10_000))
    assert elapsed < 3, elapsed


# ---- 13: a retry backoff while the wall clock jumps back ----


def test_a_retry_backoff_is_not_stretched_by_the_wall_clock_jumping_back(dbos, monkeypatch):
    offset = [0.0]
    real_time, real_time_ns = time.time, time.time_ns
    monkeypatch.setattr(time, "time", lambda: real_time() + offset[0])
    monkeypatch.setattr(time, "time_ns", lambda: real_time_ns() + int(offset[0] * 1e9))
    attempts = []

    def jump_back():
        offset[0] = -3600.0

    @DBOS.step(retries_allowed=True, interval_seconds=0.3, max_attempts=3)
    def flaky() -> str:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            threading.Timer(0.1, jump_back).start()  # while the step waits for attempt 2
            raise ConnectionError("the first attempt fails")
        return "ok"

    @DBOS.workflow()
    def job() -> str:
        return flaky()

    DBOS.launch()
    assert within(2, call_with_id, "job-13", job) == "ok"
    assert len(attempts) == 2
    assert attempts[1] - attempts[0] >= 0.3


# ---- 14: DBOS() again with another config ----


@pytest.mark.deliberate_difference(
    "a second DBOS(config=...) with a different config raises; DBOS Transact keeps the "
    "first one silently"
)
def test_dbos_again_with_another_config_is_refused(config, tmp_path):
    other_path = tmp_path / "other.sqlite"
    DBOS.destroy(destroy_registry=True)
    try:
        first = DBOS(config=config)
        assert DBOS(config=config) is first
        assert DBOS(config=dict(config)) is first  # an equal config is the same config
        with pytest.raises(DBOSException):
            DBOS(config={**config, "name": "another-app"})
        DBOS.launch()
        with pytest.raises(DBOSException):
            DBOS(config={**config, "system_database_url": journal_url(other_path)})
        assert DBOS(config=config) is first
    finally:
        DBOS.destroy(destroy_registry=True)
    assert not os.path.exists(other_path)


# ---- 15: Ctrl-C while a write waits for another process's lock ----

BLOCKED_APP = """
    DBOS(config=config("blocked-app", busy_timeout_sec=float(env("busy_timeout_sec"))))

    @DBOS.step()
    def step_one() -> int:
        log(DBOS.workflow_id, "step", "one")
        deadline = time.monotonic() + 20
        while not os.path.exists(env("go")) and time.monotonic() < deadline:
            time.sleep(0.01)  # until the test holds the journal's write lock
        log(DBOS.workflow_id, "recording", "one")
        return 1  # recording this waits for the lock

    @DBOS.workflow()
    def job() -> int:
        return step_one()

    DBOS.launch()
    with SetWorkflowID("job-1"):
        job()
    log("job-1", "returned")
"""


@pytest.mark.slow
def test_ctrl_c_during_a_write_blocked_by_another_process_exits_within_the_busy_timeout(
        tmp_path):
    busy_timeout_sec = 2.0
    go = tmp_path / "go"
    with ScriptApps(tmp_path, BLOCKED_APP) as apps:
        proc = apps.start(busy_timeout_sec=busy_timeout_sec, go=go)
        apps.wait_for_line(proc, "step", "one", "job-1")
        holder = sqlite3.connect(apps.journal, isolation_level=None, timeout=10)
        try:
            holder.execute("BEGIN IMMEDIATE")
            go.touch()
            apps.wait_for_line(proc, "recording", "one", "job-1")
            time.sleep(0.2)  # now inside the blocked write (nothing to observe there)
            os.kill(proc.pid, signal.SIGINT)
            interrupted = time.monotonic()
            try:
                proc.wait(timeout=4 * busy_timeout_sec)
            except subprocess.TimeoutExpired:
                pass
            elapsed = time.monotonic() - interrupted
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        _, stderr = apps.output(proc)
        assert proc.poll() is not None, "Ctrl-C did not stop the program"
        assert "KeyboardInterrupt" in stderr, stderr
        assert apps.count("returned", "-", "job-1") == 0
        assert elapsed < 1.5 * busy_timeout_sec, (
            f"exited {elapsed:.2f} s after Ctrl-C (busy_timeout_sec={busy_timeout_sec})")


# ---- 16: a copy of the journal file after a normal exit, and DBOS.backup ----

FINISHED_APP = """
    DBOS(config=config("copy-app"))

    @DBOS.step()
    def double(x: int) -> int:
        return 2 * x

    @DBOS.workflow()
    def job(x: int) -> int:
        return double(x)

    DBOS.launch()
    for i in range(5):
        with SetWorkflowID(f"job-{i}"):
            job(i)
    if MODE == "destroy":
        DBOS.destroy()
    elif MODE == "sys.exit":
        sys.exit(0)
    # MODE "end": the script just ends
"""


def workflows_in(path):
    """{workflow_id: status} of a journal file, read with the stdlib sqlite3 module."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return dict(conn.execute("SELECT workflow_id, status FROM workflow_status"))
    except sqlite3.OperationalError as exc:  # no such table: the copy has no journal in it
        return {"error": str(exc)}
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.parametrize("ending", ["destroy", "end", "sys.exit"])
def test_after_a_normal_exit_the_journal_file_alone_holds_every_workflow(tmp_path, ending):
    with ScriptApps(tmp_path, FINISHED_APP) as apps:
        _, code, _, stderr = apps.run(ending)
        assert code == 0, stderr
    copy = tmp_path / "copy" / "journal.sqlite"
    copy.parent.mkdir()
    shutil.copyfile(apps.journal, copy)  # the file only, without its -wal
    assert workflows_in(copy) == {f"job-{i}": "SUCCESS" for i in range(5)}


def test_backup_while_workflows_run_is_a_consistent_journal(dbos, tmp_path):
    stop = threading.Event()

    @DBOS.step()
    def tick(n: int) -> int:
        time.sleep(0.002)
        return n + 1

    @DBOS.workflow()
    def busy(limit: int) -> int:
        n = 0
        while n < limit and not stop.is_set():
            n = tick(n)
        return n

    @DBOS.workflow()
    def listener() -> str:
        return DBOS.recv("topic", timeout_seconds=60)

    DBOS.launch()
    for i in range(3):
        assert call_with_id(f"done-{i}", busy, 5) == 5
    with SetWorkflowID("listener"):
        DBOS.start_workflow(listener)
    running = []
    for i in range(4):  # recording steps until the backup is made
        with SetWorkflowID(f"running-{i}"):
            running.append(DBOS.start_workflow(busy, 100_000))
    wait_until(lambda: all(len(DBOS.list_workflow_steps(h.workflow_id)) >= 3 for h in running),
               what="the running workflows' steps")
    backup = tmp_path / "backup" / "journal.sqlite"
    backup.parent.mkdir()
    try:
        within(20, DBOS.backup, str(backup))
    finally:
        stop.set()
        for handle in running:
            handle.get_result()

    found = workflows_in(backup)
    for i in range(3):
        assert found[f"done-{i}"] == "SUCCESS", found
    conn = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:  # each running workflow's recorded steps are 1..k, none half-written
        for handle in running:
            ids = [row[0] for row in conn.execute(
                "SELECT function_id FROM operation_outputs WHERE workflow_id = ?"
                " ORDER BY function_id", (handle.workflow_id,))]
            assert ids == list(range(1, len(ids) + 1))
    finally:
        conn.close()
    from dbos_lite import DBOSClient

    client = DBOSClient(system_database_url=journal_url(backup))
    try:
        statuses = {w.workflow_id: w.status for w in client.list_workflows()}
    finally:
        client.destroy()
    assert {f"done-{i}" for i in range(3)} <= {w for w, s in statuses.items() if s == "SUCCESS"}
    assert statuses["listener"] == "PENDING"
    assert [statuses[h.workflow_id] for h in running] == ["PENDING"] * 4


# ---- 17: what the log says about replayed errors and recovered workflows ----

WAY_OUT = re.compile(r"fork_workflow|delete_workflow|\b(new|another|different) (workflow )?id",
                     re.I)


def test_replaying_a_recorded_error_logs_that_it_came_from_the_journal(dbos, caplog):
    @DBOS.workflow()
    def reject_input(n: int) -> int:
        raise ValueError(f"bad input {n}")

    DBOS.launch()
    with pytest.raises(ValueError):
        call_with_id("job-17", reject_input, 1)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="dbos_lite"):
        with pytest.raises(ValueError):
            call_with_id("job-17", reject_input, 1)
    messages = [r.getMessage() for r in caplog.records
                if r.name == "dbos_lite" and r.levelno >= logging.INFO]
    assert [m for m in messages
            if "job-17" in m and "journal" in m.lower() and WAY_OUT.search(m)], messages


RESUME_APP = """
    DBOS(config=config("resume-app", log_level="INFO"))

    @DBOS.step()
    def work(k: int) -> int:
        log(DBOS.workflow_id, "start", k)
        if k == 3 and MODE == "run":
            time.sleep(60)  # the test kills the process here
        return k

    @DBOS.workflow()
    def pipeline() -> int:
        return sum(work(k) for k in range(1, 6))

    DBOS.launch()
    print("EXECUTOR " + DBOS.executor_id, flush=True)
    if MODE == "run":
        with SetWorkflowID("job-1"):
            pipeline()
    wait_finished(lambda: [DBOS.get_workflow_status("job-1")], time.monotonic() + 20)
    print_summary({"job-1": status_of("job-1")})
    DBOS.destroy()
"""


@pytest.mark.slow
def test_recovering_a_workflow_logs_where_it_resumes_and_who_resumes_it(tmp_path):
    with ScriptApps(tmp_path, RESUME_APP) as apps:
        first = apps.start("run")
        apps.wait_for_line(first, "start", 3, "job-1")
        apps.kill(first)
        second, code, summary, stderr = apps.run("recover")
        assert code == 0, stderr
        assert summary["job-1"]["status"] == "SUCCESS", summary
        stdout, _ = apps.output(second)
        executor_id = next(line.split(" ", 1)[1] for line in stdout.splitlines()
                           if line.startswith("EXECUTOR "))
    lines = [line for line in stderr.splitlines()
             if "INFO" in line and "job-1" in line and executor_id in line
             and re.search(r"resum", line, re.I)
             and re.search(r"\b(step|operation)\s*#?\s*3\b", line, re.I)]
    assert lines, f"no INFO line says job-1 resumes at step 3 in {executor_id}:\n{stderr}"


# ---- 18: the examples in the README and in the module docstring run as written ----


def readme_quickstart():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    section = text[text.index("## Quickstart"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block in the README's Quickstart"
    return match.group(1)


def docstring_example():
    doc = dbos_lite.__doc__
    match = re.search(r"::\n\n((?:    .*\n|\n)+)", doc)
    assert match, "no literal block (::) in the module docstring"
    return textwrap.dedent(match.group(1))


@pytest.mark.slow
@pytest.mark.parametrize("example", [readme_quickstart, docstring_example],
                         ids=["readme", "docstring"])
def test_the_documented_example_runs_as_written(tmp_path, example):
    script = tmp_path / "example.py"
    script.write_text(example())
    env = dict(os.environ, PYTHONPATH=ROOT)
    outputs = []
    for run in ("first run", "second run"):  # the second replays the recorded result
        result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{run}:\n{result.stdout}\n{result.stderr}"
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] != ""


def test_a_body_left_running_by_destroy_records_nothing_through_the_next_launch(config):
    from conftest import wait_until

    # destroy() leaves a running body to stop at its next durable operation; a relaunch in the
    # same process resumes the workflow. The old body must not record through the new
    # instance: two executions recording one operation ended the workflow as ERROR.
    DBOS.destroy(destroy_registry=True)
    gate, calls = threading.Event(), []

    @DBOS.step()
    def first() -> str:
        calls.append("first")
        gate.wait(10)
        return "first"

    @DBOS.step()
    def second() -> str:
        calls.append("second")
        return "second"

    @DBOS.workflow()
    def job() -> str:
        value = first()
        DBOS.set_event("k", "v")
        return value + second()

    DBOS(config=config)
    DBOS.launch()
    with SetWorkflowID("left-running"):
        DBOS.start_workflow(job)
    wait_until(lambda: calls == ["first"], "the first step to start")
    DBOS.destroy()
    DBOS(config=config)
    DBOS.launch()  # resumes it: its first step runs again, in a new thread
    wait_until(lambda: calls.count("first") == 2, "the relaunch to run the first step again")
    gate.set()  # both bodies go on; only the launched one may record
    assert DBOS.retrieve_workflow("left-running").get_result() == "firstsecond"
    time.sleep(0.2)
    assert calls.count("second") == 1, calls
    assert DBOS.get_workflow_status("left-running").status == "SUCCESS"
    DBOS.destroy(destroy_registry=True)
