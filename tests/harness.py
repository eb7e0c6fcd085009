"""Running app scripts (tests/crash_app.py, tests/coordination_app.py, or a program whose source
is in the test: ScriptApps) as subprocesses for one test: starting them, SIGKILLing them, and
reading their stdout/stderr, their SUMMARY line, the log their steps append to and the journal
they write."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import sqlite_here

HERE = os.path.dirname(os.path.abspath(__file__))


class Apps:
    """Starts processes of one app script and kills whatever is left when the ``with`` ends.

    Log lines start "<pid> <workflow_id> <event> <arg>"; ``parse`` reads one."""

    def __init__(self, tmp_path, script, log_name, env_prefix):
        self.tmp_path = tmp_path
        self.script = script
        self.env_prefix = env_prefix
        self.journal = str(tmp_path / "journal.sqlite")
        self.log = str(tmp_path / log_name)
        self.procs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.kill_all()

    @property
    def name(self):
        return os.path.splitext(self.script)[0]

    def spawn(self, args, env):
        """Run the script with ``args`` after the journal and log paths; ``env`` replaces the
        variables of this environment that start with ``env_prefix``."""
        environ = {k: v for k, v in os.environ.items() if not k.startswith(self.env_prefix)}
        environ.update({k: str(v) for k, v in env.items()})
        # Named after the script too: several runners (of different scripts) may share tmp_path.
        tag = f"{os.path.splitext(os.path.basename(self.script))[0]}-{len(self.procs)}"
        out = open(self.tmp_path / f"stdout-{tag}.txt", "wb")
        err = open(self.tmp_path / f"stderr-{tag}.txt", "wb")
        try:
            proc = subprocess.Popen(
                [sys.executable, os.path.join(HERE, self.script), self.journal, self.log, *args],
                stdout=out, stderr=err, env=environ,
            )
        finally:
            out.close()
            err.close()
        proc.tag = tag
        self.procs.append(proc)
        return proc

    def output(self, proc):
        with open(self.tmp_path / f"stdout-{proc.tag}.txt") as f:
            stdout = f.read()
        with open(self.tmp_path / f"stderr-{proc.tag}.txt") as f:
            stderr = f.read()
        return stdout, stderr

    def exited(self, proc, timeout):
        """Wait for a process to exit on its own; its stdout, stderr and last SUMMARY (or None)."""
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(proc)
            stdout, stderr = self.output(proc)
            pytest.fail(f"{self.name} did not finish in {timeout} s.\nstdout:\n{stdout}\n"
                        f"stderr:\n{stderr}\nlog:\n{self.log_text()}")
        stdout, stderr = self.output(proc)
        summaries = [line[len("SUMMARY "):] for line in stdout.splitlines()
                     if line.startswith("SUMMARY ")]
        return stdout, stderr, json.loads(summaries[-1]) if summaries else None

    @staticmethod
    def kill(proc):
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    def kill_all(self):
        for proc in self.procs:
            self.kill(proc)

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def parse(self, line):
        pid, workflow_id, event, arg = line.split(" ", 3)
        return int(pid), workflow_id, event, arg

    def lines(self, event=None, arg=None, workflow_id=None, pid=None):
        """The parsed log lines, filtered by whichever of the arguments are given."""
        result = []
        for line in self.log_text().splitlines():
            fields = self.parse(line)
            p, w, e, a = fields[:4]
            if ((event is None or e == event) and (arg is None or a == str(arg))
                    and (workflow_id is None or w == workflow_id)
                    and (pid is None or p == pid)):
                result.append(fields)
        return result

    def count(self, event, arg, workflow_id, pid=None):
        return len(self.lines(event, arg, workflow_id, pid))

    def wait_for_line(self, proc, event, arg, workflow_id, timeout=20.0):
        """Wait until ``proc`` has logged ``event arg`` for the workflow; that line."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.lines(event, arg, workflow_id, proc.pid)
            if found:
                return found[0]
            if proc.poll() is not None:
                stdout, stderr = self.output(proc)
                pytest.fail(f"{self.name} exited ({proc.returncode}) before logging "
                            f"{event} {arg}.\nstdout:\n{stdout}\nstderr:\n{stderr}\n"
                            f"log:\n{self.log_text()}")
            if time.monotonic() > deadline:
                stdout, stderr = self.output(proc)
                pytest.fail(f"no '{event} {arg}' for {workflow_id} from pid {proc.pid} in "
                            f"{timeout} s.\nstdout:\n{stdout}\nstderr:\n{stderr}\n"
                            f"log:\n{self.log_text()}")
            time.sleep(0.01)

    def query(self, sql, args=()):
        """Read the journal directly (read-only), as the sqlite3 shell would."""
        return sqlite_here.query(self.journal, sql, args)

    def wait_for_query(self, sql, args=(), predicate=bool, timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                rows = self.query(sql, args)
            except sqlite_here.Error:  # the journal is not created yet
                rows = []
            if predicate(rows):
                return rows
            if time.monotonic() > deadline:
                pytest.fail(f"{sql} {args} never matched; last rows {rows}\n"
                            f"log:\n{self.log_text()}")
            time.sleep(0.02)


class CrashApps(Apps):
    """tests/crash_app.py: log lines "<pid> <workflow_id> <event> <step>"; workflow "job-1"
    unless told otherwise."""

    def __init__(self, tmp_path):
        super().__init__(tmp_path, "crash_app.py", "steps.log", "CRASH_APP_")

    def start(self, mode, sync="FULL", **env):
        """``slow_step=3`` sets CRASH_APP_SLOW_STEP=3, and so on."""
        return self.spawn([mode, sync], {f"CRASH_APP_{k.upper()}": v for k, v in env.items()})

    def finish(self, proc, timeout=30.0):
        """Wait for a process to exit on its own; its return code, SUMMARY and stderr."""
        _, stderr, summary = self.exited(proc, timeout)
        return proc.returncode, summary, stderr

    def count(self, event, step, workflow_id="job-1", pid=None):
        return super().count(event, step, workflow_id, pid)

    def wait_for_line(self, proc, event, step, workflow_id="job-1", timeout=20.0):
        return super().wait_for_line(proc, event, step, workflow_id, timeout)


class CoordinationApps(Apps):
    """tests/coordination_app.py: log lines "<pid> <workflow_id> <event> <arg> <epoch s>"."""

    def __init__(self, tmp_path):
        super().__init__(tmp_path, "coordination_app.py", "events.log", "COORD_")

    def start(self, mode, **env):
        """``env`` holds the COORD_* variables by their full names."""
        return self.spawn([mode], env)

    def finish(self, proc, timeout=30.0):
        """Wait for a process to exit on its own; assert it succeeded; its SUMMARY."""
        stdout, stderr, summary = self.exited(proc, timeout)
        assert proc.returncode == 0, f"exit {proc.returncode}\n{stdout}\n{stderr}"
        assert summary is not None, f"no SUMMARY\n{stdout}\n{stderr}"
        return summary

    def parse(self, line):
        pid, workflow_id, event, arg, t = line.split(" ")
        return int(pid), workflow_id, event, arg, float(t)


class ScriptApps(Apps):
    """An app script whose source is in the test (so the test shows the program it runs),
    written to tmp_path after SCRIPT_PRELUDE and run like crash_app.py: argv is JOURNAL LOGFILE
    MODE..., log lines "<pid> <workflow_id> <event> <arg>" in steps.log (shared with a
    CrashApps of the same tmp_path, on the same journal)."""

    def __init__(self, tmp_path, source, script_name="app.py"):
        path = tmp_path / script_name
        path.write_text(SCRIPT_PRELUDE + textwrap.dedent(source))
        super().__init__(tmp_path, str(path), "steps.log", "APP_")

    def start(self, *args, **env):
        """``name="app-a"`` sets APP_NAME=app-a, and so on."""
        environ = {f"APP_{k.upper()}": v for k, v in env.items()}
        environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (HERE, os.environ.get("PYTHONPATH")) if p)
        return self.spawn([str(a) for a in args], environ)

    def finish(self, proc, timeout=30.0):
        """Wait for a process to exit on its own; its return code, SUMMARY and stderr."""
        _, stderr, summary = self.exited(proc, timeout)
        return proc.returncode, summary, stderr

    def run(self, *args, timeout=30.0, **env):
        """Start a process and wait for it: the process, its return code, SUMMARY and stderr."""
        proc = self.start(*args, **env)
        return (proc, *self.finish(proc, timeout))


SCRIPT_PRELUDE = '''\
"""Written by a test (tests/harness.py ScriptApps): SCRIPT_PRELUDE, then the test's program."""
import json, os, signal, sys, threading, time

from app_support import append_line, describe, print_summary, wait_finished
from dbos_lite import DBOS, DBOSException, DBOSInitializationError, SetWorkflowID

JOURNAL, LOGFILE = sys.argv[1], sys.argv[2]
MODE = sys.argv[3] if len(sys.argv) > 3 else ""


def env(name, default=None):
    """The APP_<NAME> variable the test set."""
    return os.environ.get("APP_" + name.upper(), default)


def log(workflow_id, event, arg="-"):
    """Append "<pid> <workflow_id> <event> <arg>" to LOGFILE (fsynced: survives SIGKILL)."""
    append_line(LOGFILE, f"{os.getpid()} {workflow_id} {event} {arg}")


def logged(event, arg=None, pid=None):
    """How many lines of LOGFILE have this event (and arg, and pid, if given)."""
    try:
        with open(LOGFILE) as f:
            lines = [line.split(" ", 3) for line in f.read().splitlines()]
    except FileNotFoundError:
        return 0
    return sum(1 for p, _, e, a in lines if e == event and (arg is None or a == str(arg))
               and (pid is None or int(p) == pid))


def config(name="script-app", **extra):
    return {"name": name, "system_database_url": "sqlite:///" + JOURNAL,
            "sqlite_synchronous": "NORMAL", "notification_listener_polling_interval_sec": 0.05,
            **extra}


def status_of(workflow_id):
    status = DBOS.get_workflow_status(workflow_id)
    return None if status is None else describe(status, executor_id=status.executor_id)


# ---- the test's program ----
'''


# ---- in-process helpers ----


def within(seconds, fn, *args):
    """Run ``fn(*args)`` in a thread; fail the test if it has not returned after ``seconds``.
    Its exception, if any, is raised here."""
    box = {}

    def run():
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"{getattr(fn, '__name__', fn)} did not return within {seconds} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def call_with_id(workflow_id, func, *args):
    """Call a workflow function under SetWorkflowID(workflow_id)."""
    from dbos_lite import SetWorkflowID

    with SetWorkflowID(workflow_id):
        return func(*args)


def journal_rows(journal, workflow_id):
    """Every column of a workflow's row and of its operations' rows, read directly (read-only),
    to check that a process wrote nothing into the workflow."""
    with sqlite_here.connect(journal, read_only=True) as conn:
        return {"workflow": conn.dicts("SELECT * FROM workflow_status WHERE workflow_id = ?",
                                       (workflow_id,)),
                "operations": conn.dicts("SELECT * FROM operation_outputs WHERE workflow_id = ?"
                                         " ORDER BY function_id", (workflow_id,))}


def row_changes(before, after):
    """What differs between two journal_rows() results, column by column (for messages)."""
    changes = []
    for table in ("workflow", "operations"):
        old, new = before[table], after[table]
        if len(old) != len(new):
            changes.append((table, f"{len(old)} rows", f"{len(new)} rows"))
        for a, b in zip(old, new):
            changes += [(f"{table}.{k}", a[k], b.get(k)) for k in a if a[k] != b.get(k)]
    return changes
