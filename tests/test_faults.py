"""Journal faults: the disk fills up, another process holds the journal locked, the file or its
directory is read-only, the file is deleted or replaced while a program runs, the file is
corrupt.

What every fault must give: a ``DBOSJournalError`` (a ``DBOSException``) whose message says what
happened and what to do, never recorded as the workflow's outcome. The workflow stays PENDING,
user code cannot swallow the failure with ``except Exception``, and once the fault is gone the
workflow finishes (relaunch, call it again with its id, or ``DBOS.resume_workflow``) with its
completed steps not run again. At launch, a read-only or corrupt journal is refused with
``DBOSInitializationError`` and left as it was.

Faults are made for real: a file-size limit (``RLIMIT_FSIZE``) or a full tmpfs for the disk, a
``BEGIN IMMEDIATE`` held by another process for the lock, file modes (as an unprivileged user
when the tests run as root) or a read-only bind mount for read-only files, and bytes written
over the file for corruption. Fault injections that need privileges skip, saying why, where the
machine does not allow them. The journal is inspected with the stdlib ``sqlite3`` module only
while no dbos_lite connection to it is open in this process (or from another process): two
SQLite libraries in one process do not see each other's POSIX locks."""

import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import pytest

import dbos_lite
from dbos_lite import DBOS, DBOSException, DBOSInitializationError, SetWorkflowID

from conftest import journal_url
from harness import call_with_id, within

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TABLES = {"workflow_status", "operation_outputs", "processes", "notifications", "message_keys",
          "workflow_events", "streams"}


# ---- Helpers --------------------------------------------------------------------------------


def journal_error_class():
    cls = getattr(dbos_lite, "DBOSJournalError", None)
    if cls is None:
        pytest.fail("dbos_lite.DBOSJournalError does not exist")
    assert issubclass(cls, DBOSException)
    return cls


def assert_journal_error(exc: BaseException, *patterns: str) -> None:
    """``exc`` is a DBOSJournalError whose message matches every regex in ``patterns``."""
    cls = journal_error_class()
    assert isinstance(exc, cls), f"expected DBOSJournalError, got {type(exc).__name__}: {exc}"
    message = str(exc)
    for pattern in patterns:
        assert re.search(pattern, message, re.I), f"{pattern!r} not in message: {message}"


def sha256(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def snapshot(directory) -> dict:
    return {name: sha256(os.path.join(directory, name)) for name in sorted(os.listdir(directory))
            if os.path.isfile(os.path.join(directory, name))}


def inspect_journal(path) -> dict:
    """Integrity, tables and workflows of a journal, read with the stdlib sqlite3 module (only
    call this while this process has no dbos_lite connection to the file)."""
    conn = sqlite3.connect(path, timeout=10)
    try:
        return {
            "integrity": conn.execute("PRAGMA integrity_check").fetchall(),
            "tables": {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'table'")},
            "workflows": dict(conn.execute("SELECT workflow_id, status FROM workflow_status")),
            "steps": conn.execute("SELECT workflow_id, function_id, function_name"
                                  " FROM operation_outputs ORDER BY workflow_id, function_id"
                                  ).fetchall(),
        }
    finally:
        conn.close()


def assert_intact(info: dict) -> None:
    assert info["integrity"] == [("ok",)], info["integrity"]
    assert TABLES <= info["tables"], TABLES - info["tables"]


def run_python(code: str, *args, timeout=30.0, env=None, input_text=None):
    """Run a Python snippet in a fresh interpreter (dbos_lite importable); its CompletedProcess.
    Killed if it outlives ``timeout``."""
    environ = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", DBOS_LITE_ROOT=ROOT, **(env or {}))
    try:
        return subprocess.run([sys.executable, "-c", code, *map(str, args)], env=environ,
                              capture_output=True, text=True, timeout=timeout, input=input_text)
    except subprocess.TimeoutExpired as exc:  # subprocess.run killed it
        pytest.fail(f"subprocess timed out after {timeout} s\nstdout:\n{exc.stdout}\n"
                    f"stderr:\n{exc.stderr}")


def events(stdout: str) -> list[dict]:
    return [json.loads(line[len("EVENT "):]) for line in stdout.splitlines()
            if line.startswith("EVENT ")]


@contextlib.contextmanager
def tmpfs(mountpoint, size="1m"):
    """A tmpfs mounted at ``mountpoint`` (created), or a skip if this machine does not allow
    mounting."""
    os.makedirs(mountpoint, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot make a small file system")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                             str(mountpoint)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        if subprocess.run(["umount", str(mountpoint)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


@contextlib.contextmanager
def read_only_bind(path):
    """``path`` (a file or a directory) made read-only by a read-only bind mount onto itself,
    or a skip if this machine does not allow it."""
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot bind-mount read-only")
    first = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True,
                           text=True)
    if first.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {first.stderr.strip()}")
    try:
        second = subprocess.run(["mount", "-o", "remount,bind,ro", str(path)],
                                capture_output=True, text=True)
        if second.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {second.stderr.strip()}")
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


# ---- Disk full while recording --------------------------------------------------------------

# The app of the disk-full tests. Workflow "job": step_a, then step_b (whose body makes the disk
# full, once), then step_c. The workflow catches Exception around step_b, which must not catch
# the journal failure. Each step run, each call's outcome and statuses are printed as
# "EVENT {json}" lines (stdout is a pipe: the file-size limit does not apply to it).
DISK_FULL_APP = r'''
import json, os, resource, signal, sys, threading
sys.path.insert(0, os.environ["DBOS_LITE_ROOT"])
import dbos_lite
from dbos_lite import DBOS, SetWorkflowID

journal, mode, fault, filler = sys.argv[1:5]
JournalError = getattr(dbos_lite, "DBOSJournalError", ())
state = {"faulted": False}
# Past the file-size limit, a write fails with EFBIG instead of killing the process.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
soft0, hard0 = resource.getrlimit(resource.RLIMIT_FSIZE)

def emit(**fields):
    print("EVENT " + json.dumps(fields), flush=True)

def inject_fault():
    if fault == "file-size-limit":
        # Writes past 4 KiB fail with EFBIG (every WAL frame is past 4 KiB).
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard0))
    else:  # fill the file system the journal is on
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
        size = 1 << 16
        while size:
            try:
                os.write(fd, b"\0" * size)
            except OSError:
                size //= 2
        os.close(fd)
    emit(event="fault")

def lift_fault():
    if fault == "file-size-limit":
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft0, hard0))
    else:
        os.remove(filler)
    emit(event="lifted")

def guarded(what, fn):
    """fn() in a thread; a hang ends the process (the test reports it)."""
    box = {}
    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(8)
    if thread.is_alive():
        emit(event="hung", what=what)
        os._exit(3)
    return box

def describe_call(what, box):
    if "error" in box:
        exc = box["error"]
        emit(event="call", what=what, outcome="raised", type=type(exc).__name__,
             journal_error=isinstance(exc, JournalError), message=str(exc))
    else:
        emit(event="call", what=what, outcome="returned", value=box["value"])

def describe_status(when):
    box = guarded("status", lambda: (DBOS.get_workflow_status("job"),
                                     DBOS.list_workflow_steps("job")))
    if "error" in box:
        emit(event="status", when=when, error=f"{type(box['error']).__name__}: {box['error']}")
        return
    status, steps = box["value"]
    emit(event="status", when=when, status=status.status if status else None,
         error=None if status is None or status.error is None else repr(status.error),
         steps=[s["function_name"] for s in steps])

DBOS(config={"name": "faults", "system_database_url": "sqlite:///" + journal,
             "sqlite_synchronous": "NORMAL",
             "notification_listener_polling_interval_sec": 0.05})

@DBOS.step(name="warm")
def warm(i: int) -> int:
    return i

@DBOS.workflow(name="warmup")
def warmup(i: int) -> int:
    return warm(i)

@DBOS.step(name="step_a")
def step_a() -> int:
    emit(event="run", step="a")
    return 1

@DBOS.step(name="step_b")
def step_b() -> int:
    emit(event="run", step="b")
    if mode != "recover" and not state["faulted"]:
        state["faulted"] = True
        inject_fault()
    return 2

@DBOS.step(name="step_c")
def step_c() -> int:
    emit(event="run", step="c")
    return 3

@DBOS.workflow(name="job")
def job() -> int:
    a = step_a()
    try:
        b = step_b()
    except Exception as exc:  # must not catch the journal failure
        emit(event="swallowed", error=f"{type(exc).__name__}: {exc}")
        b = 9
    return a * 100 + b * 10 + step_c()

def call_job():
    with SetWorkflowID("job"):
        return job()

DBOS.launch()
if mode == "recover":
    describe_call("job", guarded("job", call_job))
    describe_status("end")
else:
    for i in range(20):
        with SetWorkflowID(f"warm-{i}"):
            warmup(i)
    describe_call("job", guarded("job", call_job))
    describe_status("after-fault")
    if mode == "call-again":
        lift_fault()
        describe_call("job-again", guarded("job-again", call_job))
        describe_status("end")
    elif mode == "resume":
        lift_fault()
        describe_call("resume", guarded(
            "resume", lambda: DBOS.resume_workflow("job").get_result()))
        describe_status("end")
guarded("destroy", DBOS.destroy)
emit(event="exit")
'''


def run_disk_full_app(journal, mode, fault, filler):
    result = run_python(DISK_FULL_APP, journal, mode, fault, filler, timeout=40)
    found = events(result.stdout)
    assert found and found[-1]["event"] == "exit", (
        f"the app did not finish (exit {result.returncode})\nstdout:\n{result.stdout}\n"
        f"stderr:\n{result.stderr[-5000:]}")
    assert not [e for e in found if e["event"] == "hung"], found
    return found, result


def check_fault_run(found, journal_name, fault):
    """The process in which the disk filled up: a DBOSJournalError out of the workflow call,
    nothing swallowed, step_c not run, the workflow PENDING with only step_a recorded."""
    lifted = [i for i, e in enumerate(found) if e["event"] == "lifted"]
    found = found[:lifted[0]] if lifted else found  # until the fault is lifted
    call = next(e for e in found if e["event"] == "call" and e["what"] == "job")
    assert call["outcome"] == "raised", f"the workflow returned during the fault: {call}"
    assert call["journal_error"], f"expected DBOSJournalError, got {call['type']}: " \
                                  f"{call['message']}"
    assert journal_name in call["message"], call["message"]
    if fault == "full-tmpfs":
        assert re.search(r"full|space", call["message"], re.I), call["message"]
    assert not [e for e in found if e["event"] == "swallowed"], \
        "except Exception in the workflow caught the journal failure"
    assert [e["step"] for e in found if e["event"] == "run"] == ["a", "b"], found
    status = next(e for e in found if e["event"] == "status" and e["when"] == "after-fault")
    assert status.get("status") == "PENDING", status
    assert status["steps"] == ["step_a"], status


DISK_FULL_RESULT = 123  # step_a 1, step_b 2, step_c 3


@pytest.mark.parametrize("fault", ["file-size-limit", "full-tmpfs"])
def test_disk_full_while_recording_a_step_then_a_new_process_finishes_the_workflow(
        tmp_path, fault):
    directory = tmp_path / "disk"
    with contextlib.ExitStack() as stack:
        if fault == "full-tmpfs":
            stack.enter_context(tmpfs(directory, size="2m"))
        else:
            directory.mkdir()
        journal = str(directory / "journal.sqlite")
        filler = str(directory / "filler")

        first, _ = run_disk_full_app(journal, "fault-then-exit", fault, filler)
        check_fault_run(first, "journal.sqlite", fault)

        if os.path.exists(filler):
            os.remove(filler)  # the disk has room again
        second, _ = run_disk_full_app(journal, "recover", fault, filler)
        call = next(e for e in second if e["event"] == "call")
        assert call["outcome"] == "returned" and call["value"] == DISK_FULL_RESULT, call
        runs = [e["step"] for e in first + second if e["event"] == "run"]
        # step_a was recorded before the fault: never run again. step_b ran, but its outcome
        # could not be recorded: it runs again. step_c runs once.
        assert sorted(runs) == ["a", "b", "b", "c"], runs
        end = next(e for e in second if e["event"] == "status" and e["when"] == "end")
        assert end["status"] == "SUCCESS" and end["steps"] == ["step_a", "step_b", "step_c"], end

        info = inspect_journal(journal)
        assert_intact(info)
        assert info["workflows"] == {"job": "SUCCESS",
                                     **{f"warm-{i}": "SUCCESS" for i in range(20)}}


@pytest.mark.parametrize("recovery", ["call-again", "resume"])
def test_disk_full_then_space_freed_the_same_process_finishes_the_workflow(tmp_path, recovery):
    """The file-size limit is lifted in the process that hit it; calling the workflow again
    with its id, or DBOS.resume_workflow, finishes it."""
    journal = str(tmp_path / "journal.sqlite")
    found, _ = run_disk_full_app(journal, recovery, "file-size-limit", "")
    check_fault_run(found, "journal.sqlite", "file-size-limit")
    what = "job-again" if recovery == "call-again" else "resume"
    call = next(e for e in found if e["event"] == "call" and e["what"] == what)
    assert call["outcome"] == "returned" and call["value"] == DISK_FULL_RESULT, call
    runs = [e["step"] for e in found if e["event"] == "run"]
    assert sorted(runs) == ["a", "b", "b", "c"], runs
    end = next(e for e in found if e["event"] == "status" and e["when"] == "end")
    assert end["status"] == "SUCCESS" and end["steps"] == ["step_a", "step_b", "step_c"], end
    assert_intact(inspect_journal(journal))


# ---- Journal locked by another process ------------------------------------------------------

LOCK_HOLDER = r'''
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
conn.close()
print("released", flush=True)
'''


class LockHolder:
    """Another process holding ``BEGIN IMMEDIATE`` on the journal until ``release()``."""

    def __init__(self, path):
        self.proc = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(path)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "locked":
            self.kill()
            pytest.fail(f"the lock holder did not lock the journal: {line!r} "
                        f"{self.proc.stderr.read()}")

    def release(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
            assert self.proc.stdout.readline().strip() == "released"
            self.proc.wait(10)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            stream.close()


BUSY_TIMEOUT_SEC = 0.3


@pytest.fixture
def busy_dbos(config):
    """DBOS configured (not launched) with a short busy timeout."""
    DBOS.destroy(destroy_registry=True)
    DBOS(config={**config, "busy_timeout_sec": BUSY_TIMEOUT_SEC})
    holders = []
    yield holders
    for holder in holders:
        holder.kill()
    DBOS.destroy(destroy_registry=True)


def register_locking_job(runs, lock_during_b, before_return=lambda: None):
    """Workflow "job" (step_a, step_b, step_c); ``lock_during_b(n)`` runs inside step_b's body
    on its n-th run, ``before_return()`` in the workflow's body once its steps are done."""

    @DBOS.step(name="step_a")
    def step_a() -> int:
        runs.append("a")
        return 1

    @DBOS.step(name="step_b")
    def step_b() -> int:
        runs.append("b")
        lock_during_b(runs.count("b"))
        return 2

    @DBOS.step(name="step_c")
    def step_c() -> int:
        runs.append("c")
        return 3

    @DBOS.workflow(name="job")
    def job() -> int:
        a = step_a()
        try:
            b = step_b()
        except Exception:  # must not catch the journal failure
            runs.append("swallowed")
            b = 9
        value = a * 100 + b * 10 + step_c()
        before_return()
        return value

    return job


def test_journal_locked_before_a_workflow_starts_fails_clearly_and_works_once_released(
        busy_dbos, journal_path):
    runs = []
    job = register_locking_job(runs, lambda n: None)
    DBOS.launch()
    assert call_with_id("warm", job) == 123
    runs.clear()

    holder = LockHolder(journal_path)
    busy_dbos.append(holder)
    started = time.monotonic()
    with pytest.raises(BaseException) as info:
        within(20, call_with_id, "job", job)
    elapsed = time.monotonic() - started
    assert_journal_error(info.value, r"lock", re.escape(str(BUSY_TIMEOUT_SEC)) + r"|busy")
    assert BUSY_TIMEOUT_SEC * 0.9 <= elapsed < 10, elapsed
    assert runs == []  # the start was not recorded: nothing ran
    assert DBOS.get_workflow_status("job") is None  # reads still work under WAL

    holder.release()
    assert within(20, call_with_id, "job", job) == 123
    assert runs == ["a", "b", "c"]
    assert DBOS.get_workflow_status("job").status == "SUCCESS"


def test_reads_do_not_wait_for_a_write_that_waits_for_the_lock(busy_dbos, journal_path):
    """A write of this process waits (up to the busy timeout) while another process holds the
    journal; meanwhile this process's reads are answered at once (they have a connection of
    their own, and WAL readers do not wait for writers)."""
    runs = []
    job = register_locking_job(runs, lambda n: None)
    DBOS.launch()
    assert call_with_id("warm", job) == 123
    holder = LockHolder(journal_path)
    busy_dbos.append(holder)
    failures = []

    def send():
        try:
            within(20, DBOS.send, "warm", "hello", "t")
        except BaseException as exc:
            failures.append(exc)

    writer = threading.Thread(target=send)
    writer.start()
    time.sleep(BUSY_TIMEOUT_SEC / 4)  # the send is waiting for the lock now
    started = time.monotonic()
    assert DBOS.get_workflow_status("warm").status == "SUCCESS"
    assert [s["function_name"] for s in DBOS.list_workflow_steps("warm")] == [
        "step_a", "step_b", "step_c"]
    elapsed = time.monotonic() - started
    writer.join()
    assert elapsed < BUSY_TIMEOUT_SEC / 4, elapsed
    assert len(failures) == 1  # the send itself gave up after the busy timeout
    assert_journal_error(failures[0], r"lock", re.escape(str(BUSY_TIMEOUT_SEC)) + r"|busy")


def test_writes_wait_for_another_processs_lock_and_then_land(busy_dbos, journal_path):
    """Each of four steps in a row, and the workflow's outcome, is recorded while another
    process holds the journal for a while (under the busy timeout): each record waits for the
    lock, then lands. (Lone writes of one statement commit in two ways, see _commit_alone;
    successive writes take both.)"""
    hold_sec = BUSY_TIMEOUT_SEC / 3
    runs = []  # (step, when it began)
    locked = []  # when each lock was taken

    def lock_for_a_while():
        holder = LockHolder(journal_path)
        busy_dbos.append(holder)
        locked.append(time.monotonic())
        threading.Timer(hold_sec, holder.release).start()

    @DBOS.step()
    def step(k: int) -> int:
        runs.append((k, time.monotonic()))
        lock_for_a_while()  # its record waits
        return k

    @DBOS.workflow()
    def work() -> int:
        total = sum(step(k) for k in range(4))
        lock_for_a_while()  # the outcome waits
        return total

    DBOS.launch()
    assert call_with_id("waits", work) == 6
    finished = time.monotonic()
    assert [k for k, _ in runs] == [0, 1, 2, 3]
    began = [when for _, when in runs[1:]] + [finished]
    waited = [after - lock for lock, after in zip(locked, began)]
    assert all(wait >= hold_sec * 0.9 for wait in waited), waited  # each record waited
    assert DBOS.get_workflow_status("waits").status == "SUCCESS"
    assert [s["output"] for s in DBOS.list_workflow_steps("waits")] == [0, 1, 2, 3]


def test_writes_that_queue_behind_a_waiting_write_land_with_it(busy_dbos, journal_path):
    """While one thread's record waits for another process's lock, other threads' writes
    queue behind it (it leads the next group commit); once the lock is free every one lands,
    each once. Several rounds, so that the waiting record is of both kinds (_commit_alone)."""
    hold_sec = BUSY_TIMEOUT_SEC / 3
    runs = []
    locked = threading.Event()

    @DBOS.step()
    def record(name: str) -> str:
        runs.append(name)
        return name

    @DBOS.step()
    def lock_then_record(name: str) -> str:
        runs.append(name)
        holder = LockHolder(journal_path)
        busy_dbos.append(holder)
        threading.Timer(hold_sec, holder.release).start()
        locked.set()
        return name

    @DBOS.workflow()
    def waits(name: str) -> str:
        return lock_then_record(name)

    @DBOS.workflow()
    def queues(name: str) -> str:
        return record(name)

    DBOS.launch()
    for round_ in range(4):
        locked.clear()
        waiting = DBOS.start_workflow(waits, f"w{round_}")
        assert locked.wait(10)
        time.sleep(hold_sec / 10)  # its record is waiting for the lock now
        others = [DBOS.start_workflow(queues, f"q{round_}-{i}") for i in range(3)]
        assert within(10, waiting.get_result) == f"w{round_}"
        assert [within(10, h.get_result) for h in others] == [
            f"q{round_}-{i}" for i in range(3)]
    assert sorted(runs) == sorted([f"w{r}" for r in range(4)]
                                  + [f"q{r}-{i}" for r in range(4) for i in range(3)])


@pytest.mark.parametrize("recovery", ["call-again", "resume"])
def test_journal_locked_while_recording_a_step_leaves_the_workflow_pending_and_resumable(
        busy_dbos, journal_path, recovery):
    runs = []

    def lock_during_b(n):
        if n == 1:  # the first run of step_b: another process takes the journal
            busy_dbos.append(LockHolder(journal_path))

    job = register_locking_job(runs, lock_during_b)
    DBOS.launch()
    with pytest.raises(BaseException) as info:
        within(20, call_with_id, "job", job)
    assert_journal_error(info.value, r"lock", re.escape(str(BUSY_TIMEOUT_SEC)) + r"|busy")
    assert "swallowed" not in runs, "except Exception in the workflow caught the failure"
    assert runs == ["a", "b"]  # step_c did not run on top of an unrecorded step_b
    status = DBOS.get_workflow_status("job")
    assert status.status == "PENDING" and status.error is None, status
    assert [s["function_name"] for s in DBOS.list_workflow_steps("job")] == ["step_a"]

    busy_dbos[0].release()
    if recovery == "call-again":
        result = within(8, call_with_id, "job", job)
    else:
        result = within(20, lambda: DBOS.resume_workflow("job").get_result())
    assert result == 123
    assert runs == ["a", "b", "b", "c"]  # step_a not run again
    assert [s["function_name"] for s in DBOS.list_workflow_steps("job")] == [
        "step_a", "step_b", "step_c"]
    assert DBOS.get_workflow_status("job").status == "SUCCESS"


def test_journal_locked_while_recording_a_workflows_outcome_leaves_it_pending_and_resumable(
        busy_dbos, journal_path):
    """The body returned, and then its outcome could not be recorded: the call raises the
    journal error, the workflow stays PENDING (given up by this process, not lost), and calling
    it again with its id records the outcome without running its steps again."""
    runs, returns = [], []

    def lock_first_time():
        returns.append(1)
        if len(returns) == 1:  # another process takes the journal before the outcome
            busy_dbos.append(LockHolder(journal_path))

    job = register_locking_job(runs, lambda n: None, lock_first_time)
    DBOS.launch()
    with pytest.raises(BaseException) as info:
        within(20, call_with_id, "job", job)
    assert_journal_error(info.value, r"lock", r"run the workflow again")
    status = DBOS.get_workflow_status("job")
    assert status.status == "PENDING" and status.output is None, status
    assert [s["function_name"] for s in DBOS.list_workflow_steps("job")] == [
        "step_a", "step_b", "step_c"]

    busy_dbos[0].release()
    assert within(8, call_with_id, "job", job) == 123
    assert len(returns) == 2  # the body ran again,
    assert runs == ["a", "b", "c"]  # its steps replayed
    assert DBOS.get_workflow_status("job").status == "SUCCESS"


def test_launch_while_another_process_holds_the_journal_fails_clearly_and_can_be_retried(
        busy_dbos, config, journal_path):
    runs = []
    register_locking_job(runs, lambda n: None)
    DBOS.launch()  # the journal exists
    DBOS.destroy(destroy_registry=True)

    DBOS(config={**config, "busy_timeout_sec": BUSY_TIMEOUT_SEC})
    job = register_locking_job(runs, lambda n: None)
    holder = LockHolder(journal_path)
    busy_dbos.append(holder)
    with pytest.raises(DBOSException) as info:
        within(20, DBOS.launch)
    assert re.search(r"lock", str(info.value), re.I), info.value
    assert isinstance(info.value, (journal_error_class(), DBOSInitializationError)), info.value

    holder.release()
    within(20, DBOS.launch)  # launches now, as if it had never been tried
    assert within(20, call_with_id, "job", job) == 123
    handle = DBOS.start_workflow(job)  # the background pool works too
    assert within(20, handle.get_result) == 123
    assert runs == ["a", "b", "c"] * 2


# ---- Read-only journal file or directory at launch ------------------------------------------

# Launches DBOS on a journal and prints the outcome as one JSON line. As root, it first drops
# to an unprivileged user (root ignores file modes); modules dbos_lite imports lazily are
# imported before, as that user may not be able to read the Python installation.
LAUNCH_APP = r'''
import json, os, sys
sys.path.insert(0, os.environ["DBOS_LITE_ROOT"])
import asyncio, concurrent.futures.thread, hashlib, heapq, inspect, logging, socket, traceback  # noqa
import logging.handlers, datetime, uuid, typing  # noqa
import dbos_lite
from dbos_lite import DBOS

journal, drop = sys.argv[1], sys.argv[2] == "drop"
if drop:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
DBOS(config={"name": "ro", "system_database_url": "sqlite:///" + journal})
try:
    DBOS.launch()
except BaseException as exc:
    print(json.dumps({"outcome": "refused", "type": type(exc).__name__,
                      "init_error": isinstance(exc, dbos_lite.DBOSInitializationError),
                      "message": str(exc)}), flush=True)
else:
    print(json.dumps({"outcome": "launched"}), flush=True)
    DBOS.destroy()
'''


def make_journal(path, name: str = "hello", output: str = "hi") -> None:
    """A journal with one finished workflow (id and function ``name``, returning ``output``),
    made by another process and closed cleanly: this one holds no connection to it, and no
    -wal or -shm is left."""
    code = textwrap.dedent('''
        import os, sys
        sys.path.insert(0, os.environ["DBOS_LITE_ROOT"])
        from dbos_lite import DBOS, SetWorkflowID
        name, output = sys.argv[2], sys.argv[3]
        DBOS(config={"name": "test-app", "system_database_url": "sqlite:///" + sys.argv[1]})
        @DBOS.workflow(name=name)
        def finished() -> str:
            return output
        DBOS.launch()
        with SetWorkflowID(name):
            finished()
        DBOS.destroy()
    ''')
    result = run_python(code, path, name, output)
    assert result.returncode == 0, result.stderr
    assert not os.path.exists(path + "-wal")


def launch_in_subprocess(journal, drop: bool) -> dict:
    result = run_python(LAUNCH_APP, journal, "drop" if drop else "keep")
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return json.loads(lines[-1])


def assert_refused_as_read_only(outcome: dict) -> None:
    assert outcome["outcome"] == "refused", "DBOS.launch() accepted a read-only journal"
    assert outcome["init_error"], f"expected DBOSInitializationError, got {outcome}"
    assert re.search(r"read-only|read only|readonly|not writable", outcome["message"],
                     re.I), outcome


@pytest.fixture
def ro_dir():
    """A directory outside pytest's (root-only) tmp tree, so an unprivileged user can reach it;
    its permissions are restored before it is removed."""
    directory = tempfile.mkdtemp(prefix="dbos_lite_ro_")
    os.chmod(directory, 0o755)
    yield directory
    os.chmod(directory, 0o755)
    for name in os.listdir(directory):
        with contextlib.suppress(OSError):
            os.chmod(os.path.join(directory, name), 0o644)
    shutil.rmtree(directory, ignore_errors=True)


def prepare_read_only(directory, case: str, mechanism: str, stack) -> tuple[str, bool]:
    """Make the journal (for the cases with one) and make ``case`` read-only with
    ``mechanism``. Returns the journal path, and whether the launch must drop privileges."""
    journal = os.path.join(directory, "journal.sqlite")
    if case != "new-journal-in-read-only-directory":
        make_journal(journal)
    is_root = os.geteuid() == 0
    if mechanism == "mode-bits":
        if case == "read-only-file":
            os.chmod(directory, 0o777 if is_root else 0o755)  # the directory stays writable
            os.chmod(journal, 0o444)
        else:
            if case == "read-only-directory":
                if is_root:
                    os.chown(journal, 65534, 65534)  # the file stays writable for that user
                os.chmod(journal, 0o644)
            os.chmod(directory, 0o555)
        return journal, is_root
    if not is_root:
        pytest.skip("a read-only bind mount needs root")
    stack.enter_context(read_only_bind(journal if case == "read-only-file" else directory))
    return journal, False


@pytest.mark.parametrize("mechanism", ["mode-bits", "read-only-mount"])
@pytest.mark.parametrize("case", ["read-only-file", "read-only-directory",
                                  "new-journal-in-read-only-directory"])
def test_read_only_journal_is_refused_at_launch_without_modifying_anything(ro_dir, case,
                                                                           mechanism):
    with contextlib.ExitStack() as stack:
        journal, drop = prepare_read_only(ro_dir, case, mechanism, stack)
        if drop:
            probe = run_python("import os; os.setgroups([]); os.setgid(65534); "
                               "os.setuid(65534); print('dropped')")
            if "dropped" not in probe.stdout:
                pytest.skip(f"cannot switch to an unprivileged user: {probe.stderr.strip()}")
        before = snapshot(ro_dir)
        outcome = launch_in_subprocess(journal, drop)
        assert_refused_as_read_only(outcome)
        assert snapshot(ro_dir) == before  # same files, same bytes: no -wal, -shm or -journal
    if case != "new-journal-in-read-only-directory":
        os.chmod(ro_dir, 0o755)
        os.chmod(journal, 0o644)
        info = inspect_journal(journal)
        assert_intact(info)
        assert info["workflows"] == {"hello": "SUCCESS"}


# ---- Journal deleted or replaced while the process runs -------------------------------------

HEARTBEAT_FOR_TESTS = 0.2


def register_probe_app(gate: threading.Event, runs: list):
    @DBOS.step(name="quick")
    def quick(i: int) -> int:
        runs.append(("quick", i))
        return i

    @DBOS.step(name="blocking")
    def blocking() -> str:
        runs.append(("blocking", 0))
        gate.wait(20)
        return "done"

    @DBOS.step(name="after")
    def after() -> str:
        runs.append(("after", 0))
        return "after"

    @DBOS.workflow(name="probe")
    def probe(i: int) -> int:
        return quick(i)

    @DBOS.workflow(name="long")
    def long_running() -> str:
        quick(-1)
        blocking()
        return after()

    @DBOS.workflow(name="listener")
    def listener() -> str:
        return str(DBOS.recv("t", timeout_seconds=30))

    return probe, long_running, listener


def wait_for(predicate, timeout=10.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


INSPECT_CODE = r'''
import json, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=10)
print(json.dumps({
    "integrity": [r[0] for r in conn.execute("PRAGMA integrity_check")],
    "tables": sorted(r[0] for r in conn.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'table'")),
    "workflows": dict(conn.execute("SELECT workflow_id, status FROM workflow_status")),
}))
'''


def inspect_from_another_process(path) -> dict:
    result = run_python(INSPECT_CODE, path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("change", ["deleted", "replaced"])
def test_journal_deleted_or_replaced_while_running_is_noticed_and_nothing_more_is_written(
        dbos, config, journal_path, tmp_path, monkeypatch, change):
    monkeypatch.setattr(dbos_lite, "_HEARTBEAT_SEC", HEARTBEAT_FOR_TESTS)
    replacement = str(tmp_path / "replacement" / "journal.sqlite")
    if change == "replaced":
        os.makedirs(os.path.dirname(replacement))
        make_journal(replacement, "other", "other")  # another program's journal
    gate, runs = threading.Event(), []
    probe, long_running, listener = register_probe_app(gate, runs)
    DBOS.launch()
    assert call_with_id("before", probe, 1) == 1
    with SetWorkflowID("listener"):
        DBOS.start_workflow(listener)
    with SetWorkflowID("long"):
        DBOS.start_workflow(long_running)
    assert wait_for(lambda: ("blocking", 0) in runs), runs

    # The workflows now wait (in a step, in a recv) and write nothing. A heartbeat may be
    # half-way through a transaction as the files change: it finishes into the old files, which
    # its open descriptors still hold, as would a transaction of any process at that moment.
    if change == "deleted":
        for suffix in ("", "-wal", "-shm"):  # rm journal.sqlite*
            with contextlib.suppress(FileNotFoundError):
                os.remove(journal_path + suffix)
    else:  # a backup restored over it: the old -wal and -shm go with the old file
        os.replace(replacement, journal_path)
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(journal_path + suffix)
    replaced_hash = sha256(journal_path) if change == "replaced" else None

    time.sleep(HEARTBEAT_FOR_TESTS * 5)  # several heartbeats: the change must be noticed
    pattern = r"deleted|replaced"
    with pytest.raises(BaseException) as info:
        within(20, call_with_id, "after-change", probe, 2)
    assert_journal_error(info.value, pattern)
    with pytest.raises(BaseException) as info:
        within(20, DBOS.send, "listener", "hello", "t")
    assert_journal_error(info.value, pattern)
    gate.set()  # the in-flight workflow's step ends; recording it must fail, not go on
    time.sleep(0.5)
    assert ("after", 0) not in runs, "the workflow went on past a step it could not record"
    assert ("quick", 2) not in runs  # the workflow after the change was never started

    if change == "deleted":
        assert not os.path.exists(journal_path), "the old process made a file at the path"
    else:
        assert sha256(journal_path) == replaced_hash, "the old process wrote into the new file"
        info = inspect_from_another_process(journal_path)
        assert info["integrity"] == ["ok"], info
        assert info["workflows"] == {"other": "SUCCESS"}, info

    DBOS.destroy(destroy_registry=True)
    if change == "replaced":
        assert sha256(journal_path) == replaced_hash, "closing wrote into the new file"
        assert inspect_journal(journal_path)["workflows"] == {"other": "SUCCESS"}
    else:
        assert not os.path.exists(journal_path)

    # Restarted, the program uses the journal now at the path.
    DBOS(config=config)
    probe, _, _ = register_probe_app(threading.Event(), runs)
    DBOS.launch()
    assert call_with_id("after-restart", probe, 3) == 3
    expected = {"after-restart"} | ({"other"} if change == "replaced" else set())
    assert {s.workflow_id for s in DBOS.list_workflows()} == expected


def test_a_wal_file_removed_while_running_is_noticed_and_nothing_more_is_written(
        dbos, journal_path, monkeypatch):
    monkeypatch.setattr(dbos_lite, "_HEARTBEAT_SEC", HEARTBEAT_FOR_TESTS)
    runs = []
    probe, _, _ = register_probe_app(threading.Event(), runs)
    DBOS.launch()
    assert call_with_id("before", probe, 1) == 1
    os.remove(journal_path + "-wal")
    time.sleep(HEARTBEAT_FOR_TESTS * 5)
    with pytest.raises(BaseException) as info:
        within(20, call_with_id, "after", probe, 2)
    assert_journal_error(info.value, r"-wal file was removed", r"Python's sqlite3 module")
    assert ("quick", 2) not in runs
    DBOS.destroy(destroy_registry=True)
    info = inspect_from_another_process(journal_path)
    assert info["integrity"] == ["ok"], info
    assert info["workflows"] == {"before": "SUCCESS"}, info  # what the error says


TWO_SQLITES_APP = """
import os, sqlite3, sys, time
sys.path.insert(0, os.environ["DBOS_LITE_ROOT"])
from dbos_lite import DBOS, DBOSJournalError, SetWorkflowID

path = sys.argv[1]
DBOS(config={"name": "two-sqlites", "system_database_url": "sqlite:///" + path})

@DBOS.step()
def double(k: int) -> int:
    return 2 * k

@DBOS.workflow()
def job(k: int) -> int:
    return double(k)

DBOS.launch()
with SetWorkflowID("before"):
    job(1)
peek = sqlite3.connect(path)  # the mistake: a second copy of SQLite, in the same process
peek.execute("SELECT count(*) FROM workflow_status").fetchall()
peek.close()  # it believes itself the last connection: it removes the -wal and the -shm
time.sleep(1.5)  # a housekeeping round or more
try:
    with SetWorkflowID("after"):
        job(2)
except DBOSJournalError as exc:
    print("refused:", exc)
else:
    print("recorded")
"""


def test_a_program_that_also_opens_its_journal_with_pythons_sqlite3_is_told_so(tmp_path):
    """Python's sqlite3 module and apsw are two copies of SQLite: in one process, the first
    closing its connection removes the -wal that dbos_lite writes to. What was committed stays;
    what follows is refused with a message that names the cause."""
    journal = str(tmp_path / "journal.sqlite")
    result = run_python(TWO_SQLITES_APP, journal)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("refused: "), result.stdout
    assert "Python's sqlite3 module" in result.stdout and "another process" in result.stdout
    info = inspect_from_another_process(journal)
    assert info["integrity"] == ["ok"], info
    assert info["workflows"] == {"before": "SUCCESS"}, info


# ---- Corrupt journal at launch --------------------------------------------------------------


@pytest.fixture(scope="module")
def big_journal(tmp_path_factory):
    """A journal of a few hundred finished workflows, closed cleanly (no -wal)."""
    path = str(tmp_path_factory.mktemp("big") / "journal.sqlite")
    DBOS.destroy(destroy_registry=True)
    DBOS(config={"name": "big", "system_database_url": journal_url(path),
                 "sqlite_synchronous": "NORMAL"})

    @DBOS.step(name="shout")
    def shout(text: str) -> str:
        return text.upper()

    @DBOS.workflow(name="greet")
    def greet(name: str) -> str:
        return shout(f"hello {name} " + "." * 200)

    DBOS.launch()
    for i in range(300):
        with SetWorkflowID(f"greet-{i:04d}"):
            greet(f"person {i}")
    DBOS.destroy(destroy_registry=True)
    assert not os.path.exists(path + "-wal")
    assert os.path.getsize(path) >= 40 * 4096
    return path


def corrupt(path, how: str) -> None:
    size = os.path.getsize(path)
    page_size = 4096
    pages = size // page_size
    rng = random.Random(42)
    with open(path, "r+b") as f:
        if how == "random-page-in-the-middle":
            f.seek((pages // 2) * page_size)
            f.write(rng.randbytes(page_size))
        elif how == "page-headers-in-the-middle":
            for page in range(pages // 3, pages // 3 + 3):
                f.seek(page * page_size)
                f.write(rng.randbytes(64))
        elif how == "truncated-to-half":
            f.truncate((pages // 2) * page_size)
        elif how == "truncated-mid-page":
            f.truncate((pages // 2) * page_size + 1000)
        else:
            raise AssertionError(how)


@pytest.mark.parametrize("how", ["random-page-in-the-middle", "page-headers-in-the-middle",
                                 "truncated-to-half", "truncated-mid-page"])
def test_corrupt_journal_is_refused_at_launch_unchanged(no_registry, big_journal, tmp_path,
                                                         how):
    directory = tmp_path / "corrupt"
    directory.mkdir()
    journal = str(directory / "journal.sqlite")
    shutil.copyfile(big_journal, journal)
    corrupt(journal, how)
    before = snapshot(directory)
    journal_hash = sha256(journal)

    DBOS(config={"name": "corrupt", "system_database_url": journal_url(journal)})
    with pytest.raises(DBOSInitializationError) as info:
        DBOS.launch()
    assert re.search(r"corrupt|malformed|damaged|truncated", str(info.value), re.I), info.value
    assert "journal.sqlite" in str(info.value)
    assert sha256(journal) == journal_hash, "the corrupt journal was modified"
    assert snapshot(directory) == before, "files were left next to the corrupt journal"
    with pytest.raises(DBOSInitializationError):
        DBOS.launch()  # still refused, still unchanged
    assert snapshot(directory) == before


def test_intact_copy_of_the_big_journal_launches(no_registry, big_journal, tmp_path):
    """The control for the corruption tests: the same journal, not corrupted, opens and
    replays."""
    journal = str(tmp_path / "journal.sqlite")
    shutil.copyfile(big_journal, journal)
    DBOS(config={"name": "big", "system_database_url": journal_url(journal)})

    @DBOS.step(name="shout")
    def shout(text: str) -> str:
        raise AssertionError("replayed, not run")

    @DBOS.workflow(name="greet")
    def greet(name: str) -> str:
        return shout(name)

    DBOS.launch()
    with SetWorkflowID("greet-0150"):
        assert greet("ignored").startswith("HELLO PERSON 150 ")
    assert len(DBOS.list_workflows()) == 300


@pytest.fixture
def no_registry():
    DBOS.destroy(destroy_registry=True)
    yield
    DBOS.destroy(destroy_registry=True)
