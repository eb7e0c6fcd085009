"""kill -9 torture: SIGKILL tests/torture_app.py at random moments, hundreds of times, then prove
that nothing recorded was lost and nothing completed ran twice.

    python tests/torture.py --kills 500 --seed 1 --sync FULL --workflows 20 --steps 6
    python tests/torture.py --kills 100 --seed 2 --processes 3          # 3 apps on one journal
    python tests/torture.py --kills 100 --seed 3 --snapshots            # + live journal copies

The driver starts the app (``--processes N``: N of them on one journal), SIGKILLs each one at a
random moment (``--kill-min``..``--kill-max`` seconds after DBOS.launch() returned in it, as its
log says; one run in EARLY_KILLS that many seconds after its start, wherever it is by then,
launching and recovering included; drawn from ``random.Random(seed)``), starts it again, and so
on until ``--kills`` kills are done; then it lets the last runs finish. When a run finishes all
the work (it prints DONE) before the kill budget is spent, the driver starts the next *round*:
the same app with ``--round R+1``, whose workflows have new ids, so that kills keep landing in
running steps instead of in runs with nothing left to do. Importable: ``run(...)`` returns a
:class:`Report`; the tests assert on it.

What is checked, once every app process is gone (the journal is read with the stdlib sqlite3,
read-only, through the tables documented in dbos_lite's "Schema" section):

* the journal passes ``PRAGMA integrity_check``;
* every workflow of every round is SUCCESS with the output recomputed here, and no other
  workflow exists;
* its steps are recorded exactly once and in order: function_ids 1..S named step-1..step-S, each
  with the value recomputed here;
* in the log the steps append (``start|end <pid> <workflow> <k> <time_ns>``): each process runs a
  step at most once; every recorded step has an ``end`` line; a step runs again only if the
  process of its earlier run was SIGKILLed after that run started and before the next run
  started (so a step that ``end``ed twice was killed between its end and its record); no run of
  step k starts after step k+1 started (what the next step saw recorded was never lost), nor
  after step k's recorded completion; the recorded ``started_at`` is the last run's;
* a workflow runs in one process at a time: the spans of its steps in each pid never overlap, and
  a workflow moves to another pid only after the pid it ran in was SIGKILLed (a live process's
  workflows are never taken);
* with ``--snapshots``: copies of the live journal (main file, then ``-wal``) taken at random
  moments while the apps run pass ``integrity_check`` on a copy of the copy, hold each workflow
  absent, PENDING with steps 1..k recorded (the right names and values), or SUCCESS with all S
  steps and the right output, and everything they hold is in the final journal unchanged.

Snapshots are taken under a read transaction of a separate read-only sqlite3 connection
(``BEGIN; SELECT count(*) FROM sqlite_master``). Copying the main file and then the ``-wal``
without it is not consistent: between the two copies a checkpoint can move WAL frames into the
main file and the next writer can restart the WAL from its beginning, so that the copy holds an
old main file with a WAL whose frames are meant for a newer one (commits in between are lost). A
reader keeps the WAL from being restarted while it reads through it, and keeps a checkpoint from
writing into the main file at all while it reads the main file alone; frames a checkpoint may
copy meanwhile are in the copied WAL too, and win over the main file's pages when the copy is
opened. ``--snapshot-mode unguarded`` copies without the read transaction, to see the difference.

Exit status 0 if every check passed, 1 if one failed (the journal directory is kept and printed),
2 on bad arguments. ``--check --journal-dir DIR`` runs the checks again on a directory a run left
(its run.json holds the rounds, and the pid, start, end and kill times of every app run).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.join(HERE, "torture_app.py")
JOURNAL_NAME = "journal.sqlite"
LOG_NAME = "steps.log"
RUN_FILE = "run.json"
DEFAULT_STEP_MS = 150.0
MAX_VIOLATIONS_KEPT = 50
MAX_UNKILLED_RUNS = 50
# One app run in this many is killed so many seconds after its start rather than after its
# launch: the window is measured from the launch so that a slow start (a loaded machine that
# compiles dbos_lite at each start) does not make every kill land before it, while some kills
# still land in the launch and the recovery it makes.
EARLY_KILLS = 5
LAUNCH_WAIT_SEC = 60.0  # a run that has not launched by then is killed all the same

# ==== What the app computes: shared with tests/torture_app.py, recomputed by the checks ====


def workflow_ids(workflows: int, round_: int = 0) -> list[str]:
    """The fixed ids of one round: t-0 .. t-{W-1} in round 0, r{R}.t-0 ... in round R."""
    prefix = "" if round_ == 0 else f"r{round_}."
    return [f"{prefix}t-{i}" for i in range(workflows)]


def step_name(k: int) -> str:
    return f"step-{k}"


def step_value(key: str, k: int, previous: int) -> int:
    """What step k of workflow ``key`` returns, given what step k-1 returned (0 for step 1)."""
    digest = hashlib.blake2b(f"{key}|{k}|{previous}".encode(), digest_size=6).digest()
    return int.from_bytes(digest, "big")


def workflow_value(values: list[int]) -> int:
    """What a workflow returns, from its steps' values in order."""
    return sum((i + 1) * v for i, v in enumerate(values)) % (1 << 52)


def expected_step_values(key: str, steps: int) -> list[int]:
    values, previous = [], 0
    for k in range(1, steps + 1):
        previous = step_value(key, k, previous)
        values.append(previous)
    return values


def expected_output(key: str, steps: int) -> int:
    return workflow_value(expected_step_values(key, steps))


# ==== The report ====


@dataclasses.dataclass
class Report:
    """What a torture run did and found. ``ok`` is True when no check failed."""

    options: dict
    violations: list[str] = dataclasses.field(default_factory=list)
    violation_count: int = 0
    kills: int = 0
    kills_in_step: int = 0  # the killed process had a step started and not ended
    kills_before_launch: int = 0  # else: killed before DBOS.launch() returned
    kills_elsewhere: int = 0  # else: between steps, waiting, or finishing
    app_runs: int = 0
    rounds: int = 0
    workflows_total: int = 0
    steps_total: int = 0  # recorded steps checked
    step_runs: int = 0  # "start" lines in the log
    reexecuted_steps: int = 0  # steps with more than one start
    reexecuted_after_end: int = 0  # steps that had ended, but were killed before the record
    snapshots_taken: int = 0
    snapshots_checked: int = 0
    snapshots_skipped: int = 0
    snapshot_pending: int = 0  # workflows seen PENDING in a snapshot
    snapshot_success: int = 0  # workflows seen SUCCESS in a snapshot
    workflows_moved: int = 0  # workflows whose steps ran in more than one pid
    moves: int = 0  # a workflow's steps went on in another pid
    moves_to_running: int = 0  # ... that was already running when the last one was killed
    elapsed_sec: float = 0.0
    journal_dir: str = ""

    @property
    def ok(self) -> bool:
        return self.violation_count == 0

    def violation(self, message: str) -> None:
        self.violation_count += 1
        if len(self.violations) < MAX_VIOLATIONS_KEPT:
            self.violations.append(message)

    def summary(self) -> str:
        o = self.options
        lines = [
            f"torture: sync={o.get('sync')} processes={o.get('processes')} "
            f"workflows={o.get('workflows')} steps={o.get('steps')} seed={o.get('seed')} "
            f"snapshots={o.get('snapshots')}",
            f"kills done: {self.kills} ({self.kills_in_step} inside a step, "
            f"{self.kills_before_launch} before launch returned, {self.kills_elsewhere} "
            f"elsewhere) over {self.app_runs} app runs, {self.rounds} rounds, "
            f"{self.elapsed_sec:.1f} s",
            f"steps total: {self.steps_total} recorded in {self.workflows_total} workflows, "
            f"{self.step_runs} runs; re-executed steps: {self.reexecuted_steps} "
            f"({self.reexecuted_after_end} of them after their end line); "
            f"workflows moved between pids: {self.workflows_moved} ({self.moves} moves, "
            f"{self.moves_to_running} of them to a process already running at the kill)",
        ]
        if o.get("snapshots"):
            lines.append(f"snapshots: {self.snapshots_checked} checked of {self.snapshots_taken} "
                         f"taken ({self.snapshots_skipped} skipped: journal not readable yet); "
                         f"they held {self.snapshot_pending} workflows PENDING, "
                         f"{self.snapshot_success} SUCCESS")
        if self.ok:
            lines.append("OK: no violation")
        else:
            lines.append(f"FAILED: {self.violation_count} violations "
                         f"(journal and log kept in {self.journal_dir})")
            lines += [f"  - {v}" for v in self.violations]
            if self.violation_count > len(self.violations):
                lines.append(f"  ... and {self.violation_count - len(self.violations)} more")
        return "\n".join(lines)


# ==== The log ====


class LogLine(NamedTuple):
    event: str  # start, end, launched, done
    pid: int
    workflow_id: str
    step: int
    t_ns: int


def read_log(path: str, report: Report) -> list[LogLine]:
    lines = []
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return lines
    for number, raw in enumerate(text.splitlines(), 1):
        fields = raw.split(" ")
        if len(fields) != 5 or fields[0] not in ("start", "end", "launched", "done"):
            report.violation(f"log line {number} is malformed: {raw!r}")
            continue
        try:
            lines.append(LogLine(fields[0], int(fields[1]), fields[2], int(fields[3]),
                                 int(fields[4])))
        except ValueError:
            report.violation(f"log line {number} is malformed: {raw!r}")
    return lines


# ==== Running and killing the apps ====


@dataclasses.dataclass
class AppRun:
    """One app process: its pid, when it was started and reaped (time.time_ns()), and, if it
    was SIGKILLed, when the signal was sent and when it was reaped. Pids wrap around (pid_max
    may be 32768), so log lines are told apart by pid *and* time."""

    pid: int
    spawned: int
    ended: int | None = None
    killed: tuple[int, int] | None = None
    round: int = 0
    slot: int = 0


class _Slot:
    """One of the --processes places an app runs in, restarted after each kill."""

    def __init__(self, index: int):
        self.index = index
        self.proc: subprocess.Popen | None = None
        self.run: AppRun | None = None
        self.round = 0
        self.kill_at = 0.0
        self.after_launch = False  # its kill is drawn once its launched line is in the log


class _Runner:
    def __init__(self, opts: argparse.Namespace, report: Report, directory: str):
        self.opts = opts
        self.report = report
        self.dir = directory
        self.journal = os.path.join(directory, JOURNAL_NAME)
        self.log = os.path.join(directory, LOG_NAME)
        self.rng = random.Random(opts.seed)
        self.snapshot_rng = random.Random(f"snapshots-{opts.seed}")
        self.slots = [_Slot(i) for i in range(opts.processes)]
        self.round = 0
        self.runs: list[AppRun] = []
        self.aborted = False
        self.unkilled_runs = 0  # app runs in a row that finished before their kill
        self.log_read = 0  # how much of the log the kill phase has read for launched lines
        self.snapshot_dir = os.path.join(directory, "snapshots")
        self.snapshots: list[str] = []  # kept (a uniform sample if more were taken)
        self.next_snapshot = float("inf")

    # -- processes --

    def spawn(self, slot: _Slot, round_: int) -> None:
        slot.round = round_
        spawned = time.time_ns()
        with open(self._out(slot, "out"), "wb") as out, open(self._out(slot, "err"), "wb") as err:
            slot.proc = subprocess.Popen(
                [sys.executable, APP, self.journal, self.log, self.opts.sync,
                 str(self.opts.workflows), str(self.opts.steps), "--round", str(round_),
                 "--step-ms", str(self.opts.step_ms), "--timeout", str(self.opts.final_timeout)],
                stdout=out, stderr=err, cwd=self.dir,
            )
        slot.run = AppRun(slot.proc.pid, spawned, round=round_, slot=slot.index)
        self.runs.append(slot.run)
        self.report.app_runs += 1
        slot.after_launch = self.rng.randrange(EARLY_KILLS) != 0
        slot.kill_at = time.monotonic() + (
            LAUNCH_WAIT_SEC if slot.after_launch else self.kill_delay())

    def kill_delay(self) -> float:
        return self.rng.uniform(self.opts.kill_min, self.opts.kill_max)

    def note_launches(self) -> None:
        """Read the log's new lines: a run that logged its launch gets its kill time."""
        try:
            with open(self.log, "rb") as log:
                log.seek(self.log_read)
                new = log.read()
        except FileNotFoundError:
            return
        new = new[:new.rfind(b"\n") + 1]  # whole lines only: the rest is still being written
        self.log_read += len(new)
        launched = {int(line.split()[1]) for line in new.splitlines()
                    if line.startswith(b"launched ")}
        for slot in self.slots:
            if slot.after_launch and slot.proc is not None and slot.proc.pid in launched:
                slot.after_launch = False
                slot.kill_at = time.monotonic() + self.kill_delay()

    def _out(self, slot: _Slot, what: str) -> str:
        return os.path.join(self.dir, f"app-{slot.index}.{what}")

    def kill(self, slot: _Slot) -> bool:
        """SIGKILL the slot's process; False if it had exited by itself first."""
        proc = slot.proc
        assert proc is not None
        if proc.poll() is not None:
            return False
        sent = time.time_ns()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        slot.run.ended = time.time_ns()
        if proc.returncode != -signal.SIGKILL:
            return False  # it exited on its own just before the signal
        slot.run.killed = (sent, slot.run.ended)
        self.report.kills += 1
        self.unkilled_runs = 0
        return True

    def exited(self, slot: _Slot) -> bool:
        """The slot's process exited on its own: True if it finished (DONE), else a violation
        and the run is aborted."""
        proc = slot.proc
        assert proc is not None and proc.returncode is not None
        if slot.run.ended is None:
            slot.run.ended = time.time_ns()
        with open(self._out(slot, "out"), errors="replace") as f:
            stdout = f.read()
        if proc.returncode == 0 and "DONE" in stdout.split():
            return True
        with open(self._out(slot, "err"), errors="replace") as f:
            stderr = f.read()
        self.report.violation(
            f"app pid {proc.pid} (round {slot.round}) exited with status {proc.returncode} "
            f"without being killed; stdout: {stdout[-2000:]!r}; stderr: {stderr[-4000:]!r}")
        self.aborted = True
        return False

    def kill_all(self) -> None:
        """Kill what is left after a failure (recorded as kills, not counted as done)."""
        for slot in self.slots:
            proc = slot.proc
            if proc is not None and proc.poll() is None:
                sent = time.time_ns()
                proc.kill()
                proc.wait()
                slot.run.ended = time.time_ns()
                slot.run.killed = (sent, slot.run.ended)
            elif proc is not None and slot.run.ended is None:
                slot.run.ended = time.time_ns()

    # -- the torture --

    def run(self) -> None:
        opts = self.opts
        if opts.snapshots:
            os.makedirs(self.snapshot_dir, exist_ok=True)
            self.next_snapshot = time.monotonic() + self.snapshot_rng.uniform(0.05, 0.5)
        for slot in self.slots:
            self.spawn(slot, self.round)
        # Kill phase: each slot is killed at its own random moment and started again.
        while self.report.kills < opts.kills and not self.aborted:
            self.note_launches()
            now = time.monotonic()
            for slot in self.slots:
                if self.report.kills >= opts.kills or self.aborted:
                    break
                if slot.proc.poll() is None:
                    if now < slot.kill_at or not self.kill(slot):
                        continue
                elif self.exited(slot):
                    self.unkilled_runs += 1
                    if self.unkilled_runs > MAX_UNKILLED_RUNS:
                        self.report.violation(
                            f"{self.unkilled_runs} app runs in a row finished before their kill: "
                            "no kill can land; raise --step-ms or lower --kill-max")
                        self.aborted = True
                        break
                    if slot.round == self.round:
                        self.round += 1  # all the work is done: a new round of workflows
                else:
                    break  # aborted
                self.spawn(slot, self.round)
            self.maybe_snapshot()
            self.pause()
        # Final phase: no more kills; every run finishes what is left.
        deadline = time.monotonic() + opts.final_timeout
        running = list(self.slots)
        while running and not self.aborted:
            for slot in list(running):
                if slot.proc.poll() is not None:
                    running.remove(slot)
                    self.exited(slot)
            if running and time.monotonic() > deadline:
                self.report.violation(
                    f"the last runs did not finish within {opts.final_timeout} s after the last "
                    "kill")
                break
            self.maybe_snapshot()
            self.pause()
        self.kill_all()
        self.report.rounds = self.round + 1  # rounds 0..self.round were started

    def pause(self) -> None:
        """Sleep until the next kill or snapshot is due, polling exits every few ms."""
        next_event = min([s.kill_at for s in self.slots] + [self.next_snapshot])
        time.sleep(min(0.005, max(0.0, next_event - time.monotonic())))

    # -- snapshots --

    def maybe_snapshot(self) -> None:
        if time.monotonic() < self.next_snapshot:
            return
        self.next_snapshot = time.monotonic() + self.snapshot_rng.uniform(0.05, 0.5)
        number = self.report.snapshots_taken
        target = os.path.join(self.snapshot_dir, f"snap-{number:05d}")
        os.makedirs(target)
        if not copy_journal(self.journal, os.path.join(target, JOURNAL_NAME),
                            guarded=self.opts.snapshot_mode == "guarded"):
            shutil.rmtree(target)
            self.report.snapshots_skipped += 1
            return
        self.report.snapshots_taken += 1
        # Keep a uniform sample of at most --max-snapshots copies (reservoir sampling).
        if len(self.snapshots) < self.opts.max_snapshots:
            self.snapshots.append(target)
            return
        j = self.snapshot_rng.randrange(number + 1)
        if j < len(self.snapshots):
            shutil.rmtree(self.snapshots[j])
            self.snapshots[j] = target
        else:
            shutil.rmtree(target)


def copy_journal(journal: str, target: str, guarded: bool = True, between=None) -> bool:
    """Copy a journal that processes are writing: the main file, then its -wal. ``guarded``:
    under a read transaction of a separate read-only connection, which keeps checkpoints from
    restarting the WAL (or, when the read sees the main file alone, from writing into it) while
    the files are copied. False if the journal cannot be read yet (not created, or busy).
    ``between()``, if given, is called between the two copies (for tests)."""
    if not os.path.exists(journal):
        return False
    conn = None
    try:
        if guarded:
            conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5,
                                   isolation_level=None)
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
        shutil.copyfile(journal, target)
        if between is not None:
            between()
        if os.path.exists(journal + "-wal"):
            try:
                shutil.copyfile(journal + "-wal", target + "-wal")
            except FileNotFoundError:
                pass  # deleted by the last connection's close (unguarded only)
        return True
    except sqlite3.Error:
        return False
    finally:
        if conn is not None:
            conn.close()


# ==== Checks ====


def _open_read_only(path: str) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def _integrity(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _read_journal(conn: sqlite3.Connection):
    """{workflow_id: (status, name, inputs, output, error)}, {workflow_id: [(function_id,
    function_name, output, error, started_at, completed_at)]}"""
    workflows = {
        row[0]: row[1:] for row in conn.execute(
            "SELECT workflow_id, status, name, inputs, output, error FROM workflow_status")
    }
    operations: dict[str, list[tuple]] = {}
    for row in conn.execute(
            "SELECT workflow_id, function_id, function_name, output, error, started_at_epoch_ms,"
            " completed_at_epoch_ms FROM operation_outputs ORDER BY workflow_id, function_id"):
        operations.setdefault(row[0], []).append(row[1:])
    return workflows, operations


def _check_operations(where: str, workflow_id: str, ops: list[tuple], steps: int,
                      complete: bool, report: Report) -> None:
    """Recorded operations are exactly steps 1..k (k == steps if ``complete``), in order, with
    the expected names and values."""
    values = expected_step_values(workflow_id, steps)
    ids = [op[0] for op in ops]
    if ids != list(range(1, len(ops) + 1)) or len(ops) > steps or (complete and len(ops) != steps):
        report.violation(f"{where}: {workflow_id} has operations {ids} recorded, expected "
                         f"{'1..' + str(steps) if complete else 'a prefix of 1..' + str(steps)}")
        return
    for function_id, name, output, error, _, _ in ops:
        if name != step_name(function_id) or error is not None or \
                _json(output) != values[function_id - 1]:
            report.violation(
                f"{where}: {workflow_id} step {function_id} recorded as {name!r} output={output!r} "
                f"error={error!r}; expected {step_name(function_id)!r} output "
                f"{values[function_id - 1]}")


def _json(text):
    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return ("undecodable", text)


def check_journal(journal: str, expected_ids: list[str], steps: int, report: Report):
    """The final journal: integrity, every workflow SUCCESS with the right output and steps.
    Returns what it read, for the other checks."""
    conn = _open_read_only(journal)
    try:
        problems = _integrity(conn)
        if problems != ["ok"]:
            report.violation(f"final journal: integrity_check says {problems[:5]}")
        workflows, operations = _read_journal(conn)
    finally:
        conn.close()
    for workflow_id in sorted(set(workflows) - set(expected_ids)):
        report.violation(f"final journal: unexpected workflow {workflow_id!r}")
    for workflow_id in expected_ids:
        row = workflows.get(workflow_id)
        if row is None:
            report.violation(f"final journal: workflow {workflow_id} is missing")
            continue
        status, name, inputs, output, error = row
        expected = expected_output(workflow_id, steps)
        if status != "SUCCESS" or _json(output) != expected or error is not None:
            report.violation(f"final journal: {workflow_id} is {status} output={output!r} "
                             f"error={(error or '')[:300]!r}; expected SUCCESS {expected}")
        if _json(inputs) != {"args": [workflow_id, steps], "kwargs": {}}:
            report.violation(f"final journal: {workflow_id} has inputs {inputs!r}")
        _check_operations("final journal", workflow_id, operations.get(workflow_id, []), steps,
                          True, report)
        report.steps_total += len(operations.get(workflow_id, []))
    report.workflows_total = len(expected_ids)
    return workflows, operations


def _label_processes(lines: list[LogLine], app_runs: list[AppRun], report: Report):
    """Each log line with its pid replaced by the label of the app run that wrote it (the pid,
    or "pid.n" for the n-th run of a reused pid), and {label: (kill sent, reaped)} of the
    SIGKILLed runs."""
    runs_of: dict[int, list[AppRun]] = {}
    for app_run in app_runs:
        runs_of.setdefault(app_run.pid, []).append(app_run)

    def label(app_run: AppRun) -> str:
        same = runs_of[app_run.pid]
        return str(app_run.pid) if len(same) == 1 else f"{app_run.pid}.{same.index(app_run) + 1}"

    labelled = []
    for line in lines:
        owner = next((r for r in runs_of.get(line.pid, [])
                      if r.spawned <= line.t_ns and (r.ended is None or line.t_ns <= r.ended)),
                     None)
        if owner is None:
            report.violation(f"log: {line.event} {line.workflow_id} {line.step} at {line.t_ns} "
                             f"comes from pid {line.pid}, which the driver was not running then")
            labelled.append(line._replace(pid=str(line.pid)))
        else:
            labelled.append(line._replace(pid=label(owner)))
    kills = {label(r): r.killed for r in app_runs if r.killed is not None}
    spawned = {label(r): r.spawned for r in app_runs}
    return labelled, kills, spawned


def check_log(lines: list[LogLine], operations: dict[str, list[tuple]],
              app_runs: list[AppRun], steps: int, report: Report) -> None:
    """What really ran, against what was recorded and when the processes were killed. A kill
    happened between its (sent, reaped) times: the killed process may still log in between,
    and another one may see it dead (a zombie) before the driver reaped it."""
    lines, kills, spawned = _label_processes(lines, app_runs, report)
    launched = {line.pid for line in lines if line.event == "launched"}
    runs: dict[tuple[str, int], dict[str, dict[str, int]]] = {}  # (wf, k) -> pid -> event -> t
    for line in lines:
        if line.event not in ("start", "end"):
            continue
        if not 1 <= line.step <= steps:
            report.violation(f"log: step {line.step} of {line.workflow_id} is out of range")
            continue
        by_pid = runs.setdefault((line.workflow_id, line.step), {}).setdefault(line.pid, {})
        if line.event in by_pid:
            report.violation(f"log: pid {line.pid} logged '{line.event}' of {line.workflow_id} "
                             f"step {line.step} twice: a process ran a step twice")
        by_pid.setdefault(line.event, line.t_ns)
    report.step_runs = sum(1 for line in lines if line.event == "start")

    # Kills: how many landed inside a step, how many before DBOS.launch() returned.
    open_steps = {pid for by_pid in runs.values() for pid, ev in by_pid.items()
                  if "start" in ev and "end" not in ev}
    report.kills_in_step = sum(1 for pid in kills if pid in open_steps)
    report.kills_before_launch = sum(1 for pid in kills
                                     if pid not in open_steps and pid not in launched)
    report.kills_elsewhere = len(kills) - report.kills_in_step - report.kills_before_launch

    recorded = {(w, op[0]): op for w, ops in operations.items() for op in ops}
    for (workflow_id, k), by_pid in sorted(runs.items()):
        where = f"log: {workflow_id} step {k}"
        executions = []
        for pid, ev in by_pid.items():
            if "start" not in ev:
                report.violation(f"{where}: pid {pid} logged 'end' without 'start'")
                continue
            executions.append((ev["start"], ev.get("end"), pid))
        executions.sort(key=lambda execution: execution[0])
        op = recorded.get((workflow_id, k))
        if op is None:
            report.violation(f"{where}: ran ({len(executions)} runs) but is not recorded")
            continue
        if not executions:
            continue
        if len(executions) > 1:
            report.reexecuted_steps += 1
        # Every run but the last was cut short by a SIGKILL of its process before the next run.
        for (start, end, pid), (next_start, _, next_pid) in zip(executions, executions[1:]):
            if pid not in kills:
                report.violation(
                    f"{where}: ran again in pid {next_pid} although pid {pid}, which ran it "
                    f"{'to its end' if end else 'first'}, was never killed")
                continue
            sent, reaped = kills[pid]
            if not (start <= reaped and sent <= next_start):
                report.violation(
                    f"{where}: ran again in pid {next_pid} at {next_start} but pid {pid} "
                    f"(run at {start}) was killed at {sent}..{reaped}, not in between")
            elif end is not None:
                report.reexecuted_after_end += 1
        last_start, last_end, last_pid = executions[-1]
        if last_end is None:
            report.violation(f"{where}: is recorded but its last run (pid {last_pid}) has no "
                             "'end' line")
        # The record is the last run's: started before it, completed after it.
        started_ms, completed_ms = op[4], op[5]
        if started_ms is None or completed_ms is None:
            report.violation(f"{where}: recorded without started_at/completed_at: {op}")
            continue
        slack_ms = 2
        if len(executions) > 1:
            previous_start, _, previous_pid = executions[-2]
            previous_gone = kills.get(previous_pid, (previous_start,))[0] // 1_000_000
            if started_ms < previous_gone - slack_ms:
                report.violation(f"{where}: the record (started_at {started_ms} ms) is not from "
                                 f"its last run: the run before was still alive at "
                                 f"{previous_gone} ms")
        if started_ms > last_start // 1_000_000 + slack_ms:
            report.violation(f"{where}: recorded started_at {started_ms} ms is after its last "
                             f"run started ({last_start // 1_000_000} ms)")
        for start, end, pid in executions:
            for t in (start, end):
                if t is not None and t // 1_000_000 > completed_ms + slack_ms:
                    report.violation(f"{where}: pid {pid} ran it at {t // 1_000_000} ms, after it "
                                     f"was recorded completed at {completed_ms} ms")

    # A step never runs again once the next step started (that next step saw it recorded).
    first_start: dict[tuple[str, int], int] = {}
    last_start: dict[tuple[str, int], int] = {}
    for (workflow_id, k), by_pid in runs.items():
        starts = [ev["start"] for ev in by_pid.values() if "start" in ev]
        if starts:
            first_start[(workflow_id, k)] = min(starts)
            last_start[(workflow_id, k)] = max(starts)
    for (workflow_id, k), t in last_start.items():
        after = first_start.get((workflow_id, k + 1))
        if after is not None and t > after:
            report.violation(f"log: {workflow_id} step {k} ran again (at {t}) after step {k + 1} "
                             f"had started (at {after}): a recorded step was lost")

    # One process at a time per workflow; another pid only after a SIGKILL of the last one.
    spans: dict[str, dict[str, list[int]]] = {}  # workflow -> pid -> [first t, last t]
    for (workflow_id, _), by_pid in runs.items():
        for pid, ev in by_pid.items():
            end = ev.get("end")
            if end is None:
                end = kills.get(pid, (None,))[0]
                if end is None:
                    report.violation(f"log: pid {pid} started a step of {workflow_id} and never "
                                     "ended it, but it was not killed")
                    end = ev.get("start", 0)
            span = spans.setdefault(workflow_id, {}).setdefault(pid, [ev.get("start", end), end])
            span[0] = min(span[0], ev.get("start", end))
            span[1] = max(span[1], end)
    for workflow_id, by_pid in sorted(spans.items()):
        ordered = sorted(((first, last, pid) for pid, (first, last) in by_pid.items()),
                         key=lambda span: span[0])
        if len(ordered) > 1:
            report.workflows_moved += 1
        for (first, last, pid), (next_first, _, next_pid) in zip(ordered, ordered[1:]):
            if next_first < last:
                report.violation(f"log: {workflow_id} ran in pid {pid} and pid {next_pid} at once "
                                 f"({first}..{last} and from {next_first})")
            report.moves += 1
            killed = kills.get(pid, (None,))[0]
            if killed is not None and spawned.get(next_pid, killed) < killed:
                report.moves_to_running += 1
            if killed is None or killed > next_first:
                report.violation(f"log: {workflow_id} moved from pid {pid} to pid {next_pid} at "
                                 f"{next_first} although pid {pid} was "
                                 f"{'never killed' if killed is None else 'killed later'}")


def check_snapshot(path: str, expected_ids: set[str], steps: int,
                   final_workflows: dict, final_operations: dict, report: Report) -> None:
    """One live copy: opened (through a copy of it, so the copy itself stays as taken) with the
    stdlib sqlite3; integrity, each workflow in a state some moment of the run had, and nothing
    in it that the final journal lost or changed."""
    name = os.path.basename(os.path.dirname(path))
    scratch = tempfile.mkdtemp(prefix="torture-snapshot-")
    try:
        copy = os.path.join(scratch, JOURNAL_NAME)
        shutil.copyfile(path, copy)
        if os.path.exists(path + "-wal"):
            shutil.copyfile(path + "-wal", copy + "-wal")
        conn = sqlite3.connect(copy, timeout=10)
        try:
            problems = _integrity(conn)
            if problems != ["ok"]:
                report.violation(f"snapshot {name}: integrity_check says {problems[:5]}")
                return
            if "workflow_status" not in _tables(conn):
                report.snapshots_checked += 1
                return  # taken before the schema was created
            workflows, operations = _read_journal(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        report.violation(f"snapshot {name}: cannot be read: {exc}")
        return
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report.snapshots_checked += 1
    where = f"snapshot {name}"
    for workflow_id, (status, _, _, output, error) in sorted(workflows.items()):
        if workflow_id not in expected_ids:
            report.violation(f"{where}: unexpected workflow {workflow_id!r}")
            continue
        ops = operations.get(workflow_id, [])
        if status == "SUCCESS":
            report.snapshot_success += 1
            if _json(output) != expected_output(workflow_id, steps):
                report.violation(f"{where}: {workflow_id} is SUCCESS with output {output!r}")
            _check_operations(where, workflow_id, ops, steps, True, report)
        elif status == "PENDING":
            report.snapshot_pending += 1
            _check_operations(where, workflow_id, ops, steps, False, report)
        else:
            report.violation(f"{where}: {workflow_id} is {status} error={(error or '')[:300]!r}")
        final = final_workflows.get(workflow_id)
        if final is None:
            report.violation(f"{where}: {workflow_id} is not in the final journal: lost")
            continue
        if status == "SUCCESS" and (final[0], final[3]) != (status, output):
            report.violation(f"{where}: {workflow_id} was SUCCESS {output!r}, the final journal "
                             f"has {final[0]} {final[3]!r}")
        final_ops = {op[0]: op for op in final_operations.get(workflow_id, [])}
        for op in ops:
            if final_ops.get(op[0]) != op:
                report.violation(f"{where}: {workflow_id} operation {op[:4]} differs in the final "
                                 f"journal: {final_ops.get(op[0])}")


# ==== Entry points ====


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="torture.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kills", type=int, default=500, help="SIGKILLs to deliver (default 500)")
    p.add_argument("--seed", type=int, default=1, help="seed of the kill moments")
    p.add_argument("--sync", choices=["FULL", "NORMAL"], default="FULL",
                   help="sqlite_synchronous of the apps")
    p.add_argument("--workflows", type=int, default=20, help="workflows per round")
    p.add_argument("--steps", type=int, default=6, help="steps per workflow")
    p.add_argument("--processes", type=int, default=1,
                   help="app processes on the journal at once, each killed independently")
    p.add_argument("--snapshots", action="store_true",
                   help="copy the live journal at random moments and check the copies")
    p.add_argument("--snapshot-mode", choices=["guarded", "unguarded"], default="guarded",
                   help="unguarded: copy without holding a read transaction (to see why it "
                        "is needed)")
    p.add_argument("--max-snapshots", type=int, default=40,
                   help="snapshots kept for the checks (a uniform sample of those taken)")
    p.add_argument("--journal-dir", default=None,
                   help="where the journal, log and snapshots go (default: a new temp dir, "
                        "removed after a passing run)")
    p.add_argument("--kill-min", type=float, default=0.05,
                   help="earliest kill, in seconds after an app's launch (see EARLY_KILLS)")
    p.add_argument("--kill-max", type=float, default=0.5,
                   help="latest kill, in seconds after an app's launch (see EARLY_KILLS)")
    p.add_argument("--step-ms", type=float, default=DEFAULT_STEP_MS,
                   help="each step sleeps a random 0..MS milliseconds")
    p.add_argument("--final-timeout", type=float, default=120.0,
                   help="seconds the last runs get to finish after the last kill")
    p.add_argument("--check", action="store_true",
                   help="only run the checks again on the --journal-dir a run left")
    return p


def run(*, kills: int = 500, seed: int = 1, sync: str = "FULL", workflows: int = 20,
        steps: int = 6, processes: int = 1, snapshots: bool = False, journal_dir=None,
        snapshot_mode: str = "guarded", max_snapshots: int = 40, kill_min: float = 0.05,
        kill_max: float = 0.5, step_ms: float = DEFAULT_STEP_MS,
        final_timeout: float = 120.0) -> Report:
    """Run the torture, then its checks; the Report says what happened and what was violated.
    ``journal_dir`` must not hold a journal yet (default: a new temp dir). What the checks need
    besides the journal and the log (rounds, kill times) is saved in its run.json."""
    opts = argparse.Namespace(
        kills=kills, seed=seed, sync=sync, workflows=workflows, steps=steps,
        processes=processes, snapshots=snapshots, snapshot_mode=snapshot_mode,
        max_snapshots=max_snapshots, kill_min=kill_min, kill_max=kill_max, step_ms=step_ms,
        final_timeout=final_timeout)
    if processes < 1 or workflows < 1 or steps < 1 or kills < 0 or max_snapshots < 1 \
            or not 0 <= kill_min <= kill_max:
        raise ValueError(f"bad torture options: {vars(opts)}")
    directory = str(journal_dir) if journal_dir is not None else tempfile.mkdtemp(
        prefix="torture-")
    os.makedirs(directory, exist_ok=True)
    for name in (JOURNAL_NAME, LOG_NAME, RUN_FILE, "snapshots"):
        if os.path.exists(os.path.join(directory, name)):
            raise ValueError(f"{directory} already holds {name}: use an empty --journal-dir")
    report = Report(options=vars(opts).copy(), journal_dir=os.path.abspath(directory))
    began = time.monotonic()
    runner = _Runner(opts, report, directory)
    try:
        runner.run()
    finally:
        runner.kill_all()  # whatever happened, no app outlives the run
    report.elapsed_sec = time.monotonic() - began
    with open(os.path.join(directory, RUN_FILE), "w") as f:
        json.dump({"options": report.options, "rounds": report.rounds,
                   "app_runs": [dataclasses.asdict(r) for r in runner.runs],
                   "snapshots": [os.path.relpath(t, directory) for t in runner.snapshots]},
                  f, indent=1)
    return check(directory, workflows=workflows, steps=steps, rounds=report.rounds,
                 app_runs=runner.runs, snapshots=runner.snapshots, report=report)


def check(directory: str, *, workflows: int, steps: int, rounds: int, app_runs: list[AppRun],
          snapshots=(), report: Report | None = None) -> Report:
    """Every check, on a torture directory whose apps are all gone (``app_runs``: every app
    process the run started, with its kill if it was killed)."""
    if report is None:
        report = Report(options={"workflows": workflows, "steps": steps},
                        journal_dir=os.path.abspath(directory))
    report.rounds = rounds
    expected_ids = [w for r in range(rounds) for w in workflow_ids(workflows, r)]
    journal = os.path.join(directory, JOURNAL_NAME)
    if not os.path.exists(journal):
        report.violation("the journal was never created")
        return report
    final_workflows, final_operations = check_journal(journal, expected_ids, steps, report)
    check_log(read_log(os.path.join(directory, LOG_NAME), report), final_operations, app_runs,
              steps, report)
    for target in sorted(snapshots):
        check_snapshot(os.path.join(target, JOURNAL_NAME), set(expected_ids), steps,
                       final_workflows, final_operations, report)
    return report


def load_app_runs(saved: dict) -> list[AppRun]:
    runs = [AppRun(**r) for r in saved["app_runs"]]
    for r in runs:
        if r.killed is not None:
            r.killed = tuple(r.killed)
    return runs


def check_directory(directory: str) -> Report:
    """The checks again, on a directory a run left (with its run.json)."""
    with open(os.path.join(directory, RUN_FILE)) as f:
        saved = json.load(f)
    options = saved["options"]
    report = Report(options=options, journal_dir=os.path.abspath(directory))
    app_runs = load_app_runs(saved)
    report.app_runs = len(app_runs)
    report.kills = sum(1 for r in app_runs if r.killed is not None)
    return check(directory, workflows=options["workflows"], steps=options["steps"],
                 rounds=saved["rounds"],
                 app_runs=app_runs,
                 snapshots=[os.path.join(directory, t) for t in saved["snapshots"]],
                 report=report)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    options = vars(args)
    if options.pop("check"):
        if args.journal_dir is None:
            print("torture.py: --check needs --journal-dir", file=sys.stderr)
            return 2
        report = check_directory(args.journal_dir)
        print(report.summary(), flush=True)
        return 0 if report.ok else 1
    keep = options["journal_dir"] is not None
    try:
        report = run(**options)
    except ValueError as exc:
        print(f"torture.py: {exc}", file=sys.stderr)
        return 2
    print(report.summary(), flush=True)
    if report.ok and not keep:
        shutil.rmtree(report.journal_dir, ignore_errors=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
