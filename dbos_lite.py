"""dbos_lite: durable workflows for Python in one file, journaled in SQLite.

A workflow is ordinary Python code. Each step's result is checkpointed in a SQLite journal, so a
program killed with ``kill -9`` (or a power cut) and started again resumes from its last completed
step instead of starting over::

    from dbos_lite import DBOS, SetWorkflowID

    DBOS(config={"name": "hello", "system_database_url": "sqlite:///hello.sqlite"})

    @DBOS.step(retries_allowed=True, max_attempts=5)
    def fetch(url: str) -> str:
        return f"<html>{url}</html>"            # say, an HTTP request

    @DBOS.workflow()
    def pipeline(url: str) -> int:
        return len(fetch(url))                  # recorded once, replayed after a crash

    DBOS.launch()                               # opens the journal, recovers interrupted work
    with SetWorkflowID("job-42"):
        print(pipeline("https://example.com"))  # run again: the recorded result comes back

Guarantees
----------
* A step's outcome (value or error) is recorded exactly once; a completed step never runs again.
  A step runs *at least* once: if the process dies after the step ran but before its outcome was
  recorded, it runs again on recovery.
* A recorded step survives ``kill -9``. With ``sqlite_synchronous="FULL"`` (the default) it also
  survives power loss; with ``"NORMAL"`` the last commits before a power loss may be lost.
* Values cross the journal as msgspec JSON, decoded with the function's annotations, so the first
  run and a replay see equal values. Nothing is pickled or eval'd: opening a journal runs no code.
* ``DBOS.launch()`` resumes every PENDING workflow whose process died and whose function it
  registered. A process on the same host is known dead at once (its pid is gone); one elsewhere
  after a lease of 30 s. Several processes may share one journal; a workflow runs in one process
  at a time. A clean exit gives back what the process owns; only crashes count as recoveries.
* Looking never writes: ``DBOSClient`` and ``python -m dbos_lite`` read through a read-only
  connection; only a call that asks to write (send, enqueue, cancel...) writes.
* A journal failure (disk full, locked, deleted...) raises DBOSJournalError and is never recorded
  as a workflow's outcome: the workflow stays PENDING and resumes once the fault is gone.

The public API is a subset of DBOS Transact for Python 3.x: replacing ``dbos_lite`` by ``dbos``
in the imports moves a program to DBOS Transact and Postgres. The journal's tables are documented
in the "Schema" section below, so it can be read with the ``sqlite3`` shell.

Reading order
-------------
The file reads top to bottom, and each section uses only names defined above it (a test checks
this). Inside a section, public names come first and each helper sits right below its first
user. The sections, each behind a ``# ==== ... ====`` banner:

1. constants, errors, records, serialization;
2. the schema and the Journal, the only code that speaks SQL: its plumbing (connections,
   migrations, group commit, failure mapping), then its verbs, one small SQL function each;
3. processes (who owns a workflow, and whether that process lives), context (which workflow and
   step the running code is in), the registry of workflow and step functions, and of the
   classes and configured instances whose methods are workflows;
4. plans: the replay-or-run logic as generators, driven by a sync or an async driver; and the
   cron parser (pure computation on datetimes);
5. the executor: the thread pool, the bookkeeping of local runs, the housekeeper, the queue
   worker, the scheduler, and the plans of steps, workflows, waiting, messages, events,
   streams, queues, schedules and management;
6. management: what needs a journal but no executor (statuses, listings, steps, the timeline of
   one workflow, schedules, and the few writes a tool outside the program may ask for), shared
   by the facade and by tools;
7. handles, the DBOS facade, Queue, Debouncer and DBOSConfiguredInstance;
8. DBOSClient, which works on a journal from another process;
9. the live page (``python -m dbos_lite ui``) and the command line (``python -m dbos_lite``),
   over a DBOSClient.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    # The facade and its context managers
    "DBOS",
    "DBOSConfiguredInstance",
    "SetWorkflowID",
    "SetWorkflowTimeout",
    "SetEnqueueOptions",
    "Queue",
    "Debouncer",
    "DebouncerClient",
    # Public records
    "WorkflowHandle",
    "WorkflowHandleAsync",
    "WorkflowStatus",
    "WorkflowStatusString",
    "StepInfo",
    "StepOptions",
    "SendMessage",
    "StepStatus",
    "DBOSConfig",
    "EnqueueOptions",
    "QueueRateLimit",
    "WorkflowSchedule",
    "ScheduleInput",
    "ClientScheduleInput",
    # Errors
    "DBOSException",
    "DBOSInitializationError",
    "DBOSMaxStepRetriesExceeded",
    "DBOSMaxStepRetriesError",
    "DBOSUnexpectedStepError",
    "DBOSNonExistentWorkflowError",
    "DBOSConflictingWorkflowError",
    "DBOSQueueDeduplicatedError",
    "DBOSWorkflowIDInUseError",
    "DBOSStreamTimeoutError",
    "DBOSWorkflowFunctionNotFoundError",
    "DBOSWorkflowCancelledError",
    "DBOSAwaitedWorkflowCancelledError",
    "MaxRecoveryAttemptsExceededError",
    "DBOSAwaitedWorkflowMaxRecoveryAttemptsExceeded",
    "DBOSRecordedError",
    "DBOSJournalError",
    # _Journal facts, for tools that read the file
    "APPLICATION_ID",
    "SCHEMA_VERSION",
]

import collections
import contextlib
import contextvars
import functools
import itertools
import os
import sys
import threading
import time
import typing
import uuid
from typing import Any, Callable, Iterator, TypedDict

# Imported where first needed, to keep `import dbos_lite` fast for command-line tools (each
# costs milliseconds): asyncio, concurrent.futures, hashlib, heapq, inspect, logging, socket,
# traceback.

import apsw
import msgspec

if __name__ == "__main__":  # python -m dbos_lite: one module, and so one registry, under its name
    sys.modules.setdefault("dbos_lite", sys.modules[__name__])

# ==== Constants ====

#: ``PRAGMA application_id`` of a dbos_lite journal: the bytes "DBOS".
APPLICATION_ID = 0x44424F53

# A process on another host (or in another pid namespace) that has not renewed its lease for
# this long is considered dead, and its workflows are recovered by a live process.
_PROCESS_LEASE_SEC = 30.0

# How often a launched process renews its lease and looks for workflows of dead processes.
_HEARTBEAT_SEC = 5.0

# Retry back-off never waits longer than this between two attempts (as in DBOS Transact).
_MAX_RETRY_INTERVAL_SEC = 3600.0

# The longest duration any parameter takes (about 31 years): past it a value is a mistake, and
# deadlines computed from it would overflow.
_MAX_DURATION_SEC = 1e9

_DEFAULT_POLLING_INTERVAL_SEC = 0.1
_SCHEDULE_LOOK_SEC = 1.0  # how often the scheduler looks for schedules changed elsewhere
_DEFAULT_BUSY_TIMEOUT_SEC = 10.0
_DEFAULT_MAX_EXECUTOR_THREADS = 64
_DEFAULT_MAX_RECOVERY_ATTEMPTS = 100

# The queue of the workflows that name none: a Debouncer's, a schedule's, a client's resume
# (the name DBOS Transact uses).
_INTERNAL_QUEUE_NAME = "_dbos_internal_queue"


class _Logger:
    """``logging.getLogger("dbos_lite")``, imported at its first use: importing logging costs
    a command-line tool several milliseconds at startup. Configure it as any _logger."""

    def __getattr__(self, name: str) -> Any:
        import logging

        return getattr(logging.getLogger("dbos_lite"), name)


_logger: Any = _Logger()


class WorkflowStatusString:
    """The statuses a workflow can have, as stored in ``workflow_status.status``."""

    PENDING = "PENDING"
    ENQUEUED = "ENQUEUED"
    DELAYED = "DELAYED"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"
    MAX_RECOVERY_ATTEMPTS_EXCEEDED = "MAX_RECOVERY_ATTEMPTS_EXCEEDED"


_FINISHED = frozenset(
    {
        WorkflowStatusString.SUCCESS,
        WorkflowStatusString.ERROR,
        WorkflowStatusString.CANCELLED,
        WorkflowStatusString.MAX_RECOVERY_ATTEMPTS_EXCEEDED,
    }
)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _WorkflowIds:
    """Default workflow ids: UUIDs version 7, with the time in ms in their first 48 bits, so new
    workflows land at the end of the journal's indexes instead of at random pages. Their 74 other
    free bits are a random number drawn once per process and a counter that starts at a random
    value (RFC 9562 allows a counter there): reading os.urandom for every id let other threads
    take the GIL from the thread starting a workflow (see benchmarks/bench_concurrent.py)."""

    _COUNTER = (1 << 40) - 1  # the low 40 bits of an id count; next() on a count is atomic

    def __init__(self) -> None:
        self._middle = ""  # hex digits 12 to 21 of every id, with the dashes
        self._counter: Iterator[int] | None = None  # None until the first id (or a fork)
        self._fork_hook = False

    def new(self) -> str:
        counter = self._counter
        if counter is None:  # the first id of this process (or of a forked child)
            counter = self._draw()
        # The text of str(uuid.UUID(int=...)), formatted here: cheaper, and the same. (hex()
        # of the number with one bit set above its digits, which that bit's digit then drops,
        # gives them zero-padded in a fifth of the time of a format with a width.)
        time_digits = hex(_now_ms() | 1 << 48)[3:]
        return (f"{time_digits[:8]}-{time_digits[8:]}{self._middle}"
                f"{hex(next(counter) & self._COUNTER | 1 << 40)[3:]}")

    def _draw(self) -> Iterator[int]:
        """Draw this process's random part (bits 40 to 79, with the version 7 and the RFC 4122
        variant bits set) and counter. A forked child draws its own, through an at-fork hook
        registered with the first id (checking os.getpid() for every id costs a system call)."""
        random = int.from_bytes(os.urandom(10), "big")
        bits = random >> 40 << 40
        bits = (bits & ~(0xF << 76)) | (0x7 << 76)  # version 7
        bits = (bits & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
        digits = f"{bits >> 40:010x}"
        self._middle = f"-{digits[:4]}-{digits[4:8]}-{digits[8:]}"
        self._counter = counter = itertools.count(random & self._COUNTER)
        if not self._fork_hook:
            self._fork_hook = True
            os.register_at_fork(after_in_child=self._forget)
        return counter

    def _forget(self) -> None:
        """In a forked child: the next id draws a random part of its own."""
        self._counter = None


_default_workflow_ids = _WorkflowIds()
_new_workflow_id = _default_workflow_ids.new


# ==== Errors ====
# Every error's str() says what happened and what to do. Their constructor arguments are their
# ``args``, so the journal can record them as data and rebuild them on replay. An error with a
# ``_message`` template names its arguments in ``_fields`` (they become attributes) and formats
# its message from them.


class DBOSException(Exception):
    """Base class of every dbos_lite error."""

    _fields: tuple[str, ...] = ()
    _message = ""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        for field, value in zip(self._fields, args):
            setattr(self, field, value)

    def __str__(self) -> str:
        if not self._message:
            return super().__str__()
        return self._message.format(**{field: getattr(self, field, None)
                                       for field in self._fields})


class DBOSInitializationError(DBOSException):
    """The configuration or the journal file cannot be used; nothing was changed."""


class DBOSMaxStepRetriesExceeded(DBOSException):
    """A step with retries failed on every attempt; ``errors`` holds each attempt's error."""

    _fields = ("step_name", "max_retries")

    def __init__(self, step_name: str, max_retries: int, errors: list[BaseException] | None = None):
        super().__init__(step_name, max_retries)
        self.errors: list[BaseException] = list(errors or [])

    def __str__(self) -> str:
        last = f" Last error: {self.errors[-1]!r}." if self.errors else ""
        return (
            f"Step {self.step_name!r} has exceeded its maximum of {self.max_retries} attempts."
            f"{last} Catch this error in the workflow, or raise max_attempts in @DBOS.step()."
        )


#: The TypeScript name of :class:`DBOSMaxStepRetriesExceeded`.
DBOSMaxStepRetriesError = DBOSMaxStepRetriesExceeded


class DBOSUnexpectedStepError(DBOSException):
    """Replay found a different operation recorded at this position: the code changed under a
    workflow that was in flight. Use ``DBOS.patch`` to change code of running workflows."""

    _fields = ("workflow_id", "step_id", "expected_name", "recorded_name")
    _message = (
        "Workflow {workflow_id!r} called {expected_name!r} as operation {step_id}, but the "
        "journal recorded {recorded_name!r} there: the workflow code is not deterministic, or "
        "changed while the workflow was in flight. Keep the order of steps stable, or guard the "
        "change with DBOS.patch().")


class DBOSNonExistentWorkflowError(DBOSException):
    """No workflow with this id is in the journal."""

    _fields = ("workflow_id",)
    _message = "Workflow {workflow_id!r} does not exist in the journal."


class DBOSConflictingWorkflowError(DBOSException):
    """A workflow id is already used by a different workflow function."""

    _fields = ("workflow_id", "reason")
    _message = "Conflicting workflow id {workflow_id!r}: {reason}"


class DBOSQueueDeduplicatedError(DBOSException):
    """A workflow was not enqueued: another unfinished workflow on the queue holds its
    deduplication id. ``workflow_id`` is the id of the workflow that was refused."""

    _fields = ("workflow_id", "queue_name", "deduplication_id")
    _message = (
        "Workflow {workflow_id} was deduplicated due to an existing workflow in queue "
        "{queue_name} with deduplication ID {deduplication_id}.")


class DBOSWorkflowIDInUseError(DBOSException):
    """A start with ``workflow_id_reuse_policy="reject"`` found its workflow id in use."""

    _fields = ("workflow_id", "workflow_status", "workflow_name")
    _message = ("Workflow ID {workflow_id} is already in use by workflow {workflow_name} with "
                "status {workflow_status}.")


class DBOSStreamTimeoutError(DBOSException):
    """No value arrived on a stream within the timeout given, or (without one) the stream
    ended before the offset asked for."""

    _fields = ("workflow_id", "key", "timeout_seconds")

    def __str__(self) -> str:
        if getattr(self, "timeout_seconds", None) is None:
            return (f"Stream {self.key!r} of workflow {self.workflow_id!r} ended before the "
                    "value asked for: no value will arrive there.")
        return (f"No value arrived on stream {self.key!r} of workflow {self.workflow_id!r} "
                f"within {self.timeout_seconds} seconds; read again to wait longer.")


class DBOSWorkflowFunctionNotFoundError(DBOSException):
    """The journal names a workflow function this process has not registered, or (``missing``)
    the class or configured instance a method workflow runs on."""

    _fields = ("workflow_id", "name", "missing")
    _message = (
        "Workflow {workflow_id!r} runs function {name!r}, which this process has not "
        "registered. It is left PENDING for a process that registers it (import the module that "
        "defines it before DBOS.launch()).")

    def __init__(self, workflow_id: str, name: str, missing: str | None = None):
        super().__init__(workflow_id, name, *([] if missing is None else [missing]))
        self.missing = missing

    def __str__(self) -> str:
        if self.missing is None:
            return super().__str__()
        return (
            f"Workflow {self.workflow_id!r} runs {self.name!r} on {self.missing}, which this "
            "process has not registered. It is left PENDING for a process that registers it "
            "(decorate the class with @DBOS.dbos_class() and create its DBOSConfiguredInstance "
            "instances before DBOS.launch()).")


class DBOSWorkflowCancelledError(BaseException):
    """Raised inside a workflow that was cancelled or timed out, to stop it at its next durable
    operation. A BaseException, so ``except Exception`` in user code cannot swallow it."""


class DBOSAwaitedWorkflowCancelledError(DBOSException):
    """The workflow being waited for was cancelled (or timed out)."""

    _fields = ("workflow_id",)
    _message = ("Awaited workflow {workflow_id!r} was cancelled. DBOS.resume_workflow() "
                "continues it from its last completed step.")


class MaxRecoveryAttemptsExceededError(DBOSException):
    """A workflow was recovered more than its ``max_recovery_attempts``; it is a dead letter."""

    _fields = ("workflow_id", "max_recovery_attempts")
    _message = (
        "Workflow {workflow_id!r} was interrupted and recovered more than "
        "{max_recovery_attempts} times; it is now MAX_RECOVERY_ATTEMPTS_EXCEEDED. Fix the cause "
        "(it may crash the process), then call DBOS.resume_workflow().")


class DBOSAwaitedWorkflowMaxRecoveryAttemptsExceeded(DBOSException):
    """The workflow being waited for ended MAX_RECOVERY_ATTEMPTS_EXCEEDED."""

    _fields = ("workflow_id",)
    _message = ("Awaited workflow {workflow_id!r} exceeded its maximum recovery attempts. Fix "
                "the cause, then call DBOS.resume_workflow().")


class DBOSJournalError(DBOSException):
    """The journal could not be read or written: disk full, I/O error, locked by another process
    for longer than the busy timeout, read-only, corrupt, or deleted while the process ran.
    Nothing is recorded as the workflow's outcome: it stays PENDING and resumes once the fault
    is gone (run it again with its id, relaunch, or call ``DBOS.resume_workflow``)."""


class DBOSRecordedError(DBOSException):
    """An error read back from the journal whose class this process cannot rebuild (its module
    is not imported, or its constructor refuses the recorded arguments). Carries the recorded
    type name, message and traceback text."""

    _fields = ("type_name", "message", "traceback_text")
    _message = "{type_name}: {message}"

    def __init__(self, type_name: str, message: str, traceback_text: str = ""):
        super().__init__(type_name, message, traceback_text)


class _InvalidArgument(DBOSException, ValueError):
    """A parameter's value cannot be used; nothing was started or recorded. Both a
    DBOSException and a ValueError, so either ``except`` catches it."""


def _duration(value: Any, parameter: str, *, positive: bool = False,
              optional: bool = False) -> float | None:
    """``value`` as a number of seconds, checked at the API: a finite number from 0 (or above
    0 if ``positive``) to _MAX_DURATION_SEC, or None if ``optional``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _InvalidArgument(
            f"{parameter} must be a number of seconds, not {value!r}"
            + (" (or None for no limit)." if optional else "."))
    seconds = float(value)
    low_ok = seconds > 0 if positive else seconds >= 0
    if not (low_ok and seconds <= _MAX_DURATION_SEC):  # False for NaN too
        bound = "greater than 0" if positive else "at least 0"
        raise _InvalidArgument(
            f"{parameter} must be a finite number of seconds, {bound} and at most "
            f"{_MAX_DURATION_SEC:.0e}; got {value!r}."
            + (" Pass None for no limit." if optional else ""))
    return seconds


class _NotOwner(Exception):
    """Raised inside a journal transaction whose process lost the workflow: the transaction
    is rolled back and the exception reaches the verb's caller."""


class _JournalFailure(BaseException):
    """Carries a DBOSJournalError out of a workflow body: user code cannot swallow it with
    ``except Exception`` and go on as if the failed operation had been recorded."""

    def __init__(self, error: DBOSJournalError):
        super().__init__(error)
        self.error = error


class _OwnershipLost(BaseException):
    """This process no longer owns the workflow (another process recovered it, or DBOS was
    destroyed); the local execution stops without recording anything."""



# ==== Records ====
# Frozen msgspec Structs cross the layers. Their fields are the journal's columns, in order, so
# the journal builds them straight from rows.


class _WorkflowRecord(msgspec.Struct, frozen=True):
    """One row of ``workflow_status``."""

    workflow_id: str
    status: str
    name: str
    inputs: str
    output: str | None
    error: str | None
    executor_id: str | None
    owner: str | None
    application_version: str | None
    created_at: int
    updated_at: int
    recovery_attempts: int
    max_recovery_attempts: int
    parent_workflow_id: str | None
    queue_name: str | None
    timeout_ms: int | None
    deadline_epoch_ms: int | None
    forked_from: str | None
    class_name: str | None = None
    config_name: str | None = None
    priority: int = 0
    queue_partition_key: str | None = None
    deduplication_id: str | None = None
    delay_until_epoch_ms: int | None = None
    dequeued_at: int | None = None
    schedule_name: str | None = None


class _QueueRecord(msgspec.Struct, frozen=True):
    """One row of ``queues``: a queue's settings, shared by every process on the journal."""

    name: str
    worker_concurrency: int | None = None
    global_concurrency: int | None = None
    partition_concurrency: int | None = None
    partition_worker_concurrency: int | None = None
    limiter_limit: int | None = None
    limiter_period_ms: int | None = None
    partition_limiter_limit: int | None = None
    partition_limiter_period_ms: int | None = None
    polling_interval_sec: float = 1.0
    created_at: int = 0
    updated_at: int = 0

    @property
    def partitioned(self) -> bool:
        return self.partition_concurrency is not None \
            or self.partition_worker_concurrency is not None \
            or self.partition_limiter_limit is not None


class _QueueEntry(msgspec.Struct, frozen=True):
    """A queued workflow's place in its queue (a row of ``queue_entries``)."""

    workflow_id: str
    queue_name: str
    priority: int
    partition_key: str | None
    deduplication_id: str | None
    not_before_ms: int | None
    app_version: str | None


class _ScheduleRecord(msgspec.Struct, frozen=True):
    """One row of ``schedules``: a cron schedule (DBOS.create_schedule), shared by every
    process on the journal. ``last_fired_at`` is the ISO time of the latest scheduled time
    fired; ``context`` is JSON."""

    schedule_name: str
    schedule_id: str
    workflow_name: str
    workflow_class_name: str | None
    schedule: str
    status: str
    context: str
    last_fired_at: str | None
    automatic_backfill: bool
    cron_timezone: str | None
    queue_name: str | None
    created_at: int
    updated_at: int

    def same_definition(self, other: _ScheduleRecord) -> bool:
        """Whether both fire the same workflow at the same times with the same context."""
        return (self.schedule_id, self.workflow_name, self.workflow_class_name, self.schedule,
                self.context, self.cron_timezone, self.queue_name) == (
            other.schedule_id, other.workflow_name, other.workflow_class_name, other.schedule,
            other.context, other.cron_timezone, other.queue_name)


class _Claimant(msgspec.Struct, frozen=True):
    """Who asks for queued workflows, and how many more it can run: the process's id and
    executor id, its application version, the workflow functions it has (``names``, and
    ``targets`` for methods) and ``room``, the places free in its pool."""

    owner: str
    executor_id: str
    application_version: str
    names: list[str]
    targets: list[tuple[str, str | None]]
    room: int


class _OperationRecord(msgspec.Struct, frozen=True):
    """One row of ``operation_outputs``: the recorded outcome of one durable operation."""

    workflow_id: str
    function_id: int
    function_name: str
    output: str | None
    error: str | None
    child_workflow_id: str | None
    started_at_epoch_ms: int | None
    completed_at_epoch_ms: int | None


class _ProcessRecord(msgspec.Struct, frozen=True):
    """One row of ``processes``: a launched dbos_lite instance that may own workflows."""

    process_id: str
    executor_id: str
    host: str
    pid: int
    pid_started: int | None
    launched_at: int
    heartbeat_at: int
    workflow_names: str | None = None  # JSON lists, for tools that look (see the schema)
    queue_names: str | None = None


class _AttemptRecord(msgspec.Struct, frozen=True):
    """One row of ``step_attempts``: a failed attempt of a step."""

    workflow_id: str
    function_id: int
    function_name: str
    attempt: int
    error: str
    started_at_epoch_ms: int
    failed_at_epoch_ms: int
    retry_at_epoch_ms: int | None


class _WaitRecord(msgspec.Struct, frozen=True):
    """One row of ``workflow_waits``: an operation of a workflow that waits."""

    workflow_id: str
    function_id: int
    kind: str
    detail: str
    until_epoch_ms: int | None
    since_epoch_ms: int


class _QueuePlace(msgspec.Struct, frozen=True):
    """Where a queued workflow stands: its queue, how many waiting workflows are due before
    it, whether a process took it, and until when it is delayed."""

    queue_name: str
    ahead: int
    running: bool
    not_before_ms: int | None


class _MessageRecord(msgspec.Struct, frozen=True):
    """One row of ``notifications``: a message on its way to a workflow."""

    destination_id: str
    topic: str
    message: str
    idempotency_key: str | None
    created_at: int


class _OperationLookup(msgspec.Struct, frozen=True):
    """What is recorded at one position of a workflow, with the workflow's status (None if
    the workflow does not exist)."""

    status: str | None
    operation: _OperationRecord | None


class _ErrorRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    """How an exception is stored: as data, never pickled. ``errors`` holds nested errors (the
    attempts of a :class:`DBOSMaxStepRetriesExceeded`)."""

    type: str
    module: str
    message: str
    args: list[Any] | None = None
    traceback: str = ""
    errors: list[_ErrorRecord] = []


class StepStatus(msgspec.Struct, frozen=True):
    """What ``DBOS.step_status`` tells a running step: its operation id, the current attempt
    (0-based) and the number of attempts allowed (``None`` without retries)."""

    step_id: int
    current_attempt: int | None
    max_attempts: int | None


class SendMessage(msgspec.Struct, frozen=True):
    """One message of ``DBOS.send_bulk``: the same as ``DBOS.send``'s arguments."""

    destination_id: str
    message: Any
    topic: str | None = None
    idempotency_key: str | None = None


class StepOptions(TypedDict, total=False):
    """Options of ``DBOS.run_step``: the same as ``@DBOS.step``'s keyword arguments."""

    name: str
    retries_allowed: bool
    interval_seconds: float
    max_attempts: int
    backoff_rate: float
    should_retry: Callable[[BaseException], bool] | None


class QueueRateLimit(TypedDict):
    """A queue's rate limit: at most ``limit`` workflows start in any ``period`` seconds."""

    limit: int
    period: float


class EnqueueOptions(TypedDict, total=False):
    """What ``DBOSClient.enqueue`` and ``DBOS.enqueue_workflow_with_options`` enqueue:
    ``workflow_name`` and ``queue_name`` are required, the rest as in SetEnqueueOptions
    (``workflow_timeout`` in seconds)."""

    workflow_name: str
    queue_name: str
    workflow_id: str
    app_version: str
    workflow_timeout: float
    deduplication_id: str
    duplication_policy: str
    priority: int
    delay_seconds: float
    queue_partition_key: str
    class_name: str
    instance_name: str


class WorkflowSchedule(TypedDict):
    """A cron schedule, as ``DBOS.get_schedule`` and ``list_schedules`` return it: its runs
    call workflow ``workflow_name`` with ``(scheduled_time, context)``. ``status`` is
    ``"ACTIVE"`` or ``"PAUSED"``; ``last_fired_at`` the ISO time of the latest scheduled time
    fired (None before the first). ``shard_key`` is always None (DBOS Transact's field)."""

    schedule_id: str
    schedule_name: str
    workflow_name: str
    workflow_class_name: str | None
    schedule: str
    status: str
    context: Any
    last_fired_at: str | None
    automatic_backfill: bool
    cron_timezone: str | None
    queue_name: str | None
    application_name: str | None
    shard_key: str | None


class ScheduleInput(TypedDict, total=False):
    """One schedule for ``DBOS.apply_schedules``: ``schedule_name``, ``workflow_fn`` and
    ``schedule`` are required, the rest as ``DBOS.create_schedule`` takes them."""

    schedule_name: str
    workflow_fn: Callable[..., Any]
    schedule: str
    context: Any
    automatic_backfill: bool
    cron_timezone: str | None
    queue_name: str | None
    shard_key: str | None


class ClientScheduleInput(TypedDict, total=False):
    """One schedule for ``DBOSClient.apply_schedules``: as ScheduleInput, with the workflow
    named (``workflow_name``, and ``workflow_class_name`` for a classmethod)."""

    schedule_name: str
    workflow_name: str
    workflow_class_name: str | None
    schedule: str
    context: Any
    automatic_backfill: bool
    cron_timezone: str | None
    queue_name: str | None
    application_name: str | None
    shard_key: str | None


class StepInfo(TypedDict):
    """One recorded operation of a workflow, as ``DBOS.list_workflow_steps`` returns it."""

    function_id: int
    function_name: str
    output: Any
    error: BaseException | None
    child_workflow_id: str | None
    started_at_epoch_ms: int | None
    completed_at_epoch_ms: int | None


class DBOSConfig(TypedDict, total=False):
    """The configuration ``DBOS(config=...)`` accepts; only ``name`` is required."""

    name: str
    system_database_url: str
    application_version: str
    executor_id: str
    max_executor_threads: int
    notification_listener_polling_interval_sec: float
    log_level: str
    sqlite_synchronous: str
    busy_timeout_sec: float


class WorkflowStatus(msgspec.Struct, kw_only=True):
    """The state of one workflow, as ``get_workflow_status`` and ``list_workflows`` return it.
    ``input`` is ``{"args": [...], "kwargs": {...}}`` (without the instance or class of a
    method); ``output`` and ``error`` are decoded. ``class_name`` is set for a workflow that
    is a method of a class registered with ``@DBOS.dbos_class()``, and ``config_name`` for one
    that is a method of a DBOSConfiguredInstance."""

    workflow_id: str
    status: str
    name: str
    class_name: str | None
    config_name: str | None
    input: dict[str, Any] | None
    output: Any
    error: BaseException | None
    created_at: int
    updated_at: int
    executor_id: str | None
    app_version: str | None
    recovery_attempts: int
    parent_workflow_id: str | None
    queue_name: str | None
    forked_from: str | None
    workflow_timeout_ms: int | None
    workflow_deadline_epoch_ms: int | None
    priority: int = 0
    deduplication_id: str | None = None
    queue_partition_key: str | None = None
    delay_until_epoch_ms: int | None = None
    dequeued_at: int | None = None
    completed_at: int | None = None
    schedule_name: str | None = None
    was_forked_from: bool = False
    # DBOS Transact's fields for what dbos_lite does not have (access control, custom
    # attributes, sharding, DBOS Cloud): always None here, so code that reads them moves.
    authenticated_user: str | None = None
    assumed_role: str | None = None
    authenticated_roles: list[str] | None = None
    attributes: dict[str, Any] | None = None
    application_name: str | None = None
    app_id: str | None = None
    shard_key: str | None = None
    parent_shard_key: str | None = None


# ==== Serialization: msgspec JSON, decoded with the functions' annotations ====

_encoder = msgspec.json.Encoder()
_any_decoder = msgspec.json.Decoder()
_error_decoder = msgspec.json.Decoder(_ErrorRecord)


class _Inputs(msgspec.Struct, frozen=True):
    args: list[msgspec.Raw]
    kwargs: dict[str, msgspec.Raw]


_inputs_decoder = msgspec.json.Decoder(_Inputs)


@functools.lru_cache(maxsize=512)
def _decoder_for(annotation: Any) -> msgspec.json.Decoder:
    """A typed decoder, or the untyped one for an annotation msgspec cannot decode into."""
    if annotation is Any:
        return _any_decoder
    try:
        return msgspec.json.Decoder(annotation)
    except TypeError:
        return _any_decoder


def _encode_value(value: Any, what: str | Callable[[], str]) -> str:
    """Encode a value for the journal; ``what`` names it (or makes its name, only when needed)
    in the error if it cannot be encoded."""
    try:
        encoded = _encoder.encode(value)
    except (TypeError, ValueError, msgspec.EncodeError, OverflowError, RecursionError) as exc:
        what = what() if callable(what) else what
        raise TypeError(
            f"{what} cannot be recorded in the journal: {exc}. Use JSON-like values (str, int, "
            "float, bool, None, list, dict, tuple), dataclasses, msgspec Structs, datetime, "
            "UUID, Decimal, bytes or enums."
        ) from None
    text = encoded.decode()
    # JSON has no NaN or infinity: msgspec writes them as null. Only a value whose JSON holds
    # a null can hide one, so only then is the value searched. (Searched in the str: ``in``
    # on bytes first tries its operand as an int, and raises and clears a TypeError.)
    if "null" in text and _has_non_finite_float(value):
        what = what() if callable(what) else what
        raise TypeError(
            f"{what} cannot be recorded in the journal: it contains NaN or an infinite float, "
            "which JSON cannot represent. Return None, a string such as 'inf', or a Decimal."
        )
    return text


def _has_non_finite_float(value: Any) -> bool:
    """Search a value for NaN or infinity, without recursion (values may be deeply nested)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                return True
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            pending.extend(item)
        elif isinstance(item, msgspec.Struct):
            pending.extend(msgspec.structs.astuple(item))
        else:
            fields = getattr(type(item), "__dataclass_fields__", None)  # a dataclass instance
            if fields is not None:
                pending.extend(getattr(item, name) for name in fields)
    return False


def _decode_value(text: str | None, annotation: Any = Any) -> Any:
    """Decode a recorded value, typed by ``annotation`` when the recorded JSON matches it."""
    if text is None:
        return None
    return _decode(_decoder_for(annotation), text)


def _decode(decoder: msgspec.json.Decoder, text: str) -> Any:
    try:
        return decoder.decode(text)
    except msgspec.ValidationError:
        # The annotation does not describe what was returned; decode it as plain JSON. The same
        # text always decodes the same way, so the first run and replays still agree.
        return _decode(_any_decoder, text)
    except RecursionError:
        # A deeply nested value recorded from a shallow stack: decode it on a fresh one.
        return _on_fresh_stack(decoder.decode, text)


def _on_fresh_stack(function: Callable[[Any], Any], argument: Any) -> Any:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, function(argument)))
        except BaseException as exc:
            outcome.append((False, exc))

    thread = threading.Thread(target=run, name="dbos_lite-decode")
    thread.start()
    thread.join()
    ok, result = outcome[0]
    if not ok:
        raise result
    return result


def _encode_error(exc: BaseException) -> str:
    """Record an exception as data: class, message, args when they encode, and traceback."""
    return _encoder.encode(_error_record(exc)).decode()


def _error_record(exc: BaseException) -> _ErrorRecord:
    cls = type(exc)
    try:
        args = _any_decoder.decode(_encoder.encode(
            [_utf8(a) if isinstance(a, str) else a for a in exc.args]))
    except (TypeError, ValueError, msgspec.EncodeError, OverflowError, RecursionError):
        args = None
    nested = getattr(exc, "errors", None)
    errors = (
        [_error_record(e) for e in nested if isinstance(e, BaseException)]
        if isinstance(nested, list)
        else []
    )
    if isinstance(exc, DBOSRecordedError):  # keep the original's identity through re-recording
        return _ErrorRecord(exc.type_name, "", exc.message, None, exc.traceback_text, errors)
    return _ErrorRecord(
        type=_utf8(cls.__qualname__),
        module=_utf8(cls.__module__),
        message=_utf8(str(exc)),
        args=args,
        traceback=_utf8(_format_traceback(exc)),
        errors=errors,
    )


def _utf8(text: str) -> str:
    """Text the journal can store: a lone surrogate (say from os.fsdecode of a file name that is
    not UTF-8) becomes a backslash escape instead of failing the recording."""
    try:
        text.encode()
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()


def _format_traceback(exc: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _decode_error(text: str | None) -> BaseException | None:
    """Rebuild a recorded exception from classes that are already imported, never importing a
    module named in the journal; otherwise a :class:`DBOSRecordedError` with the recorded text."""
    if text is None:
        return None
    return _rebuild_error(_error_decoder.decode(text))


def _rebuild_error(record: _ErrorRecord) -> BaseException:
    cls: Any = sys.modules.get(record.module)
    for part in record.type.split(".") if cls is not None else ():
        cls = getattr(cls, part, None)
    exc: BaseException | None = None
    if isinstance(cls, type) and issubclass(cls, BaseException) and record.args is not None:
        try:
            exc = cls(*record.args)
        except Exception:
            exc = None
    if exc is None:
        type_name = f"{record.module}.{record.type}" if record.module else record.type
        exc = DBOSRecordedError(type_name, record.message, record.traceback)
    if record.errors:
        exc.errors = [_rebuild_error(e) for e in record.errors]  # type: ignore[attr-defined]
    if record.traceback:
        # Kept beside the error, not in it: a replayed error's type, args, str() and notes
        # are the first run's, so code that matches on them sees the same error.
        with contextlib.suppress(AttributeError, TypeError):  # a class with __slots__
            exc.dbos_traceback = record.traceback  # type: ignore[attr-defined]
    return exc


# ==== Schema: the journal's tables, created and upgraded by numbered migrations ====
#
# workflow_status: one row per workflow, stored in the order of its id (WITHOUT ROWID).
#   workflow_id            the workflow's id (SetWorkflowID, f"{parent}-{n}" for a child, or a uuid)
#   status                 PENDING, ENQUEUED, DELAYED, SUCCESS, ERROR, CANCELLED,
#                          MAX_RECOVERY_ATTEMPTS_EXCEEDED
#   name                   the registered workflow function's name
#   inputs                 JSON {"args": [...], "kwargs": {...}}
#   output, error          JSON of the return value, or of the error (an _ErrorRecord)
#   executor_id            the executor_id of the process that ran it last
#   owner                  processes.process_id of the process running it now; NULL when nobody is
#   application_version    the application_version of the process that started it
#   created_at, updated_at epoch milliseconds
#   recovery_attempts      1 when started, +1 each time a process takes it over after a crash
#   max_recovery_attempts  past this many recoveries it becomes MAX_RECOVERY_ATTEMPTS_EXCEEDED
#   parent_workflow_id     the workflow that started it, if any
#   queue_name, timeout_ms, deadline_epoch_ms, forked_from: as in DBOS Transact (a partial
#                          index on forked_from finds the workflows that were forked from)
#   class_name             for a method of a class (@DBOS.dbos_class), the class's registered
#                          name; NULL for a plain function and a staticmethod
#   config_name            for a method of a DBOSConfiguredInstance, its config_name: recovery
#                          calls the method on the instance registered as (class_name,
#                          config_name); NULL for a classmethod (called on the class)
#   priority, queue_partition_key, deduplication_id, delay_until_epoch_ms: the enqueue options
#                          of a queued workflow (priority 0: none; the deduplication id is
#                          cleared when the workflow finishes, freeing it for another)
#   dequeued_at            epoch ms when a process took the queued workflow from its queue
#   schedule_name          for a run of a schedule, the schedule's name
#
# operation_outputs: one row per completed durable operation (step, sleep, child workflow...),
#   stored in the order of its primary key (WITHOUT ROWID).
#   workflow_id, function_id  the workflow and the operation's position in it, from 1
#   function_name             the step's name, or DBOS.sleep, DBOS.getResult, ...
#   output, error             JSON of the outcome (exactly one of them is set, or neither)
#   child_workflow_id         for operations that start or await a child workflow
#   started_at_epoch_ms, completed_at_epoch_ms
#
# processes: one row per launched process that may own workflows.
#   process_id   random id of this launch; workflow_status.owner points here
#   executor_id  the executor_id it was configured with
#   host         hostname, boot id and pid namespace: on the same host, pid tells if it is alive
#   pid, pid_started  its pid and start time (clock ticks since boot), to detect a reused pid
#   launched_at, heartbeat_at  epoch ms; the heartbeat is its lease for processes elsewhere
#
# notifications: messages sent with DBOS.send, waiting for DBOS.recv; deleted when received.
#   message_id       increasing: recv takes the oldest message of a topic first
#   destination_id   the receiving workflow
#   topic            the topic, or '__null__topic__' for None (as in DBOS Transact)
#   message          JSON of the message
#   idempotency_key  the key the sender gave, if any
#   created_at       epoch ms
#
# message_keys: the idempotency keys used to send to each workflow, kept after the message is
#   received, so that a send retried with the same key is a no-op.
#   destination_id, idempotency_key
#
# workflow_events: the latest value of each key a workflow set with DBOS.set_event.
#   workflow_id, key, value (JSON), updated_at (epoch ms)
#
# streams: values a workflow wrote with DBOS.write_stream, in order.
#   workflow_id, key, offset (0, 1, ...), value (JSON; NULL marks the stream closed)
#
# queues: one row per queue (DBOS.register_queue), read by every process that works it.
#   name, worker_concurrency (per process), global_concurrency (all processes together),
#   partition_concurrency, partition_worker_concurrency (the same, per partition key),
#   limiter_limit, limiter_period_ms (at most limit starts in any period), partition_limiter_*,
#   polling_interval_sec (how often other processes look for work), created_at, updated_at
#
# queue_entries: the place in its queue of each unfinished queued workflow; deleted (by a
#   trigger) when the workflow finishes or is cancelled or deleted.
#   position          increasing: ties of priority run in enqueue order
#   workflow_id, queue_name, priority, partition_key, deduplication_id (unique per queue)
#   not_before_ms     while DELAYED, the time it becomes ENQUEUED
#   app_version       only a process of this application version may take it (NULL: any)
#   running           1 once a process took it (it counts against the queue's limits)
#
# queue_starts: when each rate-limited queue started its workflows, for its rolling window;
#   rows older than the queue's period are deleted as it dispatches.
#   queue_name, partition_key, started_at (epoch ms)
#
# step_attempts: one row per failed attempt of a step, written only when an attempt fails (a
#   step that succeeds at once costs nothing here); the step's outcome stays in operation_outputs.
#   attempt_id        increasing: attempts in the order they failed (also across a crash)
#   workflow_id, function_id, function_name   the step
#   attempt           0-based, as DBOS.step_status counts them
#   error             JSON of the attempt's error (an _ErrorRecord)
#   started_at_epoch_ms, failed_at_epoch_ms
#   retry_at_epoch_ms when the next attempt was due (NULL: no retry followed)
#
# workflow_waits: what a workflow waits for, written when a wait inside a workflow (DBOS.recv,
#   DBOS.get_event, a child's result, DBOS.wait_first, DBOS.read_stream) finds nothing yet and
#   blocks: a wait that is satisfied at once writes nothing. A row is current while no operation
#   is recorded at its function_id.
#   workflow_id, function_id   the waiting operation
#   kind              'recv', 'event', 'result', 'first' or 'stream'
#   detail            JSON: {"topic"} for recv, {"workflow_id", "key"} for event and stream,
#                     {"workflow_ids"} for result and first
#   until_epoch_ms    when the wait times out (NULL: no timeout)
#   since_epoch_ms    when it began
#
# processes also name, for tools that look, what each process can run: workflow_names (JSON
#   list of its registered workflow functions) and queue_names (JSON list of the queues it
#   works, NULL for all).
#
# schedules: one row per cron schedule (DBOS.create_schedule), fired by every process's
#   scheduler; a scheduled time runs once because its workflow id is derived from it.
#   schedule_name, schedule_id (a uuid), workflow_name, workflow_class_name, schedule (the cron
#   string), status ('ACTIVE' or 'PAUSED'), context (JSON, the runs' second argument),
#   last_fired_at (ISO time of the latest scheduled time fired), automatic_backfill (1: run
#   the times missed while no process ran, at launch and on resume), cron_timezone (IANA
#   name; NULL: UTC), queue_name (NULL: _dbos_internal_queue), created_at, updated_at
#
# journal_settings: facts about the journal as a whole, one row each.
#   key, value   'application_name': the config name of the application the journal belongs to
#
# A trigger deletes a workflow's operations, messages, events and streams with its row, also
# when the row is deleted from the sqlite3 shell (where foreign keys, and so cascades, are off).
#
# Example: sqlite3 app.sqlite "SELECT workflow_id, status, json_extract(output, '$') FROM
# workflow_status ORDER BY created_at DESC LIMIT 5"

_MIGRATIONS: list[tuple[str, ...]] = [
    (  # 1: workflows, their operations, and the processes that own them
        # WITHOUT ROWID tables are their primary key's b-tree: starting a workflow writes two
        # b-trees (this one and the index of unfinished workflows) instead of three (measured in
        # benchmarks/bench_sequential.py). Listing all workflows in the
        # order they were created then sorts them (see _SQL_LIST_WORKFLOWS_ASC). Rows over
        # about 1 KB keep all but 489 bytes on overflow pages of their own, so rows of 1 to 4 KB
        # take more room than in a rowid table.
        """CREATE TABLE workflow_status (
            workflow_id TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            name TEXT NOT NULL,
            inputs TEXT NOT NULL,
            output TEXT,
            error TEXT,
            executor_id TEXT,
            owner TEXT,
            application_version TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            recovery_attempts INTEGER NOT NULL DEFAULT 1,
            max_recovery_attempts INTEGER NOT NULL,
            parent_workflow_id TEXT,
            queue_name TEXT,
            timeout_ms INTEGER,
            deadline_epoch_ms INTEGER,
            forked_from TEXT
        ) WITHOUT ROWID""",
        # Only unfinished workflows are indexed by status and owner (what recovery and queues
        # look for), so finishing a workflow shrinks the index instead of rewriting it.
        "CREATE INDEX workflow_status_active ON workflow_status (status, owner)"
        " WHERE status IN ('PENDING', 'ENQUEUED', 'DELAYED')",
        # WITHOUT ROWID, as workflow_status: recording an operation writes one page instead of
        # two (the table's and its key index's).
        """CREATE TABLE operation_outputs (
            workflow_id TEXT NOT NULL
                REFERENCES workflow_status (workflow_id) ON DELETE CASCADE,
            function_id INTEGER NOT NULL,
            function_name TEXT NOT NULL,
            output TEXT,
            error TEXT,
            child_workflow_id TEXT,
            started_at_epoch_ms INTEGER,
            completed_at_epoch_ms INTEGER,
            PRIMARY KEY (workflow_id, function_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE processes (
            process_id TEXT PRIMARY KEY,
            executor_id TEXT NOT NULL,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            pid_started INTEGER,
            launched_at INTEGER NOT NULL,
            heartbeat_at INTEGER NOT NULL
        )""",
    ),
]

_MIGRATIONS.append((  # 2: messages, events and streams
    """CREATE TABLE notifications (
        message_id INTEGER PRIMARY KEY AUTOINCREMENT,
        destination_id TEXT NOT NULL
            REFERENCES workflow_status (workflow_id) ON DELETE CASCADE,
        topic TEXT NOT NULL,
        message TEXT NOT NULL,
        idempotency_key TEXT,
        created_at INTEGER NOT NULL
    )""",
    "CREATE INDEX notifications_destination ON notifications (destination_id, topic, message_id)",
    """CREATE TABLE message_keys (
        destination_id TEXT NOT NULL
            REFERENCES workflow_status (workflow_id) ON DELETE CASCADE,
        idempotency_key TEXT NOT NULL,
        PRIMARY KEY (destination_id, idempotency_key)
    )""",
    """CREATE TABLE workflow_events (
        workflow_id TEXT NOT NULL REFERENCES workflow_status (workflow_id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (workflow_id, key)
    )""",
    """CREATE TABLE streams (
        workflow_id TEXT NOT NULL REFERENCES workflow_status (workflow_id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        "offset" INTEGER NOT NULL,
        value TEXT,
        PRIMARY KEY (workflow_id, key, "offset")
    )""",
    "CREATE INDEX workflow_status_parent ON workflow_status (parent_workflow_id)"
    " WHERE parent_workflow_id IS NOT NULL",
))

_MIGRATIONS.append((  # 3: settings, and deletes that do not depend on foreign keys
    # journal_settings holds the name of the application the journal belongs to.
    """CREATE TABLE journal_settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    # The sqlite3 shell runs with foreign keys off, so deleting a workflow there skips the
    # cascades; a trigger runs either way, and a reused id never sees an old run's rows.
    """CREATE TRIGGER workflow_status_deleted AFTER DELETE ON workflow_status BEGIN
        DELETE FROM operation_outputs WHERE workflow_id = OLD.workflow_id;
        DELETE FROM notifications WHERE destination_id = OLD.workflow_id;
        DELETE FROM message_keys WHERE destination_id = OLD.workflow_id;
        DELETE FROM workflow_events WHERE workflow_id = OLD.workflow_id;
        DELETE FROM streams WHERE workflow_id = OLD.workflow_id;
    END""",
    "DELETE FROM operation_outputs"
    " WHERE workflow_id NOT IN (SELECT workflow_id FROM workflow_status)",
    "DELETE FROM notifications"
    " WHERE destination_id NOT IN (SELECT workflow_id FROM workflow_status)",
    "DELETE FROM message_keys"
    " WHERE destination_id NOT IN (SELECT workflow_id FROM workflow_status)",
    "DELETE FROM workflow_events"
    " WHERE workflow_id NOT IN (SELECT workflow_id FROM workflow_status)",
    "DELETE FROM streams WHERE workflow_id NOT IN (SELECT workflow_id FROM workflow_status)",
))

_MIGRATIONS.append((  # 4: workflows that are methods of a class or of a configured instance
    "ALTER TABLE workflow_status ADD COLUMN class_name TEXT",
    "ALTER TABLE workflow_status ADD COLUMN config_name TEXT",
))

_MIGRATIONS.append((  # 5: queues
    """CREATE TABLE queues (
        name TEXT PRIMARY KEY,
        worker_concurrency INTEGER,
        global_concurrency INTEGER,
        partition_concurrency INTEGER,
        partition_worker_concurrency INTEGER,
        limiter_limit INTEGER,
        limiter_period_ms INTEGER,
        partition_limiter_limit INTEGER,
        partition_limiter_period_ms INTEGER,
        polling_interval_sec REAL NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    )""",
    "ALTER TABLE workflow_status ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE workflow_status ADD COLUMN queue_partition_key TEXT",
    "ALTER TABLE workflow_status ADD COLUMN deduplication_id TEXT",
    "ALTER TABLE workflow_status ADD COLUMN delay_until_epoch_ms INTEGER",
    "ALTER TABLE workflow_status ADD COLUMN dequeued_at INTEGER",
    # A table of its own, not an index on workflow_status: the position gives ties their
    # enqueue order, dispatching reads only unfinished queued workflows, and workflows that
    # are not queued pay nothing.
    """CREATE TABLE queue_entries (
        position INTEGER PRIMARY KEY,
        workflow_id TEXT NOT NULL UNIQUE,
        queue_name TEXT NOT NULL,
        priority INTEGER NOT NULL,
        partition_key TEXT,
        deduplication_id TEXT,
        not_before_ms INTEGER,
        app_version TEXT,
        running INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX queue_entries_next ON queue_entries (queue_name, running, priority, position)",
    "CREATE UNIQUE INDEX queue_entries_deduplication ON queue_entries"
    " (queue_name, deduplication_id) WHERE deduplication_id IS NOT NULL",
    "CREATE INDEX queue_entries_delayed ON queue_entries (queue_name, not_before_ms)"
    " WHERE not_before_ms IS NOT NULL",
    """CREATE TABLE queue_starts (
        queue_name TEXT NOT NULL,
        partition_key TEXT,
        started_at INTEGER NOT NULL
    )""",
    "CREATE INDEX queue_starts_window ON queue_starts (queue_name, started_at)",
    # A queued workflow that finishes (or is cancelled) leaves its queue and frees its
    # deduplication id. Only queued workflows run the trigger's body.
    """CREATE TRIGGER workflow_status_left_queue AFTER UPDATE OF status ON workflow_status
    WHEN OLD.queue_name IS NOT NULL
        AND NEW.status NOT IN ('PENDING', 'ENQUEUED', 'DELAYED') BEGIN
        DELETE FROM queue_entries WHERE workflow_id = NEW.workflow_id;
        UPDATE workflow_status SET deduplication_id = NULL
            WHERE workflow_id = NEW.workflow_id AND deduplication_id IS NOT NULL;
    END""",
    "DROP TRIGGER workflow_status_deleted",
    """CREATE TRIGGER workflow_status_deleted AFTER DELETE ON workflow_status BEGIN
        DELETE FROM operation_outputs WHERE workflow_id = OLD.workflow_id;
        DELETE FROM notifications WHERE destination_id = OLD.workflow_id;
        DELETE FROM message_keys WHERE destination_id = OLD.workflow_id;
        DELETE FROM workflow_events WHERE workflow_id = OLD.workflow_id;
        DELETE FROM streams WHERE workflow_id = OLD.workflow_id;
        DELETE FROM queue_entries WHERE workflow_id = OLD.workflow_id;
    END""",
))

_MIGRATIONS.append((  # 6: what a timeline shows beyond outcomes: failed attempts, waits
    # Rows only on failure or on a blocking wait: the path of a step that succeeds, or of a
    # message already there, writes nothing more.
    """CREATE TABLE step_attempts (
        attempt_id INTEGER PRIMARY KEY,
        workflow_id TEXT NOT NULL,
        function_id INTEGER NOT NULL,
        function_name TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        error TEXT NOT NULL,
        started_at_epoch_ms INTEGER NOT NULL,
        failed_at_epoch_ms INTEGER NOT NULL,
        retry_at_epoch_ms INTEGER
    )""",
    "CREATE INDEX step_attempts_step ON step_attempts (workflow_id, function_id)",
    """CREATE TABLE workflow_waits (
        workflow_id TEXT NOT NULL,
        function_id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL,
        until_epoch_ms INTEGER,
        since_epoch_ms INTEGER NOT NULL,
        PRIMARY KEY (workflow_id, function_id)
    ) WITHOUT ROWID""",
    "ALTER TABLE processes ADD COLUMN workflow_names TEXT",
    "ALTER TABLE processes ADD COLUMN queue_names TEXT",
    # A trigger of its own beside workflow_status_deleted (SQLite runs both).
    """CREATE TRIGGER workflow_status_deleted_timeline AFTER DELETE ON workflow_status BEGIN
        DELETE FROM step_attempts WHERE workflow_id = OLD.workflow_id;
        DELETE FROM workflow_waits WHERE workflow_id = OLD.workflow_id;
    END""",
))

_MIGRATIONS.append((  # 7: cron schedules
    """CREATE TABLE schedules (
        schedule_name TEXT PRIMARY KEY,
        schedule_id TEXT NOT NULL,
        workflow_name TEXT NOT NULL,
        workflow_class_name TEXT,
        schedule TEXT NOT NULL,
        status TEXT NOT NULL,
        context TEXT NOT NULL,
        last_fired_at TEXT,
        automatic_backfill INTEGER NOT NULL,
        cron_timezone TEXT,
        queue_name TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    )""",
    "ALTER TABLE workflow_status ADD COLUMN schedule_name TEXT",
))

_MIGRATIONS.append((  # 8: which workflows were forked from, found without reading them all
    # Partial: a workflow that is not a fork (nearly all) adds nothing to it.
    "CREATE INDEX workflow_status_forked_from ON workflow_status (forked_from)"
    " WHERE forked_from IS NOT NULL",
))

_MIGRATIONS.append((  # 9: unfinished statuses compared with =, not looked up with IN
    # SQLite evaluates ``status IN (three constants)`` by filling a temporary b-tree with the
    # constants, each time: a partial index's condition is evaluated for every row written, so
    # every start and every finish of a workflow paid for one (see benchmarks/bench_sequential).
    "DROP INDEX workflow_status_active",
    "CREATE INDEX workflow_status_active ON workflow_status (status, owner)"
    " WHERE status = 'PENDING' OR status = 'ENQUEUED' OR status = 'DELAYED'",
    "DROP TRIGGER workflow_status_left_queue",
    """CREATE TRIGGER workflow_status_left_queue AFTER UPDATE OF status ON workflow_status
    WHEN OLD.queue_name IS NOT NULL AND NEW.status <> 'PENDING' AND NEW.status <> 'ENQUEUED'
        AND NEW.status <> 'DELAYED' BEGIN
        DELETE FROM queue_entries WHERE workflow_id = NEW.workflow_id;
        UPDATE workflow_status SET deduplication_id = NULL
            WHERE workflow_id = NEW.workflow_id AND deduplication_id IS NOT NULL;
    END""",
))

SCHEMA_VERSION = len(_MIGRATIONS)


# ==== Journal: the only code that speaks SQL ====

_WORKFLOW_COLUMNS = (
    "workflow_id, status, name, inputs, output, error, executor_id, owner, application_version,"
    " created_at, updated_at, recovery_attempts, max_recovery_attempts, parent_workflow_id,"
    " queue_name, timeout_ms, deadline_epoch_ms, forked_from, class_name, config_name,"
    " priority, queue_partition_key, deduplication_id, delay_until_epoch_ms, dequeued_at,"
    " schedule_name"
)
# The column of schema 7 that reads of an older journal (only looked at, never migrated) skip.
_SCHEDULE_NAME_COLUMN = " schedule_name"
_OPERATION_COLUMNS = (
    "workflow_id, function_id, function_name, output, error, child_workflow_id,"
    " started_at_epoch_ms, completed_at_epoch_ms"
)

# Repeats the condition of the partial index workflow_status_active word for word: SQLite uses
# a partial index only for queries whose WHERE clause contains its condition, and without it the
# queries that recovery runs every few seconds would scan every workflow ever run. (SQLite reads
# these ORs as one IN, so the index of a journal older than schema 9, whose condition is that IN,
# serves them too.)
_ACTIVE_STATUSES = ("PENDING", "ENQUEUED", "DELAYED")
_ACTIVE = "(status = 'PENDING' OR status = 'ENQUEUED' OR status = 'DELAYED')"
_FINISHED_SQL = "status IN ('SUCCESS', 'ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED')"

_SQL_INSERT_WORKFLOW = (
    "INSERT INTO workflow_status (" + _WORKFLOW_COLUMNS + ") VALUES"
    " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (workflow_id) DO NOTHING"
)
_SQL_GET_WORKFLOW = "SELECT " + _WORKFLOW_COLUMNS + " FROM workflow_status WHERE workflow_id = ?"
_SQL_INSERT_OPERATION_IF_ABSENT = (
    "INSERT INTO operation_outputs (" + _OPERATION_COLUMNS + ") VALUES (?,?,?,?,?,?,?,?)"
    " ON CONFLICT DO NOTHING"
)
# A process records an operation only while it owns the workflow: a process that lost it (to a
# recovery elsewhere, or to DBOS.destroy) cannot write into a workflow another process now runs.
_SQL_RECORD_OPERATION = (
    "INSERT INTO operation_outputs (" + _OPERATION_COLUMNS + ") SELECT ?,?,?,?,?,?,?,?"
    " WHERE EXISTS (SELECT 1 FROM workflow_status"
    "   WHERE workflow_id = ? AND owner = ? AND status = 'PENDING')"
)
# The operation recorded at a position, and the workflow's status, in one lookup: every durable
# operation starts with it, so a cancellation is noticed at the next operation.
_SQL_LOOKUP_OPERATION = (
    "SELECT w.status, o.function_name, o.output, o.error, o.child_workflow_id,"
    " o.started_at_epoch_ms, o.completed_at_epoch_ms"
    " FROM workflow_status AS w LEFT JOIN operation_outputs AS o"
    "   ON o.workflow_id = w.workflow_id AND o.function_id = ?2"
    " WHERE w.workflow_id = ?1"
)
# The statuses of several workflows, in the order of their ids (NULL for an id not there).
_SQL_STATUSES_OF = (
    "SELECT (SELECT status FROM workflow_status WHERE workflow_id = ids.value)"
    " FROM json_each(?) AS ids ORDER BY ids.key"
)
_SQL_LAST_FUNCTION_ID = (
    "SELECT coalesce(max(function_id), 0) FROM operation_outputs WHERE workflow_id = ?"
)
_SQL_NOT_RUNNING = (
    "SELECT value FROM json_each(?1) WHERE NOT EXISTS (SELECT 1 FROM workflow_status"
    " WHERE workflow_id = value AND status = 'PENDING' AND owner = ?2)"
)
_SQL_CANCEL_WORKFLOW = (
    "UPDATE workflow_status SET status = 'CANCELLED', owner = NULL, updated_at = ?"
    " WHERE workflow_id = ? AND status NOT IN ('SUCCESS', 'ERROR', 'CANCELLED')"
)
_SQL_RESUME_WORKFLOW = (
    "UPDATE workflow_status SET status = 'PENDING', owner = ?, executor_id = ?,"
    " recovery_attempts = 1, deadline_epoch_ms = NULL, timeout_ms = NULL, error = NULL,"
    " updated_at = ? WHERE workflow_id = ? AND status NOT IN ('SUCCESS', 'ERROR')"
    " RETURNING " + _WORKFLOW_COLUMNS
)
_SQL_COPY_OPERATIONS = (
    "INSERT INTO operation_outputs (" + _OPERATION_COLUMNS + ")"
    " SELECT ?1, function_id, function_name, output, error, child_workflow_id,"
    " started_at_epoch_ms, completed_at_epoch_ms FROM operation_outputs"
    " WHERE workflow_id = ?2 AND function_id < ?3"
)
_SQL_LIST_DESCENDANTS = (
    "WITH RECURSIVE descendants (workflow_id) AS ("
    " SELECT workflow_id FROM workflow_status WHERE parent_workflow_id = ?"
    " UNION SELECT w.workflow_id FROM workflow_status AS w"
    "   JOIN descendants AS d ON w.parent_workflow_id = d.workflow_id)"
    " SELECT workflow_id FROM descendants"
)
_SQL_DELETE_WORKFLOW = "DELETE FROM workflow_status WHERE workflow_id = ?"
_SQL_INSERT_MESSAGE = (
    "INSERT INTO notifications (destination_id, topic, message, idempotency_key, created_at)"
    " VALUES (?,?,?,?,?)"
)
_SQL_INSERT_MESSAGE_KEY = (
    "INSERT INTO message_keys (destination_id, idempotency_key) VALUES (?, ?)"
    " ON CONFLICT DO NOTHING"
)
_SQL_HAS_MESSAGE = (
    "SELECT 1 FROM notifications WHERE destination_id = ? AND topic = ? LIMIT 1"
)
_SQL_TAKE_MESSAGE = (
    "DELETE FROM notifications WHERE message_id = (SELECT message_id FROM notifications"
    " WHERE destination_id = ? AND topic = ? ORDER BY message_id LIMIT 1) RETURNING message"
)
_SQL_SET_EVENT = (
    "INSERT INTO workflow_events (workflow_id, key, value, updated_at) VALUES (?,?,?,?)"
    " ON CONFLICT (workflow_id, key) DO UPDATE SET value = excluded.value,"
    " updated_at = excluded.updated_at"
)
_SQL_GET_EVENT = "SELECT value FROM workflow_events WHERE workflow_id = ? AND key = ?"
_SQL_GET_ALL_EVENTS = "SELECT key, value FROM workflow_events WHERE workflow_id = ? ORDER BY key"
_SQL_WRITE_STREAM = (
    'INSERT INTO streams (workflow_id, key, "offset", value) SELECT ?1, ?2,'
    ' coalesce(max("offset") + 1, 0), ?3 FROM streams WHERE workflow_id = ?1 AND key = ?2'
)
_SQL_READ_STREAM = (
    'SELECT "offset", value FROM streams WHERE workflow_id = ? AND key = ? AND "offset" >= ?'
    ' ORDER BY "offset" LIMIT 1'
)
_SQL_LIST_OPERATIONS = (
    "SELECT " + _OPERATION_COLUMNS + " FROM operation_outputs"
    " WHERE workflow_id = ? ORDER BY function_id"
)
_SQL_FINISH_WORKFLOW = (
    "UPDATE workflow_status SET status = ?, output = ?, error = ?, owner = NULL, updated_at = ?"
    " WHERE workflow_id = ? AND owner = ? AND status = 'PENDING'"
)
_SQL_RELEASE_WORKFLOW = (
    "UPDATE workflow_status SET owner = NULL"
    " WHERE workflow_id = ? AND owner = ? AND status = 'PENDING'"
)
_SQL_CLAIM_WORKFLOW = (
    "UPDATE workflow_status SET"
    " owner = CASE WHEN recovery_attempts > max_recovery_attempts THEN NULL ELSE ?1 END,"
    " status = CASE WHEN recovery_attempts > max_recovery_attempts"
    "   THEN 'MAX_RECOVERY_ATTEMPTS_EXCEEDED' ELSE status END,"
    " recovery_attempts = recovery_attempts + 1, executor_id = ?2, updated_at = ?3"
    " WHERE workflow_id = ?4 AND status = 'PENDING' AND owner IS ?5"
    " RETURNING " + _WORKFLOW_COLUMNS
)
# A method's workflow runs only where its class (a classmethod) or its instance (a method of a
# DBOSConfiguredInstance) is registered: ``?`` is a JSON list of [class_name, config_name]
# pairs, config_name null for a class.
_TARGET_KNOWN = (
    "(class_name IS NULL OR EXISTS (SELECT 1 FROM json_each(?) AS targets"
    " WHERE json_extract(targets.value, '$[0]') = class_name"
    " AND json_extract(targets.value, '$[1]') IS config_name))"
)
_SQL_CLAIM_ORPHANS = (
    "UPDATE workflow_status SET"
    " owner = CASE WHEN recovery_attempts > max_recovery_attempts THEN NULL ELSE ?1 END,"
    " status = CASE WHEN recovery_attempts > max_recovery_attempts"
    "   THEN 'MAX_RECOVERY_ATTEMPTS_EXCEEDED' ELSE status END,"
    " recovery_attempts = recovery_attempts + 1, executor_id = ?2, updated_at = ?3"
    " WHERE " + _ACTIVE + " AND status = 'PENDING'"
    " AND (owner IS NULL OR owner NOT IN (SELECT process_id FROM processes))"
    " AND name IN (SELECT value FROM json_each(?4)) AND " + _TARGET_KNOWN.replace("?", "?5")
    + " RETURNING " + _WORKFLOW_COLUMNS
)
# Workflows this process is running, released by a process that wrongly judged it dead (its
# lease ran out while it was suspended), are taken back without counting a recovery.
_SQL_READOPT_RUNNING = (
    "UPDATE workflow_status SET owner = ?1 WHERE status = 'PENDING' AND owner IS NULL"
    " AND workflow_id IN (SELECT value FROM json_each(?2))"
)
_SQL_LIST_UNCLAIMABLE = (
    "SELECT " + _WORKFLOW_COLUMNS + " FROM workflow_status WHERE " + _ACTIVE
    + " AND status = 'PENDING'"
    " AND (owner IS NULL OR owner NOT IN (SELECT process_id FROM processes))"
    " AND (name NOT IN (SELECT value FROM json_each(?1)) OR NOT "
    + _TARGET_KNOWN.replace("?", "?2") + ")"
)
_SQL_SET_WORKFLOW_ERROR = "UPDATE workflow_status SET error = ? WHERE workflow_id = ?"
# A process that stops cleanly gives back what it still owns, and takes back the recovery
# attempt its claim counted: max_recovery_attempts counts crashes, not clean restarts.
_SQL_RELEASE_OWNED = (
    "UPDATE workflow_status SET owner = NULL,"
    " recovery_attempts = max(recovery_attempts - 1, 0)"
    " WHERE " + _ACTIVE + " AND status = 'PENDING' AND owner = ?"
)
# Queued workflows: a process gives back to their queues the ones it runs when it stops, and
# any process gives back those of processes that are gone (then a queue's limits count them
# only again when a process takes them up).
_QUEUED_AND_RUNNING = "workflow_id IN (SELECT workflow_id FROM queue_entries WHERE running = 1)"
_SQL_REQUEUE_OWNED = (
    "UPDATE workflow_status SET status = 'ENQUEUED', owner = NULL, updated_at = ?2,"
    " recovery_attempts = max(recovery_attempts - 1, 0)"
    " WHERE " + _ACTIVE + " AND status = 'PENDING' AND owner = ?1 AND " + _QUEUED_AND_RUNNING
    + " RETURNING workflow_id"
)
_SQL_REQUEUE_ORPHANS = (
    "UPDATE workflow_status SET status = 'ENQUEUED', owner = NULL, updated_at = ?1"
    " WHERE " + _ACTIVE + " AND status = 'PENDING'"
    " AND (owner IS NULL OR owner NOT IN (SELECT process_id FROM processes))"
    " AND " + _QUEUED_AND_RUNNING + " RETURNING workflow_id"
)
_SQL_MARK_WAITING = (
    "UPDATE queue_entries SET running = 0 WHERE workflow_id IN (SELECT value FROM json_each(?))"
)
_QUEUE_COLUMNS = (
    "name, worker_concurrency, global_concurrency, partition_concurrency,"
    " partition_worker_concurrency, limiter_limit, limiter_period_ms, partition_limiter_limit,"
    " partition_limiter_period_ms, polling_interval_sec, created_at, updated_at"
)
_SQL_INSERT_QUEUE = (
    "INSERT INTO queues (" + _QUEUE_COLUMNS + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (name) DO NOTHING"
)
_SQL_REPLACE_QUEUE = (
    "INSERT INTO queues (" + _QUEUE_COLUMNS + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (name) DO UPDATE SET worker_concurrency = excluded.worker_concurrency,"
    " global_concurrency = excluded.global_concurrency,"
    " partition_concurrency = excluded.partition_concurrency,"
    " partition_worker_concurrency = excluded.partition_worker_concurrency,"
    " limiter_limit = excluded.limiter_limit, limiter_period_ms = excluded.limiter_period_ms,"
    " partition_limiter_limit = excluded.partition_limiter_limit,"
    " partition_limiter_period_ms = excluded.partition_limiter_period_ms,"
    " polling_interval_sec = excluded.polling_interval_sec, updated_at = excluded.updated_at"
)
_SQL_GET_QUEUE = "SELECT " + _QUEUE_COLUMNS + " FROM queues WHERE name = ?"
_SQL_LIST_QUEUES = "SELECT " + _QUEUE_COLUMNS + " FROM queues ORDER BY created_at, name"
_SQL_DELETE_QUEUE = "DELETE FROM queues WHERE name = ?"
_SQL_INSERT_QUEUE_ENTRY = (
    "INSERT INTO queue_entries (workflow_id, queue_name, priority, partition_key,"
    " deduplication_id, not_before_ms, app_version) VALUES (?,?,?,?,?,?,?)"
)
_SQL_DEDUPLICATION_HOLDER = (
    "SELECT workflow_id FROM queue_entries WHERE queue_name = ? AND deduplication_id = ?"
)
_SQL_HAS_WAITING = (
    "SELECT 1 FROM queue_entries WHERE queue_name IN (SELECT value FROM json_each(?))"
    " AND running = 0 LIMIT 1"
)
# Delayed workflows whose time has come become ENQUEUED.
_SQL_END_DELAYS = (
    "UPDATE workflow_status SET status = 'ENQUEUED', updated_at = ?2 WHERE workflow_id IN"
    " (SELECT workflow_id FROM queue_entries WHERE queue_name = ?1 AND not_before_ms <= ?2)"
    " AND +status = 'DELAYED'"  # (+: by id, from the due entries, not through every DELAYED)
)
_SQL_END_DELAYS_OF_ENTRIES = (
    "UPDATE queue_entries SET not_before_ms = NULL WHERE queue_name = ?1 AND not_before_ms <= ?2"
)
_SQL_NEXT_DELAY_END = (
    "SELECT min(not_before_ms) FROM queue_entries"
    " WHERE queue_name = ? AND not_before_ms IS NOT NULL"
)
_SQL_COUNT_RUNNING = (
    "SELECT partition_key, count(*) FROM queue_entries WHERE queue_name = ? AND running = 1"
    " GROUP BY partition_key"
)
_SQL_COUNT_RUNNING_HERE = (
    "SELECT e.partition_key, count(*) FROM queue_entries AS e"
    " JOIN workflow_status AS w ON w.workflow_id = e.workflow_id"
    " WHERE e.queue_name = ? AND e.running = 1 AND w.owner = ? GROUP BY e.partition_key"
)
_SQL_FORGET_STARTS = "DELETE FROM queue_starts WHERE queue_name = ? AND started_at <= ?"
_SQL_COUNT_STARTS = (
    "SELECT partition_key, count(*), min(started_at) FROM queue_starts"
    " WHERE queue_name = ? AND started_at > ? GROUP BY partition_key"
)
_SQL_OLDEST_START = (
    "SELECT min(started_at) FROM queue_starts WHERE queue_name = ? AND started_at > ?"
)
_SQL_RECORD_START = (
    "INSERT INTO queue_starts (queue_name, partition_key, started_at) VALUES (?,?,?)"
)
# The queue's waiting workflows that this process can run, in the order they are due:
# priority (0, none, first), then enqueue order. The last column says whether the workflow has
# recorded operations (it ran before, and was given back to its queue).
_SQL_QUEUE_CANDIDATES = (
    "SELECT e.workflow_id, e.partition_key,"
    " EXISTS (SELECT 1 FROM operation_outputs AS o WHERE o.workflow_id = e.workflow_id)"
    " FROM queue_entries AS e JOIN workflow_status AS w ON w.workflow_id = e.workflow_id"
    " WHERE e.queue_name = ?1 AND e.running = 0 AND e.not_before_ms IS NULL"
    " AND w.status = 'ENQUEUED' AND (e.app_version IS NULL OR e.app_version = ?2)"
    " AND w.name IN (SELECT value FROM json_each(?3)) AND "
    + _TARGET_KNOWN.replace("?", "?4") + " ORDER BY e.priority, e.position LIMIT ?5"
)
_SQL_TAKE_QUEUED = (
    "UPDATE workflow_status SET"
    " owner = CASE WHEN recovery_attempts > max_recovery_attempts THEN NULL ELSE ?1 END,"
    " status = CASE WHEN recovery_attempts > max_recovery_attempts"
    "   THEN 'MAX_RECOVERY_ATTEMPTS_EXCEEDED' ELSE 'PENDING' END,"
    " recovery_attempts = recovery_attempts + 1, executor_id = ?2, application_version = ?3,"
    " dequeued_at = ?4, updated_at = ?4,"
    " deadline_epoch_ms = coalesce(deadline_epoch_ms, ?4 + timeout_ms)"
    " WHERE workflow_id = ?5 AND status = 'ENQUEUED' RETURNING " + _WORKFLOW_COLUMNS
)
_SQL_MARK_RUNNING = "UPDATE queue_entries SET running = 1 WHERE workflow_id = ?"
# A debounced workflow still DELAYED on its queue under this key (deduplication id).
_SQL_DEBOUNCED = (
    "SELECT w.workflow_id, w.created_at FROM queue_entries AS e"
    " JOIN workflow_status AS w ON w.workflow_id = e.workflow_id"
    " WHERE e.queue_name = ? AND e.not_before_ms IS NOT NULL AND w.deduplication_id = ?"
    " AND w.status = 'DELAYED'"
)
_SQL_DEBOUNCE_AGAIN = (
    "UPDATE workflow_status SET inputs = ?, delay_until_epoch_ms = ?, updated_at = ?"
    " WHERE workflow_id = ?"
)
_SQL_DELAY_ENTRY = "UPDATE queue_entries SET not_before_ms = ? WHERE workflow_id = ?"
_SQL_GET_SETTING = "SELECT value FROM journal_settings WHERE key = ?"
_SQL_PUT_SETTING_IF_ABSENT = (
    "INSERT INTO journal_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
)
_SQL_INSERT_PROCESS = (
    "INSERT INTO processes (process_id, executor_id, host, pid, pid_started, launched_at,"
    " heartbeat_at, workflow_names, queue_names) VALUES (?,?,?,?,?,?,?,?,?)"
)
_SQL_LIST_PROCESSES = (
    "SELECT process_id, executor_id, host, pid, pid_started, launched_at, heartbeat_at,"
    " workflow_names, queue_names FROM processes"
)
# A journal older than schema 6, read by a tool that only looks (it never migrates).
_SQL_LIST_PROCESSES_BEFORE_6 = (
    "SELECT process_id, executor_id, host, pid, pid_started, launched_at, heartbeat_at,"
    " NULL, NULL FROM processes"
)
_SQL_RECORD_ATTEMPT = (
    "INSERT INTO step_attempts (workflow_id, function_id, function_name, attempt, error,"
    " started_at_epoch_ms, failed_at_epoch_ms, retry_at_epoch_ms) SELECT ?,?,?,?,?,?,?,?"
    " WHERE EXISTS (SELECT 1 FROM workflow_status"
    "   WHERE workflow_id = ? AND owner = ? AND status = 'PENDING')"
)
_SQL_LIST_ATTEMPTS = (
    "SELECT workflow_id, function_id, function_name, attempt, error, started_at_epoch_ms,"
    " failed_at_epoch_ms, retry_at_epoch_ms FROM step_attempts WHERE workflow_id = ?"
    " ORDER BY attempt_id"
)
_SQL_COPY_ATTEMPTS = (
    "INSERT INTO step_attempts (workflow_id, function_id, function_name, attempt, error,"
    " started_at_epoch_ms, failed_at_epoch_ms, retry_at_epoch_ms)"
    " SELECT ?1, function_id, function_name, attempt, error, started_at_epoch_ms,"
    " failed_at_epoch_ms, retry_at_epoch_ms FROM step_attempts"
    " WHERE workflow_id = ?2 AND function_id < ?3 ORDER BY attempt_id"
)
# A wait is noted only while its process owns the workflow; the waits of operations that are
# recorded since are dropped in the same transaction, so a workflow keeps few rows.
_SQL_FORGET_WAITS = (
    "DELETE FROM workflow_waits WHERE workflow_id = ?1 AND function_id IN"
    " (SELECT function_id FROM operation_outputs WHERE workflow_id = ?1)"
)
_SQL_NOTE_WAIT = (
    "INSERT INTO workflow_waits (workflow_id, function_id, kind, detail, until_epoch_ms,"
    " since_epoch_ms) SELECT ?,?,?,?,?,? WHERE EXISTS (SELECT 1 FROM workflow_status"
    "   WHERE workflow_id = ? AND owner = ? AND status = 'PENDING')"
    " ON CONFLICT (workflow_id, function_id) DO UPDATE SET kind = excluded.kind,"
    " detail = excluded.detail, until_epoch_ms = excluded.until_epoch_ms,"
    " since_epoch_ms = excluded.since_epoch_ms"
)
# The waits of a workflow that no recorded operation has ended.
_SQL_LIST_WAITS = (
    "SELECT workflow_id, function_id, kind, detail, until_epoch_ms, since_epoch_ms"
    " FROM workflow_waits AS w WHERE workflow_id = ?1 AND NOT EXISTS (SELECT 1"
    "   FROM operation_outputs AS o WHERE o.workflow_id = ?1 AND o.function_id = w.function_id)"
    " ORDER BY function_id"
)
_SQL_QUEUE_PLACE = (
    "SELECT e.queue_name, (SELECT count(*) FROM queue_entries AS o"
    "   WHERE o.queue_name = e.queue_name AND o.running = 0 AND (o.priority < e.priority"
    "   OR (o.priority = e.priority AND o.position < e.position))), e.running, e.not_before_ms"
    " FROM queue_entries AS e WHERE e.workflow_id = ?"
)
# A workflow resumed from outside its program goes onto a queue, as in DBOS Transact, for a
# process that can run it to take it; not while a live process (in ?4) runs it.
_SQL_REQUEUE_WORKFLOW = (
    "UPDATE workflow_status SET status = 'ENQUEUED', owner = NULL, queue_name = ?1,"
    " recovery_attempts = 0, deadline_epoch_ms = NULL, timeout_ms = NULL, error = NULL,"
    " dequeued_at = NULL, deduplication_id = NULL, priority = 0, queue_partition_key = NULL,"
    " delay_until_epoch_ms = NULL, updated_at = ?2"
    " WHERE workflow_id = ?3 AND status NOT IN ('SUCCESS', 'ERROR')"
    " AND NOT (status = 'PENDING' AND owner IN (SELECT value FROM json_each(?4)))"
    " RETURNING " + _WORKFLOW_COLUMNS
)
_SQL_DELETE_QUEUE_ENTRY = "DELETE FROM queue_entries WHERE workflow_id = ?"
_SQL_QUEUE_COUNTS = (
    "SELECT queue_name, sum(running = 0), sum(running) FROM queue_entries GROUP BY queue_name"
)
_SQL_FORKED_FROM_ANY = (
    "SELECT DISTINCT forked_from FROM workflow_status"
    " WHERE forked_from IN (SELECT value FROM json_each(?))"
)
_SQL_HEARTBEAT = "UPDATE processes SET heartbeat_at = ? WHERE process_id = ?"
_SQL_DELETE_PROCESS = "DELETE FROM processes WHERE process_id = ?"
_SQL_LIST_WORKFLOWS_FILTER = (
    " (?1 IS NULL OR workflow_id IN (SELECT value FROM json_each(?1)))"
    " AND (?2 IS NULL OR status IN (SELECT value FROM json_each(?2)))"
    " AND (?3 IS NULL OR name IN (SELECT value FROM json_each(?3)))"
    " AND (?4 IS NULL OR created_at >= ?4) AND (?5 IS NULL OR created_at <= ?5)"
    " AND (?6 IS NULL OR application_version = ?6)"
    " AND (?7 IS NULL OR executor_id = ?7)"
    # Compared as bytes: text functions such as length() stop at a NUL character.
    " AND (?8 IS NULL OR substr(CAST(workflow_id AS BLOB), 1, length(CAST(?8 AS BLOB)))"
    "   = CAST(?8 AS BLOB))"
    " AND (?9 IS NULL OR parent_workflow_id = ?9)"
    " AND (?10 IS NULL OR queue_name = ?10)"
    " AND (?11 IS NULL OR forked_from = ?11)"
    " AND (?14 = 0 OR queue_name IS NOT NULL)"
    # Finished: completed_at is updated_at (as WorkflowStatus says).
    " AND (?15 IS NULL OR (updated_at >= ?15 AND " + _FINISHED_SQL + "))"
    " AND (?16 IS NULL OR (updated_at <= ?16 AND " + _FINISHED_SQL + "))"
    " AND (?17 IS NULL OR dequeued_at >= ?17) AND (?18 IS NULL OR dequeued_at <= ?18)"
    " AND (?19 IS NULL OR (parent_workflow_id IS NOT NULL) = ?19)"
    " AND (?20 IS NULL OR (forked_from IS NOT NULL) = ?20)"
    " AND (?21 IS NULL OR (workflow_id IN (SELECT forked_from FROM workflow_status"
    "   WHERE forked_from IS NOT NULL)) = ?21)"
    " AND (?22 IS NULL OR schedule_name IN (SELECT value FROM json_each(?22)))"
)
# Listed in the order they were created (workflows created in the same millisecond by id). No
# index on created_at: it would cost every workflow start a page write, so listing every
# workflow sorts them (see benchmarks/bench_scale.py).
_SQL_LIST_WORKFLOWS_ASC = (
    "SELECT " + _WORKFLOW_COLUMNS + " FROM workflow_status WHERE" + _SQL_LIST_WORKFLOWS_FILTER
    + " ORDER BY created_at, workflow_id LIMIT ?12 OFFSET ?13"
)
_SQL_LIST_WORKFLOWS_DESC = (
    "SELECT " + _WORKFLOW_COLUMNS + " FROM workflow_status WHERE" + _SQL_LIST_WORKFLOWS_FILTER
    + " ORDER BY created_at DESC, workflow_id DESC LIMIT ?12 OFFSET ?13"
)
# Asking only for unfinished statuses: read them from the partial index, which holds nothing
# else, instead of every workflow ever run.
_SQL_LIST_ACTIVE_WORKFLOWS_ASC = (
    "SELECT " + _WORKFLOW_COLUMNS + " FROM workflow_status INDEXED BY workflow_status_active"
    " WHERE " + _ACTIVE + " AND" + _SQL_LIST_WORKFLOWS_FILTER
    + " ORDER BY created_at, workflow_id LIMIT ?12 OFFSET ?13"
)
_SQL_LIST_ACTIVE_WORKFLOWS_DESC = (
    "SELECT " + _WORKFLOW_COLUMNS + " FROM workflow_status INDEXED BY workflow_status_active"
    " WHERE " + _ACTIVE + " AND" + _SQL_LIST_WORKFLOWS_FILTER
    + " ORDER BY created_at DESC, workflow_id DESC LIMIT ?12 OFFSET ?13"
)


class _WorkflowFilter(msgspec.Struct, frozen=True):
    """What ``list_workflows`` asks the journal for; ``None`` means no filter."""

    workflow_ids: list[str] | None = None
    statuses: list[str] | None = None
    names: list[str] | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    application_version: str | None = None
    executor_id: str | None = None
    workflow_id_prefix: str | None = None
    parent_workflow_id: str | None = None
    queue_name: str | None = None
    forked_from: str | None = None
    limit: int | None = None
    offset: int | None = None
    sort_desc: bool = False
    queued_only: bool = False
    completed_after_ms: int | None = None
    completed_before_ms: int | None = None
    dequeued_after_ms: int | None = None
    dequeued_before_ms: int | None = None
    has_parent: bool | None = None
    is_fork: bool | None = None
    was_forked_from: bool | None = None
    schedule_names: list[str] | None = None


class _Claimed(msgspec.Struct, frozen=True):
    """A queued workflow a process took from its queue; ``fresh`` if it never ran before."""

    workflow: _WorkflowRecord
    fresh: bool


class _Dispatch(msgspec.Struct, frozen=True):
    """What a look at a queue gave: the workflows taken, and the epoch ms when the queue may
    have more to give without anything else happening (a delay or a rate window ends)."""

    claimed: list[_Claimed]
    wake_at_ms: int | None = None


class _EnqueueOutcome(msgspec.Struct, frozen=True):
    """What ``_Journal.enqueue_workflow`` did: the workflow's row (None if refused because
    ``holder`` holds its deduplication id), whether this call created it, and what the
    enqueuing process took from the queue in the same transaction."""

    workflow: _WorkflowRecord | None
    created: bool
    holder: str | None
    dispatch: _Dispatch | None


_SCHEDULE_COLUMNS = (
    "schedule_name, schedule_id, workflow_name, workflow_class_name, schedule, status, context,"
    " last_fired_at, automatic_backfill, cron_timezone, queue_name, created_at, updated_at"
)
_SQL_INSERT_SCHEDULE = (
    "INSERT INTO schedules (" + _SCHEDULE_COLUMNS + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (schedule_name) DO NOTHING"
)
# DBOS.apply_schedules: a schedule that exists keeps its id, status and last fired time.
_SQL_UPSERT_SCHEDULE = (
    "INSERT INTO schedules (" + _SCHEDULE_COLUMNS + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (schedule_name) DO UPDATE SET workflow_name = excluded.workflow_name,"
    " workflow_class_name = excluded.workflow_class_name, schedule = excluded.schedule,"
    " context = excluded.context, automatic_backfill = excluded.automatic_backfill,"
    " cron_timezone = excluded.cron_timezone, queue_name = excluded.queue_name,"
    " updated_at = excluded.updated_at"
)
_SQL_GET_SCHEDULE = "SELECT " + _SCHEDULE_COLUMNS + " FROM schedules WHERE schedule_name = ?"
# Each filter is a JSON list, or NULL for none; a name matches if it starts with any prefix.
# In the order they were created (rowid: several are created in one millisecond), as DBOS's.
_SQL_LIST_SCHEDULES = (
    "SELECT " + _SCHEDULE_COLUMNS + " FROM schedules"
    " WHERE (?1 IS NULL OR status IN (SELECT value FROM json_each(?1)))"
    " AND (?2 IS NULL OR workflow_name IN (SELECT value FROM json_each(?2)))"
    " AND (?3 IS NULL OR EXISTS (SELECT 1 FROM json_each(?3)"
    "   WHERE substr(schedule_name, 1, length(value)) = value))"
    " ORDER BY created_at, rowid"
)
_SQL_SET_SCHEDULE_STATUS = (
    "UPDATE schedules SET status = ?1, updated_at = ?2 WHERE schedule_name = ?3 AND status != ?1"
)
_SQL_SCHEDULE_FIRED = "UPDATE schedules SET last_fired_at = ? WHERE schedule_name = ?"
_SQL_DELETE_SCHEDULE = "DELETE FROM schedules WHERE schedule_name = ?"
_SQL_COUNT_SCHEDULES = "SELECT count(*) FROM schedules"


class _Fire(msgspec.Struct, frozen=True):
    """One run of a schedule to put on its queue: the scheduled time (ISO), the run's row and
    its place in the queue."""

    schedule_name: str
    schedule_id: str
    scheduled_at: str
    workflow: _WorkflowRecord
    entry: _QueueEntry


class _Fired(msgspec.Struct, frozen=True):
    """What ``_Journal.fire_schedules`` did: the ids of the runs it created (a run whose id
    existed is not created again), the schedules it skipped (gone, paused or redefined since
    the fires were planned) or could not fire (their queue is not in the journal), and what
    the firing process took from the queues at once."""

    created: list[str]
    skipped: list[str]
    unqueued: list[str]
    dispatches: list[_Dispatch]


class _StartOutcome(msgspec.Struct, frozen=True):
    """What ``_Journal.start_workflow`` found: the workflow's row, and whether this call made it."""

    workflow: _WorkflowRecord
    created: bool


def _journal_path(url: str) -> str:
    """The file path of a ``sqlite:///PATH`` URL, or a DBOSInitializationError."""
    if not isinstance(url, str) or "://" not in url:
        raise DBOSInitializationError(
            f"system_database_url {url!r} is not a URL. dbos_lite needs 'sqlite:///PATH' "
            "(a relative path) or 'sqlite:////abs/path' (an absolute one)."
        )
    scheme, _, rest = url.partition("://")
    if scheme.split("+")[0].lower() in ("postgres", "postgresql"):
        raise DBOSInitializationError(
            f"system_database_url {url!r} is a Postgres URL. dbos_lite keeps its journal in "
            "SQLite only; to run on Postgres, install DBOS Transact (pip install dbos) and change "
            "the import from dbos_lite to dbos."
        )
    if scheme.lower() != "sqlite" or not rest.startswith("/") or len(rest) < 2:
        raise DBOSInitializationError(
            f"system_database_url {url!r} is not supported. Use 'sqlite:///PATH' for a journal "
            "file (for example 'sqlite:///app.sqlite')."
        )
    path = rest[1:].split("?")[0]
    if path in ("", ":memory:"):
        raise DBOSInitializationError(
            f"system_database_url {url!r} names no file. A journal must be a file to survive a "
            "crash: use 'sqlite:///app.sqlite'."
        )
    return path


_SQL_READ_HEADER = (
    "SELECT (SELECT application_id FROM pragma_application_id),"
    " (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_schema)"
)


def _check_journal_header(conn: apsw.Connection, path: str) -> int:
    """The schema version of an existing file; refuses files that are not ours or are newer."""
    try:
        # One statement, so one snapshot: another process may be creating the journal.
        application_id, version, tables = conn.execute(_SQL_READ_HEADER).fetchall()[0]
    except (apsw.NotADBError, apsw.CorruptError) as exc:
        raise DBOSInitializationError(
            f"{path} is not a SQLite database ({exc}); it was not modified. Point "
            "system_database_url at a dbos_lite journal, or at a path that does not exist yet."
        ) from None
    if application_id == 0 and version == 0 and tables == 0:
        return 0  # an empty file: a new journal
    if application_id != APPLICATION_ID:
        raise DBOSInitializationError(
            f"{path} is a SQLite database but not a dbos_lite journal; it was not modified. "
            "Use another file for the journal."
        )
    if version > SCHEMA_VERSION:
        raise DBOSInitializationError(
            f"{path} was written by a newer dbos_lite (schema {version}, this one knows up to "
            f"{SCHEMA_VERSION}); it was not modified. Upgrade dbos_lite to open it."
        )
    return version


def _cannot_open(path: str, exc: apsw.Error) -> DBOSInitializationError:
    return DBOSInitializationError(
        f"Cannot open the journal {path} ({type(exc).__name__}: {exc}). The file or its "
        "directory may be read-only (SQLite must be able to write the file and create -wal and "
        "-shm files beside it), the directory may not exist, or the disk may be full."
    )


def _file_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of a file, None if there is none."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _side_files(path: str) -> set[str]:
    return {suffix for suffix in ("-wal", "-shm") if os.path.exists(path + suffix)}


def _remove_side_files(path: str, existed: set[str]) -> None:
    """Remove the -wal/-shm files that opening a journal we then refused left behind (SQLite
    removes them itself when the last connection that can write closes)."""
    for suffix in {"-wal", "-shm"} - existed:
        with contextlib.suppress(OSError):
            if suffix == "-shm" or os.path.getsize(path + suffix) == 0:
                os.remove(path + suffix)


def _check_journal_pages(conn: apsw.Connection, path: str) -> None:
    """Refuse a damaged journal before writing anything into it. quick_check reads every page
    (about a second per few hundred MB), which launch() can afford."""
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)").fetchall()]
    except (apsw.CorruptError, apsw.NotADBError, apsw.IOError) as exc:
        problems = [str(exc)]
    if problems != ["ok"]:
        raise DBOSInitializationError(
            f"The journal {path} is corrupt ({'; '.join(problems)}); it was not modified. "
            "Restore it from a backup, or move it away to start a new journal."
        )


def _retry_while_busy(action: Callable[[], Any], timeout_sec: float) -> Any:
    """Changing the journal mode does not wait on SQLite's busy handler: retry it for up to
    the busy timeout while another process holds the file."""
    deadline = time.monotonic() + timeout_sec
    while True:
        try:
            return action()
        except apsw.BusyError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _delete_journal(path: str) -> None:
    """Delete a journal file with its -wal and -shm; refuses a file that is not a journal."""
    if not os.path.exists(path):
        return
    existed = _side_files(path)
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        _check_journal_header(conn, path)
    except DBOSInitializationError:
        conn.close()
        _remove_side_files(path, existed)  # a read-only look at a WAL file leaves them
        raise
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)


def _busy_handler(timeout_sec: float) -> Callable[[int], bool]:
    """Wait for another process's lock for up to ``timeout_sec``, in short sleeps: unlike
    SQLite's own busy timeout, a Ctrl-C (KeyboardInterrupt) ends the wait at once."""
    started = [0.0]

    def wait(attempts: int) -> bool:
        now = time.monotonic()
        if attempts == 0:
            started[0] = now
        elif now - started[0] >= timeout_sec:
            return False
        time.sleep(min(0.001 * (attempts + 1), 0.01))
        return True

    return wait


# BEGIN IMMEDIATE takes the write lock up front, so a transaction never fails half-way on a lock
# upgrade (and waits up to the busy timeout for another process's).
_SQL_BEGIN = "BEGIN IMMEDIATE"
_GROUP_LIMIT = 256  # requests in one group commit, so that a busy queue still commits


class _WriteRequest:
    """One thread's work waiting for the next group commit, and then its outcome."""

    __slots__ = ("work", "args", "result", "error", "done", "wake")

    def __init__(self, work: Callable[..., Any], args: tuple):
        self.work, self.args = work, args
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = False
        # A thread that has to wait sleeps on this lock, held until the request is done or
        # must lead; made only then, as a thread alone never waits.
        self.wake: threading.Lock | None = None


# The open journals of this process, made quiet while the process forks: SQLite keeps the
# locks of a process's connections to one file in memory that all of them share, so a child
# forked while a thread of the parent was inside a transaction inherits a lock that nothing in
# the child will release, and its own connection (a forked child launches its own executor)
# would wait for it for ever. Holding each journal's connection locks across fork() makes the
# child start from a moment when no statement runs.
_journals_to_quiet: Any = None  # a weakref.WeakSet, made with the first journal


def _quiet_at_fork(journal: _JournalFile) -> None:
    global _journals_to_quiet
    if _journals_to_quiet is None:
        import weakref

        _journals_to_quiet = weakref.WeakSet()
        os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                            after_in_child=_after_fork_in_child)
    _journals_to_quiet.add(journal)


_quieted: list[_JournalFile] = []  # the journals _before_fork holds, until the fork is made


def _before_fork() -> None:
    for journal in list(_journals_to_quiet):
        journal._lock.acquire()
        journal._read_lock.acquire()
        _quieted.append(journal)


def _after_fork_in_parent() -> None:
    while _quieted:
        journal = _quieted.pop()
        journal._read_lock.release()
        journal._lock.release()


def _after_fork_in_child() -> None:
    """The parent's journals stay held in the child, which never uses them (its first DBOS
    call launches an executor of its own); a fork of the child does not wait for them."""
    for journal in _quieted:
        _journals_to_quiet.discard(journal)
    _quieted.clear()


class _JournalFile:
    """The journal's plumbing: its two SQLite connections, the checks and migrations made when
    it is opened, group commit, and the mapping of SQLite's errors to DBOSJournalError. The
    journal, with this and the verbs of _Journal below, is the only code that speaks SQL; it
    knows nothing of user functions, threads or context variables.

    Writes run in ``BEGIN IMMEDIATE`` transactions on a connection shared by the process's
    threads, several threads' writes batched into one transaction by group commit. Reads use
    a second connection: in WAL mode a reader never waits for a writer, so a read is never
    held up by a commit (or by another process's write lock)."""

    def __init__(self, path: str, *, synchronous: str = "FULL", busy_timeout_sec: float = 10.0,
                 read_only: bool = False, migrate: bool = True):
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise DBOSInitializationError(
                f"sqlite_synchronous must be 'FULL', 'NORMAL' or 'EXTRA', not {synchronous!r}."
            )
        self.path = path
        self._lock = threading.RLock()  # the connection: one statement or transaction at a time
        self._group = threading.Lock()  # guards the queue of writes waiting for a commit
        self._queue: list[_WriteRequest] = []
        # Held by the thread committing now (the leader), and handed on with the lead.
        self._leading = threading.Lock()
        self._commit_costs: collections.deque[float] = collections.deque(maxlen=32)
        self._commits = 0
        self._busy_timeout_sec = busy_timeout_sec
        self.read_only = read_only
        # A program moves the WAL into the file when it closes; a tool that wrote a message
        # leaves that to the program (a checkpoint may wait on the program's readers).
        self.checkpoint_at_close = migrate
        self._replaced: DBOSJournalError | None = None
        self._closed_because = ""
        self._read_lock = threading.Lock()  # the reading connection: one query at a time
        _quiet_at_fork(self)
        if read_only:
            self._open_for_reading(path, busy_timeout_sec)
            return
        existed = _side_files(path)
        try:
            conn = apsw.Connection(path)
        except apsw.Error as exc:
            raise _cannot_open(path, exc) from None
        reader = None
        try:
            conn.set_busy_handler(_busy_handler(busy_timeout_sec))
            if conn.readonly("main"):
                raise DBOSInitializationError(
                    f"The journal {path} is read-only; it was not modified. Make the file (and "
                    "its directory, where SQLite keeps the -wal and -shm files) writable."
                )
            version = _check_journal_header(conn, path)
            if version > 0:
                _check_journal_pages(conn, path)
            self._configure(conn, synchronous, busy_timeout_sec)
            if version < SCHEMA_VERSION:
                if not migrate:
                    raise DBOSInitializationError(
                        f"The journal {path} has schema {version}, older than this dbos_lite's "
                        f"{SCHEMA_VERSION}; it was not modified. Launch the program once with "
                        "this dbos_lite to upgrade it.")
                self._migrate(conn)
            reader = apsw.Connection(path)
            reader.set_busy_timeout(int(busy_timeout_sec * 1000))
            reader.execute("PRAGMA query_only = ON")
        except BaseException as exc:
            if reader is not None:
                reader.close()
            conn.close()
            _remove_side_files(path, existed)
            if isinstance(exc, apsw.Error):
                raise _cannot_open(path, exc) from None
            raise
        self.schema_version = SCHEMA_VERSION
        self._conn, self._reader = conn, reader
        # One cursor per connection, reused: conn.execute() would make (and free) a cursor for
        # every statement, and a workflow runs about ten.
        self._cursor, self._read_cursor = conn.cursor(), reader.cursor()
        self._identity = _file_identity(path)
        # Open connections keep the -wal file: it goes only when the last one closes.
        self._wal_identity = _file_identity(path + "-wal")

    def _open_for_reading(self, path: str, busy_timeout_sec: float) -> None:
        """One read-only connection, for looking: no migration, no check that writes, no
        configuration; a missing file is refused, not created. (SQLite may leave empty -wal
        and -shm files beside a journal it reads, as any reader of a WAL database does.)"""
        if not os.path.isfile(path):
            raise DBOSInitializationError(
                f"There is no journal at {path}; nothing was created. Point system_database_url "
                "at the journal a program made (its 'sqlite:///PATH')."
            )
        try:
            conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
        except apsw.Error as exc:
            raise _cannot_open(path, exc) from None
        try:
            conn.set_busy_timeout(int(busy_timeout_sec * 1000))
            self.schema_version = _check_journal_header(conn, path)
            if self.schema_version == 0:
                raise DBOSInitializationError(
                    f"{path} is empty: no program has written a journal there yet.")
        except BaseException as exc:
            conn.close()
            if isinstance(exc, apsw.Error):
                raise _cannot_open(path, exc) from None
            raise
        self._conn = self._reader = conn
        self._cursor, self._read_cursor = conn.cursor(), conn.cursor()
        self._identity = _file_identity(path)
        self._wal_identity = None  # writers come and go, and the -wal with them

    @staticmethod
    def _configure(conn: apsw.Connection, synchronous: str, busy_timeout_sec: float) -> None:
        """WAL lets readers work while one process writes; synchronous decides what survives a
        power loss; foreign keys make deleting a workflow delete its operations."""
        mode = _retry_while_busy(
            lambda: conn.execute("PRAGMA journal_mode = WAL").fetchall()[0][0], busy_timeout_sec)
        if mode.lower() != "wal":
            raise DBOSInitializationError(
                f"The journal could not be put in WAL mode (got {mode!r}); it must be on a local "
                "file system."
            )
        conn.execute("PRAGMA synchronous = " + synchronous)
        if synchronous in ("FULL", "EXTRA"):
            # Every commit syncs the WAL, and a sync that grows the file (SQLite deletes the WAL
            # when the last connection closes, so each run starts it empty) costs more than one
            # that rewrites blocks already there. A WAL checkpointed every 100 pages starts over
            # sooner than at SQLite's 1000, and stays under half a megabyte (the effect is in
            # benchmarks/bench_sequential.py and bench_concurrent.py). Under NORMAL commits do
            # not sync; checkpoints do, so the default, rarer ones are cheaper there.
            conn.execute("PRAGMA wal_autocheckpoint = 100")
        conn.execute("PRAGMA foreign_keys = ON")

    @staticmethod
    def _migrate(conn: apsw.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read inside the write lock: another process may have migrated meanwhile.
            version = conn.execute("PRAGMA user_version").fetchall()[0][0]
            if version < SCHEMA_VERSION:
                for number in range(version, SCHEMA_VERSION):
                    for statement in _MIGRATIONS[number]:
                        conn.execute(statement)
                conn.execute("PRAGMA application_id = " + str(APPLICATION_ID))
                conn.execute("PRAGMA user_version = " + str(SCHEMA_VERSION))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self, reason: str = "The journal was closed.") -> None:
        """Close both connections; a later operation raises _OwnershipLost(``reason``)."""
        with self._lock, self._read_lock:
            if self._conn is not None:
                if not self.read_only:
                    # Move what the WAL holds into the main file, so that a copy of the one
                    # file is the whole journal (another process still using it may keep
                    # part of the WAL; a backup taken with DBOS.backup() needs no care).
                    if self.checkpoint_at_close:
                        with contextlib.suppress(apsw.Error):
                            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    self._reader.close()
                self._conn.close()
                self._conn = None
                self._closed_because = reason

    # -- plumbing --

    def _connection(self) -> apsw.Connection:
        if self._conn is None:
            raise _OwnershipLost(self._closed_because)
        if self._replaced is not None:
            raise self._replaced
        return self._conn

    def check_file(self) -> bool:
        """Notice that the journal's file was deleted or replaced while this process has it open:
        what it would write then goes to a file nobody will read. From then on every operation
        raises DBOSJournalError. False once that happened.

        The same goes for the -wal file, which SQLite removes only when the last connection to
        the journal closes. It goes while this process has the journal open when the process
        also opened the journal with another copy of SQLite, Python's sqlite3 module beside
        apsw's: the two do not see each other's locks, and the other, closing, believes itself
        the last (sqlite.org/howtocorrupt.html, 2.2.1)."""
        if self._replaced is not None:
            return False
        if _file_identity(self.path) != self._identity:
            self._replaced = DBOSJournalError(
                f"The journal {self.path} was deleted or replaced while this process was using "
                "it; nothing more is recorded. Restart the program: it opens the journal now at "
                "that path (restore the old one first if it was removed by mistake)."
            )
        elif (self._wal_identity is not None
              and _file_identity(self.path + "-wal") != self._wal_identity):
            self._replaced = DBOSJournalError(
                f"The journal's {self.path}-wal file was removed while this process had the "
                "journal open: what it recorded now would go to a file no other connection "
                "sees, so nothing more is recorded; what was committed before is in the "
                "journal. This happens when the program also opens the journal with Python's "
                "sqlite3 module (a second copy of SQLite, which removes the file when its "
                "connection closes): restart the program, and look at the journal from another "
                "process (the sqlite3 shell, python -m dbos_lite) or with DBOS.list_workflows()."
            )
        else:
            return True
        _logger.error("%s", self._replaced)
        return False

    def _transact(self, work: Callable[..., Any], args: tuple) -> Any:
        """Run ``work(cursor, *args)`` in a write transaction and return its result.

        Group commit: while one thread commits, the work of other threads queues up; the next
        committer runs the whole queue in one transaction, so one fsync makes many threads'
        records durable, and each call returns only once its own work is committed. A thread
        that finds nobody committing commits at once (_commit_alone); a verb looks before it
        calls this, so this queues the work. If any work in a group fails, the group is rolled
        back and each work is run again in a transaction of its own, so one failure touches no
        other."""
        request = _WriteRequest(work, args)
        request.wake = threading.Lock()
        request.wake.acquire()
        with self._group:
            self._queue.append(request)
            leads = self._leading.acquire(False)  # the leader left before this was queued
        if not leads:
            request.wake.acquire()  # until done, or it must lead the queue
        if not request.done:
            with self._group:
                batch, self._queue = self._queue, []
            self._lead(batch)
        if request.error is not None:
            raise request.error
        return request.result

    def _commit_alone(self, work: Callable[..., Any], args: tuple, one_statement: bool = False
                      ) -> Any:
        """The work of a thread that found nobody committing, in a transaction of its own
        unless others came while it ran (they join it, as in _commit); then the lead goes to
        the oldest request that arrived meanwhile. A work of ``one_statement`` runs without
        BEGIN and COMMIT, in SQLite's autocommit mode (the statement is its transaction),
        except when its commit is one that commit_cost times; those that came meanwhile are
        then led from here, in a group of their own."""
        batch = None
        try:
            with self._lock:
                self._connection()  # not closed, nor replaced
                cursor = self._cursor
                if one_statement and not self._next_commit_timed():
                    self._commits += 1
                    try:
                        result = work(cursor, *args)
                    except BaseException as exc:
                        self._rollback(cursor)
                        raise self._failure(exc) from None
                    if self._queue:  # (read unlocked, as in _commit_group)
                        with self._group:
                            batch, self._queue = self._queue, []
                        self._commit(batch)
                    return result
                try:
                    cursor.execute(_SQL_BEGIN)
                    result = work(cursor, *args)
                    if not self._queue:  # (read unlocked, as in _commit_group)
                        self._commit_statement(cursor)
                        return result
                except BaseException as exc:
                    self._rollback(cursor)
                    raise self._failure(exc) from None
                request = _WriteRequest(work, args)
                request.result = result
                batch = [request]
                self._commit_group(cursor, batch, 1)
        finally:
            if batch is None:
                self._pass_lead()
            else:
                self._wake(batch)
        if request.error is not None:
            raise request.error
        return request.result

    def _lead(self, batch: list[_WriteRequest]) -> None:
        """Commit a group, wake its threads, then hand the lead on."""
        try:
            with self._lock:
                self._commit(batch)
        finally:
            self._wake(batch)

    def _wake(self, batch: list[_WriteRequest]) -> None:
        """Wake the threads of a group just committed (only those: the others wait for the
        lead), then hand the lead on."""
        for request in batch:
            request.done = True
            if request.wake is not None and request.wake.locked():
                request.wake.release()
        self._pass_lead()

    def _pass_lead(self) -> None:
        """Hand the lead to the oldest request that arrived meanwhile, if any. Without the
        queue's lock when there is none: a request queued just as the lead is let go takes
        it itself (see _transact), or is found here on a second look. (Between that look and
        taking the lead back, the request may have led and emptied the queue: looked at
        again under the queue's lock, where requests are queued.)"""
        if not self._queue:
            self._leading.release()
            if not self._queue or not self._leading.acquire(False):
                return
        with self._group:
            if self._queue:
                self._queue[0].wake.release()  # type: ignore[union-attr]
                return
            self._leading.release()

    def _commit(self, batch: list[_WriteRequest]) -> None:
        """One transaction for the batch, and for work that arrives while it runs."""
        try:
            self._connection()  # not closed, nor replaced
            cursor = self._cursor
            cursor.execute(_SQL_BEGIN)
        except BaseException as exc:
            for request in batch:
                request.error = self._failure(exc)
            return
        self._commit_group(cursor, batch, 0)

    def _commit_group(self, cursor: apsw.Cursor, batch: list[_WriteRequest], index: int
                      ) -> None:
        """In the transaction begun, run the batch's work from ``index`` on, and the work that
        arrives meanwhile (up to _GROUP_LIMIT requests: a thread that comes during the
        statements joins this group instead of waiting for the next fsync); then commit."""
        try:
            while True:
                while index < len(batch):
                    request = batch[index]
                    request.result = request.work(cursor, *request.args)
                    index += 1
                # Reading the queue unlocked is safe: a request missed here is in the queue,
                # and the next group takes it.
                if not self._queue or len(batch) >= _GROUP_LIMIT:
                    break
                with self._group:
                    batch += self._queue
                    self._queue = []
            self._commit_statement(cursor)
            return
        except BaseException as exc:
            self._rollback(cursor)
            if len(batch) == 1:
                batch[0].error = self._failure(exc)
                return
        for request in batch:  # one failed: each again in a transaction of its own
            try:
                cursor.execute(_SQL_BEGIN)
                request.result = request.work(cursor, *request.args)
                cursor.execute("COMMIT")
            except BaseException as exc:
                request.error = self._failure(exc)
                self._rollback(cursor)

    def _next_commit_timed(self) -> bool:
        """Whether commit_cost times the next commit: one in two of the first 32, then one in
        eight."""
        commits = self._commits
        return not commits % (2 if commits < 32 else 8)

    def _commit_statement(self, cursor: apsw.Cursor) -> None:
        """COMMIT, timed for commit_cost when _next_commit_timed."""
        timed = self._next_commit_timed()
        self._commits += 1
        if timed:
            started = time.perf_counter()
            cursor.execute("COMMIT")
            self._commit_costs.append(time.perf_counter() - started)
        else:
            cursor.execute("COMMIT")

    def commit_cost(self) -> float | None:
        """How long a COMMIT takes here (seconds, the median of the last 32; None before the
        first): under FULL, mostly the disk's fsync."""
        costs = sorted(self._commit_costs)
        return costs[len(costs) // 2] if costs else None

    @staticmethod
    def _rollback(cursor: apsw.Cursor) -> None:
        with contextlib.suppress(apsw.Error):  # SQLite may have rolled back already
            if not cursor.connection.getautocommit():
                cursor.execute("ROLLBACK")

    def _read(self, sql: str, bindings: Any = ()) -> list[tuple]:
        if self.schema_version < 7:  # an older journal, only looked at: no schedule_name yet
            sql = sql.replace(_SCHEDULE_NAME_COLUMN, " NULL")
        with self._read_lock:
            self._connection()  # not closed, nor replaced
            try:
                return self._read_cursor.execute(sql, bindings).fetchall()
            except apsw.Error as exc:
                raise self._failure(exc) from None

    def _failure(self, exc: BaseException) -> BaseException:
        """What a caller sees for an error of SQLite: a DBOSJournalError that says what to do
        (errors that are not the journal's fault, and ours, pass unchanged)."""
        if not isinstance(exc, apsw.Error) or isinstance(exc, apsw.ConstraintError):
            return exc
        if isinstance(exc, apsw.FullError):
            what, todo = "the disk holding it is full", "Free disk space"
        elif isinstance(exc, apsw.BusyError):
            what = (f"another process kept it locked for more than {self._busy_timeout_sec} s "
                    "(busy_timeout_sec)")
            todo = "Retry when that process is done, or raise busy_timeout_sec"
        elif isinstance(exc, apsw.ReadOnlyError):
            what, todo = "it is read-only", "Make the file and its directory writable"
        elif isinstance(exc, (apsw.CorruptError, apsw.NotADBError)):
            what, todo = f"it is corrupt ({exc})", "Restore it from a backup"
        else:
            what, todo = f"{type(exc).__name__}: {exc}", "Check the disk and the file"
        return DBOSJournalError(
            f"The journal {self.path} could not be read or written: {what}. This operation was "
            f"not recorded. {todo}."
        )

    def limit_busy_wait(self, timeout_sec: float) -> None:
        """From now on, wait at most ``timeout_sec`` for another process's lock."""
        with self._lock:
            if self._conn is not None and not self.read_only:
                self._conn.set_busy_handler(_busy_handler(timeout_sec))

    def backup(self, path: str) -> None:
        """Copy the journal to a new file ``path``, consistent as of one moment, while other
        threads and processes go on writing (SQLite's online backup, from one read snapshot)."""
        if os.path.exists(path):
            raise _InvalidArgument(
                f"The backup file {path} exists; it was not changed. Choose a new path.")
        with self._read_lock:
            source = self._reader
            try:
                destination = apsw.Connection(path)
            except apsw.Error as exc:
                raise self._failure(exc) from None
            try:
                with destination.backup("main", source, "main") as backup:
                    backup.step(-1)  # every page in one step: one snapshot of the source
                destination.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            except apsw.Error as exc:
                raise self._failure(exc) from None
            finally:
                destination.close()

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap poll for other processes' work.
        Asked of the writing connection, which does not count its own commits."""
        with self._lock:
            conn = self._connection()
            try:
                return conn.execute("PRAGMA data_version").fetchall()[0][0]
            except apsw.Error as exc:
                raise self._failure(exc) from None


def _transaction(work: Callable[..., Any], one_statement: bool = False
                 ) -> Callable[..., Any]:
    """Make ``work(cursor, *args)`` a journal verb, ``journal.verb(*args)``, that runs in a write
    transaction (joining a group commit) and returns what ``work`` returns. ``work``'s first
    parameter is the transaction's cursor, not ``self``: a verb is its SQL and nothing else."""

    @functools.wraps(work)
    def verb(self: _JournalFile, *args: Any) -> Any:
        if self._leading.acquire(False):  # nobody commits: at once, without _transact's call
            return self._commit_alone(work, args, one_statement)
        return self._transact(work, args)

    return verb


def _statement(work: Callable[..., Any]) -> Callable[..., Any]:
    """A verb, as _transaction makes it, whose ``work`` writes with one statement (and reads
    nothing but ``changes()``): alone, it needs no BEGIN and COMMIT (_commit_alone)."""
    return _transaction(work, one_statement=True)


def _insert_workflow(cursor: apsw.Cursor, workflow: _WorkflowRecord) -> bool:
    """Insert a workflow unless its id exists; whether it was inserted."""
    cursor.execute(_SQL_INSERT_WORKFLOW, msgspec.structs.astuple(workflow))
    return cursor.connection.changes() == 1


def _record_if_owner(cursor: apsw.Cursor, operation: _OperationRecord | None, owner: str
                     ) -> bool:
    """Insert an operation only while ``owner`` runs its PENDING workflow: a process that lost
    the workflow (recovered elsewhere, cancelled, deleted) cannot record into it. False also
    when another run recorded the operation first (its primary key is taken): this run stops."""
    if operation is None:
        return True
    try:
        cursor.execute(_SQL_RECORD_OPERATION,
                       (*msgspec.structs.astuple(operation), operation.workflow_id, owner))
    except apsw.ConstraintError as exc:
        if exc.extendedresult != apsw.SQLITE_CONSTRAINT_PRIMARYKEY:
            raise
        return False
    return cursor.connection.changes() == 1


def _take_from_queue(cursor: apsw.Cursor, queue: _QueueRecord, claimant: _Claimant,
                     now: int) -> _Dispatch:
    """Inside a write transaction (so no other process counts or takes at the same time):
    count what the queue runs, and take for ``claimant`` the next waiting workflows that its
    limits allow, in priority then enqueue order."""
    name = queue.name
    cursor.execute(_SQL_END_DELAYS, (name, now))
    cursor.execute(_SQL_END_DELAYS_OF_ENTRIES, (name, now))
    wake_at = cursor.execute(_SQL_NEXT_DELAY_END, (name,)).fetchall()[0][0]
    room = claimant.room
    running: dict[str | None, int] = {}
    running_here: dict[str | None, int] = {}
    if queue.global_concurrency is not None or queue.partition_concurrency is not None:
        running = dict(cursor.execute(_SQL_COUNT_RUNNING, (name,)).fetchall())
        if queue.global_concurrency is not None:
            room = min(room, queue.global_concurrency - sum(running.values()))
    if queue.worker_concurrency is not None or queue.partition_worker_concurrency is not None:
        running_here = dict(cursor.execute(_SQL_COUNT_RUNNING_HERE,
                                           (name, claimant.owner)).fetchall())
        if queue.worker_concurrency is not None:
            room = min(room, queue.worker_concurrency - sum(running_here.values()))
    starts: dict[str | None, int] = {}
    rated = queue.limiter_limit is not None or queue.partition_limiter_limit is not None
    if rated:
        window = max(queue.limiter_period_ms or 0, queue.partition_limiter_period_ms or 0)
        cursor.execute(_SQL_FORGET_STARTS, (name, now - window))
    if queue.limiter_limit is not None:
        period = queue.limiter_period_ms or 0
        counted = cursor.execute(_SQL_COUNT_STARTS, (name, now - period)).fetchall()
        started = sum(count for _, count, _ in counted)
        if started >= queue.limiter_limit and counted:
            oldest = min(first for _, _, first in counted)
            wake_at = oldest + period if wake_at is None else min(wake_at, oldest + period)
        room = min(room, queue.limiter_limit - started)
    partition_period = queue.partition_limiter_period_ms or 0
    if queue.partition_limiter_limit is not None:
        starts = {key: count for key, count, _ in cursor.execute(
            _SQL_COUNT_STARTS, (name, now - partition_period)).fetchall()}
    if room <= 0:
        return _Dispatch([], wake_at)
    # A partitioned queue may skip workflows whose partition is full, so it looks further.
    scan = min(room * 8 + 64, 4096) if queue.partitioned else room
    candidates = cursor.execute(_SQL_QUEUE_CANDIDATES, (
        name, claimant.application_version, _as_json(claimant.names),
        _as_json(claimant.targets), scan)).fetchall()
    claimed = []
    for workflow_id, key, ran_before in candidates:
        if len(claimed) >= room:
            break
        if queue.partition_concurrency is not None \
                and running.get(key, 0) >= queue.partition_concurrency:
            continue
        if queue.partition_worker_concurrency is not None \
                and running_here.get(key, 0) >= queue.partition_worker_concurrency:
            continue
        if queue.partition_limiter_limit is not None \
                and starts.get(key, 0) >= queue.partition_limiter_limit:
            continue
        rows = cursor.execute(_SQL_TAKE_QUEUED, (
            claimant.owner, claimant.executor_id, claimant.application_version, now,
            workflow_id)).fetchall()
        if not rows:
            continue
        cursor.execute(_SQL_MARK_RUNNING, (workflow_id,))
        if rated:
            cursor.execute(_SQL_RECORD_START, (name, key, now))
        for counts in (running, running_here, starts):
            counts[key] = counts.get(key, 0) + 1
        claimed.append(_Claimed(_WorkflowRecord(*rows[0]), fresh=not ran_before))
    if queue.partition_limiter_limit is not None and any(
            count >= queue.partition_limiter_limit for count in starts.values()):
        # Some partition waits for its window: look again when its oldest start leaves it.
        oldest = cursor.execute(_SQL_OLDEST_START,
                                (name, now - partition_period)).fetchall()[0][0]
        if oldest is not None:
            ends = oldest + partition_period
            wake_at = ends if wake_at is None else min(wake_at, ends)
    return _Dispatch(claimed, wake_at)


def _as_json(values: list[Any] | None) -> str | None:
    """A list bound as one JSON parameter, which the SQL reads with json_each()."""
    return None if values is None else _encoder.encode(values).decode()


class _Journal(_JournalFile):
    """The journal's verbs: each one statement or one small transaction, in the words of the
    domain (start, claim, record, finish, release...). Writes are ``@_transaction`` functions;
    reads go through the reading connection."""

    # -- workflows --

    create_workflow = _statement(_insert_workflow)

    @_transaction
    def start_workflow(cursor: apsw.Cursor, workflow: _WorkflowRecord,
                       parent_operation: _OperationRecord | None) -> _StartOutcome:
        """Insert a workflow unless its id exists, and return the row that is there. With a
        ``parent_operation``, record in the same transaction that the parent started it."""
        if _insert_workflow(cursor, workflow):
            existing, created = workflow, True
        else:
            row = cursor.execute(_SQL_GET_WORKFLOW, (workflow.workflow_id,)).fetchall()[0]
            existing, created = _WorkflowRecord(*row), False
        if parent_operation is not None:
            cursor.execute(_SQL_INSERT_OPERATION_IF_ABSENT,
                           msgspec.structs.astuple(parent_operation))
        return _StartOutcome(existing, created)

    def get_workflow(self, workflow_id: str) -> _WorkflowRecord | None:
        rows = self._read(_SQL_GET_WORKFLOW, (workflow_id,))
        return _WorkflowRecord(*rows[0]) if rows else None

    def statuses_of(self, workflow_ids: list[str]) -> list[str | None]:
        """The status of each workflow, in order; None for an id that is not in the journal."""
        return [row[0] for row in self._read(_SQL_STATUSES_OF, (_as_json(workflow_ids),))]

    @_transaction
    def claim_workflow(cursor: apsw.Cursor, workflow_id: str, owner: str, executor_id: str,
                       previous_owner: str | None) -> _WorkflowRecord | None:
        """Take over a PENDING workflow from ``previous_owner`` (dead, or None), counting a
        recovery attempt; None if another process took it first. Past its maximum recovery
        attempts it comes back MAX_RECOVERY_ATTEMPTS_EXCEEDED, owned by nobody."""
        rows = cursor.execute(
            _SQL_CLAIM_WORKFLOW, (owner, executor_id, _now_ms(), workflow_id, previous_owner)
        ).fetchall()
        return _WorkflowRecord(*rows[0]) if rows else None

    @_transaction
    def claim_orphans(cursor: apsw.Cursor, owner: str, executor_id: str, names: list[str],
                      targets: list[tuple[str, str | None]], running: list[str]
                      ) -> list[_WorkflowRecord]:
        """Release the workflows of processes that are gone, take back the ones ``owner`` is
        still ``running``, give queued ones back to their queues, then claim every PENDING
        workflow owned by nobody whose function is in ``names`` and, for a method, whose
        (class_name, config_name) is in ``targets``."""
        if running:
            cursor.execute(_SQL_READOPT_RUNNING, (owner, _as_json(running)))
        requeued = [row[0] for row in cursor.execute(_SQL_REQUEUE_ORPHANS, (_now_ms(),))]
        if requeued:
            cursor.execute(_SQL_MARK_WAITING, (_as_json(requeued),))
        rows = cursor.execute(
            _SQL_CLAIM_ORPHANS,
            (owner, executor_id, _now_ms(), _as_json(names), _as_json(targets))).fetchall()
        return [_WorkflowRecord(*row) for row in rows]

    def list_unclaimable(self, names: list[str], targets: list[tuple[str, str | None]]
                         ) -> list[_WorkflowRecord]:
        """PENDING workflows owned by nobody that claim_orphans leaves: their function is not
        in ``names``, or their class or instance is not in ``targets``."""
        rows = self._read(_SQL_LIST_UNCLAIMABLE, (_as_json(names), _as_json(targets)))
        return [_WorkflowRecord(*row) for row in rows]

    @_statement
    def set_workflow_error(cursor: apsw.Cursor, workflow_id: str, error: str | None) -> None:
        cursor.execute(_SQL_SET_WORKFLOW_ERROR, (error, workflow_id))

    @_statement
    def finish_workflow(cursor: apsw.Cursor, workflow_id: str, owner: str, status: str,
                        output: str | None, error: str | None) -> bool:
        """Record a workflow's outcome if ``owner`` still owns it; False if it does not."""
        cursor.execute(_SQL_FINISH_WORKFLOW,
                       (status, output, error, _now_ms(), workflow_id, owner))
        return cursor.connection.changes() == 1

    @_statement
    def release_workflow(cursor: apsw.Cursor, workflow_id: str, owner: str) -> None:
        """Give up a PENDING workflow without an outcome, for another run to take over."""
        cursor.execute(_SQL_RELEASE_WORKFLOW, (workflow_id, owner))

    def list_workflows(self, query: _WorkflowFilter) -> list[_WorkflowRecord]:
        if query.statuses is not None and set(query.statuses) <= set(_ACTIVE_STATUSES):
            sql = _SQL_LIST_ACTIVE_WORKFLOWS_DESC if query.sort_desc \
                else _SQL_LIST_ACTIVE_WORKFLOWS_ASC
        else:
            sql = _SQL_LIST_WORKFLOWS_DESC if query.sort_desc else _SQL_LIST_WORKFLOWS_ASC
        rows = self._read(sql, (
            _as_json(query.workflow_ids), _as_json(query.statuses), _as_json(query.names),
            query.start_ms, query.end_ms, query.application_version, query.executor_id,
            query.workflow_id_prefix, query.parent_workflow_id, query.queue_name,
            query.forked_from, -1 if query.limit is None else query.limit, query.offset or 0,
            query.queued_only, query.completed_after_ms, query.completed_before_ms,
            query.dequeued_after_ms, query.dequeued_before_ms, query.has_parent, query.is_fork,
            query.was_forked_from, _as_json(query.schedule_names),
        ))
        return [_WorkflowRecord(*row) for row in rows]

    # -- operations --

    def last_function_id(self, workflow_id: str) -> int:
        return self._read(_SQL_LAST_FUNCTION_ID, (workflow_id,))[0][0]

    def not_running(self, workflow_ids: list[str], owner: str) -> list[str]:
        """Those of ``workflow_ids`` that ``owner`` may no longer run: cancelled, finished
        elsewhere, deleted, or taken over by another process."""
        rows = self._read(_SQL_NOT_RUNNING, (_as_json(workflow_ids), owner))
        return [row[0] for row in rows]

    def lookup_operation(self, workflow_id: str, function_id: int) -> _OperationLookup:
        rows = self._read(_SQL_LOOKUP_OPERATION, (workflow_id, function_id))
        if not rows:
            return _OperationLookup(None, None)
        status, name, *rest = rows[0]
        if name is None:
            return _OperationLookup(status, None)
        return _OperationLookup(status, _OperationRecord(workflow_id, function_id, name, *rest))

    #: Record an operation's outcome if ``owner`` still runs its workflow; False if not.
    record_operation = _statement(_record_if_owner)

    # -- the timeline: failed attempts and waits --

    @_transaction
    def record_failed_attempt(cursor: apsw.Cursor, attempt: _AttemptRecord, owner: str) -> bool:
        """Record a failed attempt of a step if ``owner`` still runs its workflow."""
        cursor.execute(_SQL_RECORD_ATTEMPT,
                       (*msgspec.structs.astuple(attempt), attempt.workflow_id, owner))
        return cursor.connection.changes() == 1

    def list_attempts(self, workflow_id: str) -> list[_AttemptRecord]:
        """The failed attempts of a workflow's steps, in the order they failed."""
        if self.schema_version < 6:
            return []
        return [_AttemptRecord(*row) for row in self._read(_SQL_LIST_ATTEMPTS, (workflow_id,))]

    @_transaction
    def note_wait(cursor: apsw.Cursor, wait: _WaitRecord, owner: str) -> None:
        """Note that an operation of a workflow ``owner`` runs waits (see workflow_waits)."""
        cursor.execute(_SQL_FORGET_WAITS, (wait.workflow_id,))
        cursor.execute(_SQL_NOTE_WAIT,
                       (*msgspec.structs.astuple(wait), wait.workflow_id, owner))

    def list_waits(self, workflow_id: str) -> list[_WaitRecord]:
        """The waits of a workflow that no recorded operation has ended yet."""
        if self.schema_version < 6:
            return []
        return [_WaitRecord(*row) for row in self._read(_SQL_LIST_WAITS, (workflow_id,))]

    def queue_place(self, workflow_id: str) -> _QueuePlace | None:
        """Where a workflow stands in its queue; None if it is on none (or has left it)."""
        rows = self._read(_SQL_QUEUE_PLACE, (workflow_id,))
        return None if not rows else _QueuePlace(rows[0][0], rows[0][1], bool(rows[0][2]),
                                                 rows[0][3])

    def queue_counts(self) -> dict[str, tuple[int, int]]:
        """For each queue with workflows on it: how many wait, and how many run."""
        return {name: (waiting, running)
                for name, waiting, running in self._read(_SQL_QUEUE_COUNTS)}

    def forked_from_any(self, workflow_ids: list[str]) -> set[str]:
        """Those of ``workflow_ids`` that some workflow was forked from."""
        return {row[0] for row in self._read(_SQL_FORKED_FROM_ANY, (_as_json(workflow_ids),))}

    def application_name(self) -> str | None:
        """The application the journal belongs to (None before the first launch)."""
        rows = self._read(_SQL_GET_SETTING, ("application_name",))
        return rows[0][0] if rows else None

    # -- management --

    @_transaction
    def cancel_workflows(cursor: apsw.Cursor, workflow_ids: list[str]) -> None:
        """Mark workflows CANCELLED unless they are finished; nobody owns them any more."""
        for workflow_id in workflow_ids:
            cursor.execute(_SQL_CANCEL_WORKFLOW, (_now_ms(), workflow_id))

    @_transaction
    def resume_workflow(cursor: apsw.Cursor, workflow_id: str, owner: str, executor_id: str
                        ) -> _WorkflowRecord | None:
        """Make a workflow that is not SUCCESS or ERROR PENDING again, owned by ``owner``, with
        its recovery attempts and deadline reset; None if it was finished (or absent)."""
        rows = cursor.execute(_SQL_RESUME_WORKFLOW,
                              (owner, executor_id, _now_ms(), workflow_id)).fetchall()
        return _WorkflowRecord(*rows[0]) if rows else None

    @_transaction
    def fork_workflow(cursor: apsw.Cursor, workflow: _WorkflowRecord, original_id: str,
                      start_step: int) -> None:
        """Insert a new workflow and copy the original's operations before ``start_step``."""
        cursor.execute(_SQL_INSERT_WORKFLOW, msgspec.structs.astuple(workflow))
        if cursor.connection.changes() != 1:
            raise DBOSConflictingWorkflowError(
                workflow.workflow_id, "a workflow with this id exists; fork to a new id.")
        cursor.execute(_SQL_COPY_OPERATIONS, (workflow.workflow_id, original_id, start_step))
        cursor.execute(_SQL_COPY_ATTEMPTS, (workflow.workflow_id, original_id, start_step))

    @_transaction
    def requeue_workflow(cursor: apsw.Cursor, workflow_id: str, queue: _QueueRecord,
                         running_in: list[str]) -> _WorkflowRecord | None:
        """Put a workflow that did not succeed or fail back on ``queue`` (created if absent),
        ENQUEUED with its recovery attempts and deadline reset, for a process that can run
        it; None if it finished, is absent, or a process in ``running_in`` runs it."""
        cursor.execute(_SQL_INSERT_QUEUE, msgspec.structs.astuple(queue))
        rows = cursor.execute(_SQL_REQUEUE_WORKFLOW, (queue.name, _now_ms(), workflow_id,
                                                      _as_json(running_in))).fetchall()
        if not rows:
            return None
        cursor.execute(_SQL_DELETE_QUEUE_ENTRY, (workflow_id,))
        cursor.execute(_SQL_INSERT_QUEUE_ENTRY,
                       (workflow_id, queue.name, 0, None, None, None, None))
        return _WorkflowRecord(*rows[0])

    @_transaction
    def fork_onto_queue(cursor: apsw.Cursor, workflow: _WorkflowRecord, original_id: str,
                        start_step: int, queue: _QueueRecord, app_version: str | None) -> None:
        """``fork_workflow``, the new workflow ENQUEUED on ``queue`` (created if absent), for
        a process of ``app_version`` (None: any) to take."""
        cursor.execute(_SQL_INSERT_QUEUE, msgspec.structs.astuple(queue))
        cursor.execute(_SQL_INSERT_WORKFLOW, msgspec.structs.astuple(workflow))
        if cursor.connection.changes() != 1:
            raise DBOSConflictingWorkflowError(
                workflow.workflow_id, "a workflow with this id exists; fork to a new id.")
        cursor.execute(_SQL_COPY_OPERATIONS, (workflow.workflow_id, original_id, start_step))
        cursor.execute(_SQL_COPY_ATTEMPTS, (workflow.workflow_id, original_id, start_step))
        cursor.execute(_SQL_INSERT_QUEUE_ENTRY, (workflow.workflow_id, queue.name, 0,
                                                 workflow.queue_partition_key, None, None,
                                                 app_version))

    def list_descendants(self, workflow_id: str) -> list[str]:
        """The children of a workflow, their children, and so on."""
        return [row[0] for row in self._read(_SQL_LIST_DESCENDANTS, (workflow_id,))]

    @_transaction
    def delete_workflows(cursor: apsw.Cursor, workflow_ids: list[str]) -> None:
        """Delete workflows with their operations, messages, events and streams."""
        for workflow_id in workflow_ids:
            cursor.execute(_SQL_DELETE_WORKFLOW, (workflow_id,))

    # -- messages, events, streams --

    @_transaction
    def send_messages(cursor: apsw.Cursor, messages: list[_MessageRecord],
                      operation: _OperationRecord | None, owner: str) -> bool:
        """Queue messages, all or none (a repeated idempotency key is a no-op), recording the
        sender's operation in the same transaction; False if the sender lost its workflow.
        DBOSNonExistentWorkflowError names every destination that is not in the journal."""
        if not _record_if_owner(cursor, operation, owner):
            return False
        missing = []
        for message in messages:
            try:
                if message.idempotency_key is not None:
                    cursor.execute(_SQL_INSERT_MESSAGE_KEY,
                                   (message.destination_id, message.idempotency_key))
                    if cursor.connection.changes() == 0:
                        continue  # sent before with this key
                cursor.execute(_SQL_INSERT_MESSAGE, msgspec.structs.astuple(message))
            except apsw.ConstraintError:
                if message.destination_id not in missing:
                    missing.append(message.destination_id)
        if missing:  # the transaction rolls back: nothing is sent
            raise DBOSNonExistentWorkflowError(", ".join(missing))
        return True

    def has_message(self, workflow_id: str, topic: str) -> bool:
        return bool(self._read(_SQL_HAS_MESSAGE, (workflow_id, topic)))

    @_transaction
    def receive_message(cursor: apsw.Cursor, workflow_id: str, topic: str,
                        operation: _OperationRecord, owner: str) -> _OperationRecord | None:
        """Take the oldest message of a topic and record it as ``operation``'s output, in one
        transaction, so a message is consumed exactly once; None if there is none. Raises
        _NotOwner (and takes nothing) if ``owner`` lost the workflow."""
        rows = cursor.execute(_SQL_TAKE_MESSAGE, (workflow_id, topic)).fetchall()
        if not rows:
            return None
        received = msgspec.structs.replace(operation, output=rows[0][0])
        if not _record_if_owner(cursor, received, owner):
            raise _NotOwner
        return received

    @_transaction
    def set_event(cursor: apsw.Cursor, workflow_id: str, key: str, value: str,
                  operation: _OperationRecord | None, owner: str) -> bool:
        if not _record_if_owner(cursor, operation, owner):
            return False
        cursor.execute(_SQL_SET_EVENT, (workflow_id, key, value, _now_ms()))
        return True

    def get_event(self, workflow_id: str, key: str) -> str | None:
        rows = self._read(_SQL_GET_EVENT, (workflow_id, key))
        return rows[0][0] if rows else None

    def get_all_events(self, workflow_id: str) -> dict[str, str]:
        return dict(self._read(_SQL_GET_ALL_EVENTS, (workflow_id,)))

    @_transaction
    def write_stream(cursor: apsw.Cursor, workflow_id: str, key: str, value: str | None,
                     operation: _OperationRecord | None, owner: str) -> bool:
        """Append a value (None closes the stream) at the stream's next offset."""
        if not _record_if_owner(cursor, operation, owner):
            return False
        cursor.execute(_SQL_WRITE_STREAM, (workflow_id, key, value))
        return True

    def read_stream(self, workflow_id: str, key: str, offset: int
                    ) -> list[tuple[int, str | None]]:
        return self._read(_SQL_READ_STREAM, (workflow_id, key, offset))

    def list_operations(self, workflow_id: str) -> list[_OperationRecord]:
        return [_OperationRecord(*row)
                for row in self._read(_SQL_LIST_OPERATIONS, (workflow_id,))]

    # -- queues --

    @_transaction
    def put_queue(cursor: apsw.Cursor, queue: _QueueRecord, replace: bool) -> _QueueRecord:
        """Store a queue's settings (``replace``: also over existing ones); what is stored."""
        cursor.execute(_SQL_REPLACE_QUEUE if replace else _SQL_INSERT_QUEUE,
                       msgspec.structs.astuple(queue))
        return _QueueRecord(*cursor.execute(_SQL_GET_QUEUE, (queue.name,)).fetchall()[0])

    @_transaction
    def change_queue(cursor: apsw.Cursor, name: str, changes: dict[str, Any],
                     check: Callable[[_QueueRecord], None]) -> _QueueRecord | None:
        """Change some of a queue's settings, if ``check`` (which may raise) accepts the
        result; None if there is no such queue."""
        rows = cursor.execute(_SQL_GET_QUEUE, (name,)).fetchall()
        if not rows:
            return None
        queue = msgspec.structs.replace(_QueueRecord(*rows[0]), **changes, updated_at=_now_ms())
        check(queue)
        cursor.execute(_SQL_REPLACE_QUEUE, msgspec.structs.astuple(queue))
        return queue

    def get_queue(self, name: str) -> _QueueRecord | None:
        rows = self._read(_SQL_GET_QUEUE, (name,))
        return _QueueRecord(*rows[0]) if rows else None

    def list_queues(self) -> list[_QueueRecord]:
        return [_QueueRecord(*row) for row in self._read(_SQL_LIST_QUEUES)]

    @_transaction
    def delete_queue(cursor: apsw.Cursor, name: str) -> None:
        cursor.execute(_SQL_DELETE_QUEUE, (name,))

    def has_waiting(self, queue_names: list[str]) -> bool:
        """Whether any of these queues has a workflow waiting to be taken."""
        return bool(self._read(_SQL_HAS_WAITING, (_as_json(queue_names),)))

    @_transaction
    def enqueue_workflow(cursor: apsw.Cursor, workflow: _WorkflowRecord, entry: _QueueEntry,
                         parent_operation: _OperationRecord | None,
                         admit: Callable[[_QueueRecord | None], None],
                         claimant: _Claimant | None) -> _EnqueueOutcome:
        """Put a workflow on its queue, unless its id exists (then return the row that is
        there) or another unfinished workflow on the queue holds its deduplication id (then
        write nothing, and name that ``holder``). ``admit`` sees the queue's settings first and
        may refuse by raising. With a ``claimant``, take from the queue in the same
        transaction what it may run now (often this very workflow)."""
        rows = cursor.execute(_SQL_GET_QUEUE, (entry.queue_name,)).fetchall()
        queue = _QueueRecord(*rows[0]) if rows else None
        admit(queue)
        assert queue is not None
        if entry.deduplication_id is not None:
            holders = cursor.execute(_SQL_DEDUPLICATION_HOLDER,
                                     (entry.queue_name, entry.deduplication_id)).fetchall()
            if holders and holders[0][0] != workflow.workflow_id:
                return _EnqueueOutcome(None, False, holders[0][0], None)
        cursor.execute(_SQL_INSERT_WORKFLOW, msgspec.structs.astuple(workflow))
        created = cursor.connection.changes() == 1
        if created:
            cursor.execute(_SQL_INSERT_QUEUE_ENTRY, msgspec.structs.astuple(entry))
            existing = workflow
        else:
            row = cursor.execute(_SQL_GET_WORKFLOW, (workflow.workflow_id,)).fetchall()[0]
            existing = _WorkflowRecord(*row)
        if parent_operation is not None:
            cursor.execute(_SQL_INSERT_OPERATION_IF_ABSENT,
                           msgspec.structs.astuple(parent_operation))
        dispatch = None
        if created and claimant is not None:
            dispatch = _take_from_queue(cursor, queue, claimant, _now_ms())
        return _EnqueueOutcome(existing, created, None, dispatch)

    @_transaction
    def debounce_workflow(cursor: apsw.Cursor, workflow: _WorkflowRecord, entry: _QueueEntry,
                          period_ms: int, timeout_ms: int | None,
                          admit: Callable[[_QueueRecord | None], None]) -> str:
        """A debounced start: if a workflow of this key (``workflow.deduplication_id``) is
        still DELAYED on the queue, give it these inputs and delay it ``period_ms`` from now
        (but no later than ``timeout_ms`` after it was first debounced); else enqueue
        ``workflow``, delayed that long. The id of the workflow that will run."""
        rows = cursor.execute(_SQL_GET_QUEUE, (entry.queue_name,)).fetchall()
        admit(_QueueRecord(*rows[0]) if rows else None)
        now = _now_ms()
        found = cursor.execute(_SQL_DEBOUNCED,
                               (entry.queue_name, workflow.deduplication_id)).fetchall()
        first = found[0][1] if found else now
        until = now + period_ms
        if timeout_ms is not None:
            until = min(until, first + timeout_ms)
        if found:
            workflow_id = found[0][0]
            cursor.execute(_SQL_DEBOUNCE_AGAIN, (workflow.inputs, until, now, workflow_id))
            cursor.execute(_SQL_DELAY_ENTRY, (until, workflow_id))
            return workflow_id
        cursor.execute(_SQL_INSERT_WORKFLOW, msgspec.structs.astuple(
            msgspec.structs.replace(workflow, delay_until_epoch_ms=until)))
        if cursor.connection.changes() == 1:
            cursor.execute(_SQL_INSERT_QUEUE_ENTRY, msgspec.structs.astuple(
                msgspec.structs.replace(entry, not_before_ms=until)))
        return workflow.workflow_id

    @_transaction
    def take_from_queue(cursor: apsw.Cursor, queue_name: str, claimant: _Claimant
                        ) -> _Dispatch:
        """Take from a queue the workflows ``claimant`` may run now (see _take_from_queue)."""
        rows = cursor.execute(_SQL_GET_QUEUE, (queue_name,)).fetchall()
        if not rows:
            return _Dispatch([])
        return _take_from_queue(cursor, _QueueRecord(*rows[0]), claimant, _now_ms())

    # -- schedules --

    @_transaction
    def put_schedules(cursor: apsw.Cursor, schedules: list[_ScheduleRecord], replace: bool,
                      operation: _OperationRecord | None, owner: str | None) -> bool:
        """Store schedules in one transaction; a schedule naming a queue that is not in the
        journal raises DBOSException and nothing is stored. Without ``replace``, so does a
        name that exists; with it, an existing schedule takes the new definition and keeps
        its id, status and last fired time. Inside a workflow, ``operation`` is recorded in
        the same transaction (False, and nothing written, if ``owner`` no longer runs it)."""
        for schedule in schedules:
            queue = schedule.queue_name
            if queue not in (None, _INTERNAL_QUEUE_NAME) \
                    and not cursor.execute(_SQL_GET_QUEUE, (queue,)).fetchall():
                raise DBOSException(f"Queue '{queue}' is not declared. Please create the queue "
                                    "before using it in a schedule.")
        if not _record_if_owner(cursor, operation, owner or ""):
            return False
        for schedule in schedules:
            cursor.execute(_SQL_UPSERT_SCHEDULE if replace else _SQL_INSERT_SCHEDULE,
                           msgspec.structs.astuple(schedule))
            if not replace and cursor.connection.changes() == 0:
                raise DBOSException(f"Schedule '{schedule.schedule_name}' already exists")
        return True

    def get_schedule(self, name: str) -> _ScheduleRecord | None:
        if self.schema_version < 7:
            return None
        rows = self._read(_SQL_GET_SCHEDULE, (name,))
        return _ScheduleRecord(*rows[0]) if rows else None

    def list_schedules(self, statuses: list[str] | None = None,
                       workflow_names: list[str] | None = None,
                       prefixes: list[str] | None = None) -> list[_ScheduleRecord]:
        if self.schema_version < 7:
            return []
        return [_ScheduleRecord(*row) for row in self._read(_SQL_LIST_SCHEDULES, (
            None if statuses is None else _as_json(statuses),
            None if workflow_names is None else _as_json(workflow_names),
            None if prefixes is None else _as_json(prefixes)))]

    def has_schedules(self) -> bool:
        if self.schema_version < 7:
            return False
        return self._read(_SQL_COUNT_SCHEDULES)[0][0] > 0

    @_transaction
    def set_schedule_status(cursor: apsw.Cursor, name: str, status: str,
                            operation: _OperationRecord | None, owner: str | None) -> bool:
        """Pause or resume a schedule (nothing if there is none of that name), recording
        ``operation`` as ``put_schedules`` does."""
        if not _record_if_owner(cursor, operation, owner or ""):
            return False
        cursor.execute(_SQL_SET_SCHEDULE_STATUS, (status, _now_ms(), name))
        return True

    @_transaction
    def delete_schedule(cursor: apsw.Cursor, name: str, operation: _OperationRecord | None,
                        owner: str | None) -> bool:
        """Delete a schedule, its runs staying (nothing if there is none of that name),
        recording ``operation`` as ``put_schedules`` does."""
        if not _record_if_owner(cursor, operation, owner or ""):
            return False
        cursor.execute(_SQL_DELETE_SCHEDULE, (name,))
        return True

    @_transaction
    def fire_schedules(cursor: apsw.Cursor, fires: list[_Fire], live: bool,
                       claimant: _Claimant | None, claim_from: list[str]) -> _Fired:
        """Put scheduled runs on their queues, each unless its id exists. ``live`` (the
        scheduler's own fires): only for a schedule still ACTIVE with the same id, and its
        last fired time advances. A schedule whose queue is not in the journal fires nothing
        (the internal queue is created when missing). With a ``claimant``, take from the
        queues in ``claim_from`` in the same transaction what it may run now."""
        import datetime

        created: list[str] = []
        skipped: list[str] = []
        unqueued: list[str] = []
        queues: dict[str, _QueueRecord | None] = {}
        now = _now_ms()
        for fire in fires:
            rows = cursor.execute(_SQL_GET_SCHEDULE, (fire.schedule_name,)).fetchall()
            schedule = _ScheduleRecord(*rows[0]) if rows else None
            if live and (schedule is None or schedule.status != "ACTIVE"
                         or schedule.schedule_id != fire.schedule_id):
                skipped.append(fire.schedule_name)
                continue
            name = fire.entry.queue_name
            if name not in queues:
                if name == _INTERNAL_QUEUE_NAME:
                    cursor.execute(_SQL_INSERT_QUEUE, msgspec.structs.astuple(
                        _QueueRecord(name, created_at=now, updated_at=now)))
                found = cursor.execute(_SQL_GET_QUEUE, (name,)).fetchall()
                queues[name] = _QueueRecord(*found[0]) if found else None
            if queues[name] is None:
                unqueued.append(fire.schedule_name)
                continue
            cursor.execute(_SQL_INSERT_WORKFLOW, msgspec.structs.astuple(fire.workflow))
            if cursor.connection.changes() == 1:
                cursor.execute(_SQL_INSERT_QUEUE_ENTRY, msgspec.structs.astuple(fire.entry))
                created.append(fire.workflow.workflow_id)
            if live and schedule is not None and (
                    schedule.last_fired_at is None
                    or datetime.datetime.fromisoformat(schedule.last_fired_at)
                    < datetime.datetime.fromisoformat(fire.scheduled_at)):
                cursor.execute(_SQL_SCHEDULE_FIRED, (fire.scheduled_at, fire.schedule_name))
        dispatches = []
        if created and claimant is not None:
            dispatches = [_take_from_queue(cursor, queue, claimant, now)
                          for name, queue in queues.items()
                          if queue is not None and name in claim_from]
        return _Fired(created, skipped, unqueued, dispatches)

    # -- processes --

    @_transaction
    def add_process(cursor: apsw.Cursor, process: _ProcessRecord) -> None:
        cursor.execute(_SQL_INSERT_PROCESS, msgspec.structs.astuple(process))

    def list_processes(self) -> list[_ProcessRecord]:
        sql = _SQL_LIST_PROCESSES if self.schema_version >= 6 else _SQL_LIST_PROCESSES_BEFORE_6
        return [_ProcessRecord(*row) for row in self._read(sql)]

    @_transaction
    def heartbeat(cursor: apsw.Cursor, process_id: str) -> bool:
        """Renew a process's lease; False if its row is gone (another process judged it dead)."""
        cursor.execute(_SQL_HEARTBEAT, (_now_ms(), process_id))
        return cursor.connection.changes() == 1

    @_transaction
    def remove_processes(cursor: apsw.Cursor, process_ids: list[str]) -> None:
        """Forget processes that are gone; their PENDING workflows become orphans, left as
        they are until a process that can run them claims them."""
        for process_id in process_ids:
            cursor.execute(_SQL_DELETE_PROCESS, (process_id,))

    @_transaction
    def release_process(cursor: apsw.Cursor, process_id: str) -> None:
        """A process stops cleanly: forget it and give back the workflows it owns (queued ones
        to their queues), without counting the recovery attempt of the next process that
        takes them up."""
        cursor.execute(_SQL_DELETE_PROCESS, (process_id,))
        requeued = [row[0] for row in cursor.execute(_SQL_REQUEUE_OWNED,
                                                     (process_id, _now_ms()))]
        if requeued:
            cursor.execute(_SQL_MARK_WAITING, (_as_json(requeued),))
        cursor.execute(_SQL_RELEASE_OWNED, (process_id,))

    # -- settings --

    @_transaction
    def bind_application(cursor: apsw.Cursor, name: str) -> str:
        """Record the application a new journal belongs to; the name it belongs to."""
        cursor.execute(_SQL_PUT_SETTING_IF_ABSENT, ("application_name", name))
        return cursor.execute(_SQL_GET_SETTING, ("application_name",)).fetchall()[0][0]


# ==== Processes: who owns a workflow, and whether that process is still alive ====


_pid: int | None = None  # os.getpid() of this process, remembered; None again in a forked child
_pid_hook = False  # whether the at-fork hook that forgets it is registered


def _this_pid() -> int:
    """os.getpid() without its system call (a workflow call asks twice): remembered, and
    forgotten in a forked child by an at-fork hook registered with the first ask."""
    global _pid, _pid_hook
    if _pid is None:
        if not _pid_hook:
            _pid_hook = True
            os.register_at_fork(after_in_child=_forget_pid)
        _pid = os.getpid()
    return _pid


def _forget_pid() -> None:
    global _pid
    _pid = None


def _host_name() -> str:
    import socket

    return socket.gethostname()


@functools.lru_cache(maxsize=1)
def _host_identity() -> str:
    """Hostname, boot id and pid namespace: two processes with the same identity can judge each
    other's liveness by pid. A reboot or another container gives a different identity."""
    parts = [_host_name()]
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            parts.append(f.read().strip())
    except OSError:
        pass
    try:
        parts.append(os.readlink("/proc/self/ns/pid"))
    except OSError:
        pass
    return "/".join(parts)


def _process_started(pid: int) -> int | None:
    """A process's start time in clock ticks since boot (Linux), to tell a reused pid apart;
    None where /proc cannot tell."""
    stat = _read_proc_stat(pid)
    return int(stat[19]) if stat else None


def _read_proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields after "pid (comm) "


def _pid_is_alive(pid: int, started: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by another user
    stat = _read_proc_stat(pid)
    if stat is None:
        return started is None
    if stat[0] in ("Z", "X"):  # killed, not yet reaped by its parent
        return False
    return started is None or int(stat[19]) == started


def _process_is_alive(process: _ProcessRecord, now_ms: int) -> bool:
    if process.host == _host_identity():
        return _pid_is_alive(process.pid, process.pid_started)
    return now_ms - process.heartbeat_at < _PROCESS_LEASE_SEC * 1000


# ==== Context: where the running code is (which workflow, which step) ====


class _WorkflowContext:
    """The workflow the current code runs in, the id of its last durable operation, its
    deadline (epoch ms, or None), and how far its journal needs replaying."""

    __slots__ = ("workflow_id", "function_id", "deadline_ms", "recorded_until")

    def __init__(self, workflow_id: str, deadline_ms: int | None = None,
                 recorded_until: int = 0):
        self.workflow_id = workflow_id
        self.function_id = 0
        self.deadline_ms = deadline_ms
        # Operations past this id were not recorded when this execution began, and only this
        # execution records into the workflow: it need not look them up in the journal.
        self.recorded_until = recorded_until

    def next_function_id(self) -> int:
        self.function_id += 1
        return self.function_id


_current_workflow: contextvars.ContextVar[_WorkflowContext | None] = contextvars.ContextVar(
    "dbos_lite_workflow", default=None
)
_current_step: contextvars.ContextVar[StepStatus | None] = contextvars.ContextVar(
    "dbos_lite_step", default=None
)

def _recording_context() -> _WorkflowContext | None:
    """The workflow whose body the calling code runs in, where durable operations are recorded;
    None outside a workflow and inside a step, where they are plain calls (what a step calls is
    part of the step)."""
    context = _current_workflow.get()
    if context is None or _current_step.get() is not None:
        return None
    return context


_INHERIT = "inherit"  # no SetWorkflowTimeout in force: a child inherits its parent's deadline
_workflow_timeout: contextvars.ContextVar[float | str | None] = contextvars.ContextVar(
    "dbos_lite_workflow_timeout", default=_INHERIT
)
# SetWorkflowID puts a one-item list here; the next workflow started takes the id out of it.
_assigned_workflow_id: contextvars.ContextVar[list[tuple[str, str | None]] | None] = \
    contextvars.ContextVar(
    "dbos_lite_assigned_workflow_id", default=None
)



class _EnqueueSettings(msgspec.Struct, frozen=True):
    """The options SetEnqueueOptions gives the workflows enqueued in its block."""

    deduplication_id: str | None = None
    priority: int | None = None
    app_version: str | None = None
    queue_partition_key: str | None = None
    delay_until_ms: int | None = None
    duplication_policy: str | None = None


_enqueue_settings: contextvars.ContextVar[_EnqueueSettings | None] = contextvars.ContextVar(
    "dbos_lite_enqueue_settings", default=None
)

# Inside a workflow's body, these start afresh: no id assigned for the next workflow started,
# children inherit the deadline, no enqueue options, and no step is running.
_BODY_CONTEXT: tuple[tuple[contextvars.ContextVar, Any], ...] = (
    (_assigned_workflow_id, None), (_workflow_timeout, _INHERIT), (_enqueue_settings, None),
    (_current_step, None))


class _ContextSetting:
    """A context manager that sets a context variable for the duration of a ``with`` block."""

    _variable: contextvars.ContextVar

    def _value(self) -> Any:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self._token = self._variable.set(self._value())
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._variable.reset(self._token)


class SetWorkflowID(_ContextSetting):
    """Give the next workflow started in this block the id ``workflow_id``.

    Starting a workflow with an id that exists does not run it again: the recorded result comes
    back (or, if it is still running, the caller waits for it); with
    ``workflow_id_reuse_policy="reject"`` it raises DBOSWorkflowIDInUseError instead. Only the
    first workflow started in the block takes the id."""

    def __init__(self, workflow_id: str, *, workflow_id_reuse_policy: str | None = None):
        if not isinstance(workflow_id, str) or not workflow_id.strip():
            raise DBOSException(
                f"Invalid workflow ID {workflow_id!r}: workflow IDs must be non-empty strings "
                "and cannot be only whitespace."
            )
        if workflow_id_reuse_policy not in (None, "return-existing", "reject"):
            raise DBOSException(f"Invalid workflow_id_reuse_policy {workflow_id_reuse_policy}. "
                                "Must be either 'return-existing' or 'reject'.")
        self.workflow_id = workflow_id
        self.workflow_id_reuse_policy = workflow_id_reuse_policy

    _variable = _assigned_workflow_id

    def _value(self) -> list[tuple[str, str | None]]:
        # A list: the first workflow started takes the id out.
        return [(self.workflow_id, self.workflow_id_reuse_policy)]


class SetWorkflowTimeout(_ContextSetting):
    """Give the workflows started in this block a timeout of ``workflow_timeout_sec``; past it a
    workflow is CANCELLED and stops at its next durable operation. Children inherit their
    parent's deadline; ``SetWorkflowTimeout(None)`` starts them without one."""

    def __init__(self, workflow_timeout_sec: float | None):
        self.workflow_timeout_sec = _duration(workflow_timeout_sec, "workflow_timeout_sec",
                                              positive=True, optional=True)

    _variable = _workflow_timeout

    def _value(self) -> float | None:
        return self.workflow_timeout_sec


_MAX_PRIORITY = 2**31 - 1


def _check_priority(priority: Any) -> int | None:
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)
                                 or not 1 <= priority <= _MAX_PRIORITY):
        raise _InvalidArgument(f"Invalid priority {priority}. Priority must be between "
                               f"1~{_MAX_PRIORITY}.")
    return priority


class SetEnqueueOptions(_ContextSetting):
    """Options for the workflows enqueued in this block (``Queue.enqueue``,
    ``DBOS.enqueue_workflow``); each block sets all of them, unset ones to None.

    ``deduplication_id``: while an unfinished workflow on the queue has this id, enqueuing
    another raises DBOSQueueDeduplicatedError (``duplication_policy="return-existing"``: returns
    the first one's handle instead). ``priority`` from 1 to 2**31-1, lower first; workflows
    without one go before any with one, ties in enqueue order. ``delay_seconds``: the workflow
    is DELAYED that long before it can start. ``queue_partition_key``: the partition of a
    partitioned queue. ``app_version``: only processes of that application version run it."""

    def __init__(self, *, deduplication_id: str | None = None, priority: int | None = None,
                 app_version: str | None = None, queue_partition_key: str | None = None,
                 delay_seconds: float | None = None,
                 duplication_policy: str | None = None):
        delay = _duration(delay_seconds, "delay_seconds", optional=True)
        self._settings = _EnqueueSettings(
            deduplication_id=deduplication_id, priority=_check_priority(priority),
            app_version=app_version, queue_partition_key=queue_partition_key,
            delay_until_ms=None if delay is None else _now_ms() + int(delay * 1000),
            duplication_policy=duplication_policy)
        self._active = False

    _variable = _enqueue_settings

    def _value(self) -> _EnqueueSettings:
        return self._settings

    def __enter__(self) -> Any:
        if self._active:
            raise DBOSException("This SetEnqueueOptions is already in use; create a new one "
                                "for each with block.")
        self._active = True
        return super().__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        self._active = False
        super().__exit__(*exc_info)


def _take_assigned_workflow_id() -> str | None:
    return _take_assigned_id_and_policy()[0]


def _take_assigned_id_and_policy() -> tuple[str | None, str | None]:
    """The id SetWorkflowID gives the next workflow started, and its reuse policy."""
    assigned = _assigned_workflow_id.get()
    return assigned.pop() if assigned else (None, None)


# ==== Registry: the workflow and step functions this process knows ====


def _annotations(func: Callable) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception:  # unresolvable forward references, builtins without hints...
        return {}


class _Function:
    """A registered workflow or step, with what the journal needs to know about it, derived
    once: its name, its return type and its parameters' types for typed decoding (without the
    first, the instance or class, for a method's workflow: a ``receiver``)."""

    def __init__(self, func: Callable, name: str, receiver: bool = False):
        if isinstance(func, (classmethod, staticmethod)):
            decorator = type(func).__name__
            raise DBOSException(
                f"{_qualname(func)}: put @{decorator} above the dbos_lite decorator, as DBOS "
                f"Transact documents (@{decorator}, then @DBOS.workflow() or @DBOS.step(), "
                "then def).")
        if not isinstance(name, str) or not name:
            raise DBOSException(f"The name of {func!r} must be a non-empty string, not {name!r}.")
        try:
            name.encode()
        except UnicodeEncodeError:
            raise DBOSException(
                f"The name {name!r} of {func!r} is not valid text (it holds a lone surrogate); "
                "give the function another name."
            ) from None
        self.func = func
        self.name = name
        import inspect

        self.is_async = inspect.iscoroutinefunction(func)
        hints = _annotations(func)
        self.return_type = hints.get("return", Any)
        self._return_decoder = _decoder_for(self.return_type)
        try:
            parameters = list(inspect.signature(func).parameters.values())
        except (TypeError, ValueError):
            parameters = []
        self.first_parameter = parameters[0].name if parameters else None
        if receiver:
            parameters = parameters[1:]
        self.positional = [
            hints.get(p.name, Any) for p in parameters
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        self.var_positional = next(
            (hints.get(p.name, Any) for p in parameters if p.kind is p.VAR_POSITIONAL), Any
        )
        self.keyword = {
            p.name: hints.get(p.name, Any) for p in parameters
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }
        self.var_keyword = next(
            (hints.get(p.name, Any) for p in parameters if p.kind is p.VAR_KEYWORD), Any
        )
        try:
            self._positional_decoder: msgspec.json.Decoder | None = msgspec.json.Decoder(
                msgspec.defstruct("PositionalInputs", [
                    ("args", tuple[tuple(self.positional)] if self.positional else tuple[()]),
                    ("kwargs", dict[str, msgspec.Raw])]))
        except TypeError:  # an annotation msgspec cannot decode into
            self._positional_decoder = None

    def decode_output(self, text: str) -> Any:
        """Decode a recorded return value (see _decode_value), with the decoder made once."""
        try:
            return self._return_decoder.decode(text)
        except (msgspec.ValidationError, RecursionError):
            return _decode(self._return_decoder, text)  # what _decode does then

    def encode_inputs(self, args: tuple, kwargs: dict) -> str:
        return _encode_value({"args": args, "kwargs": kwargs},
                            lambda: self._inputs_named(args))

    def _inputs_named(self, args: tuple) -> str:
        what = f"An argument of workflow {self.name!r}"
        if self.first_parameter in ("self", "cls") or (args and isinstance(args[0], type)):
            what += (" (its first, an instance or a class: a method's workflow needs its class "
                     "decorated with @DBOS.dbos_class(), and an instance method an instance of "
                     "DBOSConfiguredInstance)")
        return what

    def decode_inputs(self, text: str) -> tuple[tuple, dict[str, Any]]:
        """Decode recorded arguments, each typed by its parameter's annotation."""
        if self._positional_decoder is not None:
            # The usual call, every parameter given by position: one typed decode of them all
            # instead of one per argument. After a call that does not fit (fewer arguments, a
            # keyword, a value its annotation does not describe), this function's arguments are
            # decoded one by one, as below.
            try:
                typed = self._positional_decoder.decode(text)
                if not typed.kwargs:
                    return typed.args, {}
            except (msgspec.ValidationError, RecursionError):
                pass
            self._positional_decoder = None
        inputs = _inputs_decoder.decode(text)
        args = tuple(
            _decode_value(bytes(raw),
                         self.positional[i] if i < len(self.positional) else self.var_positional)
            for i, raw in enumerate(inputs.args)
        )
        kwargs = {
            key: _decode_value(bytes(raw), self.keyword.get(key, self.var_keyword))
            for key, raw in inputs.kwargs.items()
        }
        return args, kwargs


class _WorkflowFunction(_Function):
    # What a workflow's row records of the instance or class it runs on: nothing for a plain
    # function (a bound _MethodWorkflow sets them).
    class_name: str | None = None
    config_name: str | None = None

    def __init__(self, func: Callable, name: str, max_recovery_attempts: int | None,
                 receiver: bool = False):
        super().__init__(func, name, receiver)
        # None means no limit, as in DBOS Transact.
        self.max_recovery_attempts = (
            2**62 if max_recovery_attempts is None else max_recovery_attempts
        )

    def encode_output(self, value: Any, workflow_id: str) -> str:
        return _encode_value(value, lambda: f"The return value of workflow {self.name!r} "
                                            f"({workflow_id!r})")


class _MethodWorkflow(_WorkflowFunction):
    """The workflow of a method of a class registered with ``@DBOS.dbos_class()``: an instance
    method (``kind`` "instance", on a DBOSConfiguredInstance) or a classmethod ("class"). Its
    recorded inputs leave the instance or class out; ``bind`` gives the workflow of one
    instance or class, whose function is the bound method and whose row names the instance
    (class_name, config_name) or the class (class_name), for recovery to find it again."""

    def __init__(self, workflow: _WorkflowFunction, kind: str):
        super().__init__(workflow.func, workflow.name, None, receiver=True)
        self.max_recovery_attempts = workflow.max_recovery_attempts
        self.kind = kind
        self.method = workflow.func

    def bind(self, receiver: Any) -> _MethodWorkflow:
        """This workflow on ``receiver`` (the instance, or the class of a classmethod), checked
        to be what recovery will find under the names it records."""
        if self.kind == "class":
            class_name = _class_name_of(receiver) if isinstance(receiver, type) else None
            config_name = None
            if class_name is None:
                raise DBOSException(
                    f"Workflow {self.name!r} is a classmethod: call it on its class, which is "
                    f"registered with @DBOS.dbos_class(); {receiver!r} is not such a class.")
        else:
            class_name = _class_name_of(type(receiver))
            config_name = getattr(receiver, "config_name", None)
            if class_name is None or not isinstance(config_name, str):
                raise DBOSException(
                    f"Workflow {self.name!r} is an instance method: call it on an instance of "
                    "a class registered with @DBOS.dbos_class() that derives from "
                    "DBOSConfiguredInstance, whose config_name lets recovery find the instance "
                    f"again; {receiver!r} is not such an instance.")
            if _instances.get((class_name, config_name)) is not receiver:
                raise DBOSException(
                    f"Workflow {self.name!r} was called on an instance that is not the one "
                    f"registered as {class_name}/{config_name}: recovery would run it on "
                    "another object (or on none). Create each instance once with "
                    "DBOSConfiguredInstance.__init__(config_name), and keep its config_name.")
        bound = object.__new__(_MethodWorkflow)
        bound.__dict__.update(self.__dict__)
        bound.func = functools.partial(self.method, receiver)
        bound.class_name, bound.config_name = class_name, config_name
        return bound


class _StepFunction(_Function):
    def __init__(self, func: Callable, options: StepOptions):
        super().__init__(func, options.get("name") or _qualname(func))
        self.retries_allowed = bool(options.get("retries_allowed", False))
        self.interval_seconds = _duration(options.get("interval_seconds", 1.0),
                                          f"interval_seconds of step {self.name!r}")
        max_attempts = options.get("max_attempts", 3)
        backoff_rate = options.get("backoff_rate", 2.0)
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or (
                self.retries_allowed and max_attempts < 1):
            raise _InvalidArgument(f"max_attempts of step {self.name!r} must be a whole number "
                                   f"of at least 1, not {max_attempts!r}.")
        if isinstance(backoff_rate, bool) or not isinstance(backoff_rate, (int, float)) \
                or not 0 < backoff_rate <= 1e6:
            raise _InvalidArgument(f"backoff_rate of step {self.name!r} must be a finite number "
                                   f"greater than 0 (2.0 doubles each wait), not {backoff_rate!r}.")
        self.max_attempts, self.backoff_rate = max_attempts, float(backoff_rate)
        self.should_retry = options.get("should_retry")
        self.warned = False  # about blocking an event loop
        self.slow = False  # its last call, while another thread waited, took a while (_Baton)

    def status(self, function_id: int, attempt: int) -> StepStatus:
        """What DBOS.step_status says during an attempt (no attempts counted without retries)."""
        if self.retries_allowed:
            return StepStatus(function_id, attempt, self.max_attempts)
        return StepStatus(function_id, None, None)

    def retry_delay(self, attempt: int) -> float:
        try:
            delay = self.interval_seconds * self.backoff_rate**attempt
        except OverflowError:
            delay = _MAX_RETRY_INTERVAL_SEC
        return min(delay, _MAX_RETRY_INTERVAL_SEC)


def _qualname(func: Callable) -> str:
    """The default name of a function: the same in every run of the program, since a replay
    matches recorded operations by name (a repr would hold a memory address)."""
    if isinstance(func, functools.partial):
        return _qualname(func.func)
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    if isinstance(name, str) and name:
        return name
    return type(func).__qualname__  # a callable object: its class's name


# Workflow functions by name: recovery finds the function of a journal row here. Filled by the
# decorators, which may run before DBOS(config=...) is called.
_workflows: dict[str, _WorkflowFunction] = {}


def _register_workflow(func: Callable, name: str | None, max_recovery_attempts: int | None
                       ) -> _WorkflowFunction:
    """Register a workflow function under its name. Two modules' functions under one name are
    refused (recovery would run the wrong one); within one module the latest definition wins,
    as in DBOS Transact."""
    workflow = _WorkflowFunction(func, name or _qualname(func), max_recovery_attempts)
    previous = _workflows.get(workflow.name)
    if previous is not None and previous.func is not func:
        here, there = _defined_where(func), _defined_where(previous.func)
        if getattr(func, "__module__", None) != getattr(previous.func, "__module__", None):
            raise DBOSException(
                f"Workflow name {workflow.name!r} is registered by two different functions, "
                f"{there} and {here}: recovery could run the wrong one. Give one of them "
                "another name with @DBOS.workflow(name=...).")
        _logger.warning("Workflow name %r registered again (%s); the latest definition is used.",
                        workflow.name, here)
    _workflows[workflow.name] = workflow
    return workflow


def _defined_where(func: Callable) -> str:
    module = getattr(func, "__module__", None) or "?"
    code = getattr(func, "__code__", None)
    where = f" at {code.co_filename}" if code is not None else ""
    return f"{module}.{_qualname(func)}{where}"


def _return_type_of(name: str) -> Any:
    workflow = _workflows.get(name)
    return workflow.return_type if workflow is not None else Any


def _workflow_of(func: Callable, args: tuple) -> tuple[_WorkflowFunction, tuple]:
    """The registered workflow that calling ``func`` with ``args`` starts, and the arguments
    it records: a method's is bound to its instance or class (the bound method's, or else the
    first argument)."""
    workflow = getattr(func, "_dbos_lite_workflow", None)
    if workflow is not None:
        return workflow, args
    method = getattr(func, "_dbos_lite_method", None)
    if method is not None:
        receiver = getattr(func, "__self__", None)
        if receiver is None:
            if not args:
                raise DBOSException(f"Workflow {method.name!r} is a method: start it on its "
                                    "instance or class, or pass that first.")
            receiver, args = args[0], args[1:]
        return method.bind(receiver), args
    workflow = next((w for w in _workflows.values() if w.func is func), None)
    if workflow is None:
        raise DBOSException(
            f"{_qualname(func)} is not a registered workflow: decorate it with @DBOS.workflow() "
            "or register it with DBOS.register_workflow()."
        )
    return workflow, args


# Classes registered with @DBOS.dbos_class() by their registered name, and configured
# instances by (class name, config_name): recovery finds a method's receiver here. Filled at
# import time and when instances are created, before DBOS.launch().
_classes: dict[str, type] = {}
_instances: dict[tuple[str, str], Any] = {}


def _class_name_of(cls: type) -> str | None:
    """The name a class was registered under, inherited by an undecorated subclass (as in DBOS
    Transact); None for a class not registered."""
    return getattr(cls, "_dbos_lite_class_name", None)


def _register_class(cls: type, class_name: str | None) -> list[tuple[str, _MethodWorkflow]]:
    """Register a class under ``class_name`` (default: its qualified name), and make the
    workflows among its methods and classmethods method workflows; returns those, by
    attribute, for the facade to wrap. A staticmethod's workflow stays a plain function's."""
    if not isinstance(cls, type):
        raise DBOSException(f"@DBOS.dbos_class() decorates a class, not {cls!r}.")
    if "_dbos_lite_class_name" in vars(cls):  # decorated again: nothing changes
        _classes.setdefault(cls._dbos_lite_class_name, cls)
        return []
    inherited = _class_name_of(cls)
    if inherited is not None:
        raise DBOSException(
            f"{cls.__qualname__} derives from the class registered as {inherited!r}, and DBOS "
            "Transact refuses to register such a subclass ('Duplicate type registration'). "
            f"Leave it undecorated: its instances' workflows run under {inherited!r}.")
    name = cls.__qualname__ if class_name is None else class_name
    if not isinstance(name, str) or not name:
        raise DBOSException(f"The class name of {cls!r} must be a non-empty string, "
                            f"not {name!r}.")
    previous = _classes.get(name)
    if previous is not None and previous is not cls:
        raise DBOSException(
            f"Duplicate type registration for class {name!r}: {_defined_where(previous)} has "
            "this name already, and recovery must know which class a workflow runs on. Give "
            "one of them another name with @DBOS.dbos_class(class_name=...).")
    cls._dbos_lite_class_name = name  # type: ignore[attr-defined]
    _classes[name] = cls
    methods = []
    for attribute, value in list(vars(cls).items()):
        kind, func = ("class", value.__func__) if isinstance(value, classmethod) \
            else ("instance", value)
        workflow = getattr(func, "_dbos_lite_workflow", None)
        if workflow is None or isinstance(value, staticmethod):
            continue
        method = _MethodWorkflow(workflow, kind)
        _workflows[method.name] = method  # recorded inputs leave the instance or class out
        methods.append((attribute, method))
    return methods


def _register_instance(instance: Any) -> None:
    """Register a configured instance under (its class's registered name, its config_name).
    A second instance under the same names is refused, as in DBOS Transact."""
    config_name = instance.config_name
    if not isinstance(config_name, str) or not config_name:
        raise DBOSException(f"The config_name of a DBOSConfiguredInstance must be a non-empty "
                            f"string, not {config_name!r}.")
    class_name = _class_name_of(type(instance)) or type(instance).__qualname__
    previous = _instances.get((class_name, config_name))
    if previous is not None and previous is not instance:
        raise DBOSException(
            f"Duplicate instance registration for class {class_name!r} instance "
            f"{config_name!r}: recovery finds an instance by its config_name, so each instance "
            "of a class needs its own.")
    _instances[(class_name, config_name)] = instance


def _runnable_targets() -> list[tuple[str, str | None]]:
    """The classes and instances this process can run methods' workflows on: (class_name,
    None) for a class, (class_name, config_name) for an instance."""
    return [(name, None) for name in _classes] + list(_instances)


def _runnable(workflow: _WorkflowRecord) -> _WorkflowFunction | None:
    """The function that runs a journal row here: its registered workflow, bound to its class
    or instance for a method; None if this process lacks one of them."""
    function = _workflows.get(workflow.name)
    if workflow.class_name is None or function is None:
        return function
    if not isinstance(function, _MethodWorkflow):
        return None
    receiver = (_classes.get(workflow.class_name) if workflow.config_name is None
                else _instances.get((workflow.class_name, workflow.config_name)))
    if receiver is None:
        return None
    try:
        return function.bind(receiver)
    except DBOSException:
        return None


def _unrunnable(workflow: _WorkflowRecord) -> DBOSWorkflowFunctionNotFoundError:
    """Why this process cannot run a journal row: its function, class or instance is missing."""
    if workflow.name not in _workflows or workflow.class_name is None:
        return DBOSWorkflowFunctionNotFoundError(workflow.workflow_id, workflow.name)
    if workflow.config_name is None:
        missing = f"the class {workflow.class_name!r}"
    else:
        missing = f"the configured instance '{workflow.class_name}/{workflow.config_name}'"
    return DBOSWorkflowFunctionNotFoundError(workflow.workflow_id, workflow.name, missing)


# Queues declared in this process (DBOS.register_queue, also before launch): launch stores
# them in the journal, where every process reads a queue's settings.
_declared_queues: dict[str, tuple[_QueueRecord, bool]] = {}  # and whether to replace


def _queue_record(name: Any, *, worker_concurrency: Any = None, global_concurrency: Any = None,
                  partition_concurrency: Any = None, partition_worker_concurrency: Any = None,
                  partition_limiter: Any = None, limiter: Any = None,
                  polling_interval_sec: Any = 1.0, concurrency: Any = None) -> _QueueRecord:
    """A queue's settings, checked (ValueError, naming the parameter) as DBOS Transact checks
    them, and more strictly: counts and limits must be positive (DBOS Transact accepts 0 and
    negative numbers, and a queue limited to 0 never runs anything)."""
    if not isinstance(name, str) or not name:
        raise _InvalidArgument(f"A queue name must be a non-empty string, not {name!r}.")
    if name.startswith("_dbos_"):
        raise _InvalidArgument(f"Queue name {name} is reserved: names starting with '_dbos_' "
                               "belong to DBOS's internal queues.")
    if concurrency is not None and global_concurrency is not None:
        raise _InvalidArgument("concurrency is deprecated in favor of global_concurrency; set "
                               "only one of them")
    global_concurrency = concurrency if global_concurrency is None else global_concurrency
    for parameter, value in (("worker_concurrency", worker_concurrency),
                             ("global_concurrency", global_concurrency),
                             ("partition_concurrency", partition_concurrency),
                             ("partition_worker_concurrency", partition_worker_concurrency)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise _InvalidArgument(f"{parameter} must be at least 1 (or None for no limit), "
                                   f"not {value!r}")
    for smaller, larger, text in (
            (partition_worker_concurrency, partition_concurrency,
             "partition_concurrency must be greater than or equal to "
             "partition_worker_concurrency"),
            (partition_worker_concurrency, worker_concurrency,
             "worker_concurrency must be greater than or equal to partition_worker_concurrency"),
            (worker_concurrency, global_concurrency,
             "concurrency must be greater than or equal to worker_concurrency"),
            (partition_concurrency, global_concurrency,
             "global_concurrency must be greater than or equal to partition_concurrency"),
            (partition_worker_concurrency, global_concurrency,
             "concurrency must be greater than or equal to partition_worker_concurrency")):
        if smaller is not None and larger is not None and smaller > larger:
            raise _InvalidArgument(text)
    polling = _duration(polling_interval_sec, "polling_interval_sec", positive=True)
    limit, period = _rate_limit(limiter, "limiter")
    partition_limit, partition_period = _rate_limit(partition_limiter, "partition_limiter")
    now = _now_ms()
    return _QueueRecord(name, worker_concurrency, global_concurrency, partition_concurrency,
                        partition_worker_concurrency, limit, period, partition_limit,
                        partition_period, polling, now, now)


def _rate_limit(value: Any, parameter: str) -> tuple[int | None, int | None]:
    """A limiter ``{"limit": N, "period": seconds}`` as (N, period in ms)."""
    if value is None:
        return None, None
    if not isinstance(value, dict) or value.get("limit") is None \
            or value.get("period") is None:
        raise _InvalidArgument(f"{parameter} must specify both 'limit' and 'period'")
    limit = value["limit"]
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise _InvalidArgument(f"{parameter}'s limit must be an integer of at least 1, not "
                               f"{limit!r}")
    period = _duration(value["period"], f"{parameter}'s period", positive=True)
    assert period is not None
    return limit, max(1, round(period * 1000))


def _check_queue(queue: _QueueRecord) -> None:
    """The relations between a queue's settings, after a change of one (Queue.set_*)."""
    _queue_record(
        queue.name, worker_concurrency=queue.worker_concurrency,
        global_concurrency=queue.global_concurrency,
        partition_concurrency=queue.partition_concurrency,
        partition_worker_concurrency=queue.partition_worker_concurrency,
        polling_interval_sec=queue.polling_interval_sec)


# ==== Baton: where commits are cheap, one thread at a time runs dbos_lite's code ====
#
# CPython runs one thread at a time, and apsw lets go of the interpreter around every SQLite
# call. Where a commit waits for the disk (FULL on most disks), other threads' records join the
# next group commit meanwhile: concurrency pays. Where a commit is a few microseconds of work
# (NORMAL; FULL on tmpfs), two threads that both record (one starting workflows, one running
# them; or many running them) hand the interpreter back and forth at every call instead, each
# hand-off waking a thread on another core: that made 200 concurrent workflows run at under
# half the rate of the same workflows called one after another. So there a thread holds the
# baton while it runs dbos_lite's code, and keeps it when it goes back to user code, so that a
# loop of short calls (a workflow's steps, a loop that starts workflows) hands nothing over.
# It gives the baton up when it waits (DBOS.sleep, a result, a message), when a pool thread
# runs out of work, when it ends, and after a turn of _BATON_TURN_SEC if another thread wants
# it; and, while another thread wants it, before a step whose last call took longer than
# _BATON_OUTSIDE_SEC (a request over the network: the pool's thread begins another workflow
# meanwhile), and when it goes back to caller's code that kept it away that long last time.
# It is a courtesy, never a lock that correctness needs: the next thread looks every
# _BATON_STEAL_SEC and takes it if the holder showed no sign of life meanwhile (twenty times
# that while the holder writes, as a commit that checkpoints the WAL syncs) or has been in
# user code for _BATON_OUTSIDE_SEC (a step or a caller that blocks for the first time), so
# nothing waits on it for longer. Code on an event loop
# (async workflows) takes no part. The executor turns the baton on while the median commit
# takes under _CHEAP_COMMIT_SEC (_Executor.take_turns); it turns itself off for a while where
# most turns end in a slow step anyway (_Baton._count). (Its effect is in bench_concurrent.py
# and bench_queue.py.)

_BATON_STEAL_SEC = 0.005
_BATON_OUTSIDE_SEC = 0.0002
_BATON_TURN_SEC = 0.02
_BATON_ASIDE_SEC = 0.05
_CHEAP_COMMIT_SEC = 40e-6  # the baton is on below (off again above twice this)
_BATON_SLOW_WINDOW = 16  # step calls
_BATON_SLOW_SHARE = 4  # off where more than one in four of them is slow
_BATON_SLOW_REST_SEC = 2.0


class _InLine:
    """A thread waiting for the baton; ``bell`` is released to wake it."""

    __slots__ = ("ident", "bell")

    def __init__(self, ident: int):
        self.ident = ident
        self.bell = threading.Lock()
        self.bell.acquire()


class _GiveOnExit:
    """Kept in a thread's locals: a thread that ends holding the baton hands it on at once,
    as it is deleted with them, rather than after _BATON_STEAL_SEC."""

    __slots__ = ("ident",)

    def __init__(self, ident: int):
        self.ident = ident

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # (at interpreter exit, the module may be gone)
            _baton.give(self.ident)


class _BatonThread(threading.local):
    """What the baton keeps of each thread (class defaults: a thread's first look finds them
    without an AttributeError)."""

    exit: _GiveOnExit | None = None  # made when the thread first takes the baton
    # A pool's thread: between two workflows it runs dbos_lite's code, never a caller's.
    pooled = False
    went: float | None = None  # when it last went back to its caller's code (monotonic)
    away_long = False  # and its caller kept it away for longer than _BATON_OUTSIDE_SEC


class _Baton:
    """Who runs dbos_lite's code now (see above). Inactive (every method returns at once)
    unless an executor turned it on.

    Threads wait in line, first come first served, except the pool's thread for the workflows
    not yet begun, which waits aside (``take(aside=True)``): it is handed the baton when the
    holder waits or runs out of work, when nobody is in line, or once the queue has not moved
    for _BATON_ASIDE_SEC (see queue_moved). So a thread that starts workflows in a loop and
    then waits for them runs them itself (see _Pool.take), while a workflow started and left
    to run still begins soon."""

    def __init__(self) -> None:
        self.active = False
        self._registered = False  # reset() runs in forked children
        self._lock = threading.Lock()
        self._threads = _BatonThread()
        self._line: collections.deque[_InLine] = collections.deque()
        self._aside: _InLine | None = None
        self._aside_since = 0.0
        self.holder: int | None = None  # a thread's ident
        self._since = 0.0  # when the holder's turn began
        self._last = 0.0  # the holder's last sign of life
        # The holder is writing to the journal: a commit that checkpoints the WAL syncs, and
        # a thread that took the baton meanwhile would wait for the same connection.
        self.writing = False
        # Since when the holder runs user code (a step, or the caller's code after a call),
        # None while it runs dbos_lite's: out there for _BATON_OUTSIDE_SEC, it may be long.
        self.outside: float | None = None
        self.wanted = False  # a thread waits for the baton
        # The step calls made while another thread waited, and how many of those were slow.
        self._calls = self._slow_calls = 0
        self.off_until = 0.0  # (monotonic) turned off for slow steps: stays off until then
        # Called, outside the lock, when the holder gives the baton up and nobody waits for it
        # (the pool then wakes a thread for work it held back: see _Pool.submit).
        self.freed: Callable[[], None] | None = None

    def take(self, aside: bool = False) -> None:
        """Hold the baton: at once if it is free; else, once this thread is next, when the
        holder gives it up or has shown no sign of life for a while (see _patience)."""
        if not self.active:
            return
        me = threading.get_ident()
        if self.holder == me:
            return
        if self._threads.exit is None:
            self._threads.exit = _GiveOnExit(me)
        with self._lock:
            if self.holder is None and not self._line and (aside or self._aside is None):
                self._hold(me)
                return
            place = _InLine(me)
            now = time.monotonic()
            if not self._line and self._aside is None:
                self._last = now  # the first to wait: the holder's signs of life count now
            if aside:
                self._aside, self._aside_since = place, now
            else:
                self._line.append(place)
            self.wanted = True
        while True:
            with self._lock:
                if self.holder == me:
                    return
                next_ = self._next_in_line() is place
                timeout = min(self._patience(), _BATON_STEAL_SEC) if next_ \
                    else 20 * _BATON_STEAL_SEC
            # The next thread watches the holder; the others wait to be rung (the long
            # timeout only bounds what a missed ring could cost).
            rung = place.bell.acquire(True, max(timeout, 0.0001))
            with self._lock:
                place.bell.acquire(False)  # a ring that came after the timeout
                if self.holder == me or not self.active or (
                        place is not self._aside and place not in self._line):
                    return  # handed the baton; or turned off, or reset
                if self.holder is None or (next_ and not rung and self._next_in_line() is place
                                           and self._patience() <= 0):
                    if place is self._aside:
                        self._aside = None
                    else:
                        self._line.remove(place)
                    self._hold(me)
                    self._ring_next()
                    return

    def _hold(self, ident: int) -> None:
        self.holder = ident
        self._since = self._last = time.monotonic()
        self.outside = None
        self.wanted = bool(self._line) or self._aside is not None

    def give(self, ident: int | None = None, to_the_pool: bool = False) -> None:
        """Give the baton up, to the next thread (if this thread, or ``ident``, has it);
        ``to_the_pool``: to the pool's thread first, if it waits (this thread is about to
        block: the time is best spent beginning another workflow, which may block too)."""
        me = threading.get_ident() if ident is None else ident
        if self.holder != me:
            return
        with self._lock:
            if self.holder != me:
                return
            place = self._aside if to_the_pool and self._aside is not None \
                else self._next_in_line()
            if place is not None:
                if place is self._aside:
                    self._aside = None
                else:
                    self._line.popleft()
                self._hold(place.ident)
                self._ring(place)
                self._ring_next()  # the next one watches the new holder
                return
            self.holder = None
            freed = self.freed
        if freed is not None:
            freed()

    def beat(self, me: int) -> None:
        """The holder's sign of life (``me``, the calling thread), at each durable operation:
        past its turn it lets the next thread go first. A thread that lost the baton (it was
        taken while the thread ran user code) waits for it here."""
        if self.holder != me:
            self.take()
        self.outside = None
        if self.wanted:  # (nobody waits: nobody looks at _last)
            self._last = now = time.monotonic()
            if now - self._since > _BATON_TURN_SEC and (self._line or (
                    now - self._aside_since > _BATON_ASIDE_SEC)):
                self.give()
                self.take()

    def queue_moved(self) -> None:
        """The pool's oldest workflow was taken (by a pool thread, or by the thread that waits
        for it): the queue moves, so the thread waiting aside counts its wait from now."""
        if self._aside is not None:
            self._aside_since = time.monotonic()

    def turn_on(self, active: bool) -> None:
        """On while an executor's commits are cheap; off otherwise, and once it is destroyed."""
        if active and not self._registered:
            os.register_at_fork(after_in_child=self.reset)
            self._registered = True
        self.active = active
        if not active:
            with self._lock:
                while self._line:
                    self._ring(self._line.popleft())
                if self._aside is not None:
                    self._ring(self._aside)
                    self._aside = None
                self.holder = None
                self.wanted = False

    def stop(self) -> None:
        """The executor is destroyed: off, and what was counted of its steps forgotten."""
        self.turn_on(False)
        self._calls = self._slow_calls = 0
        self.off_until = 0.0
        self.freed = None

    def mark_pool_thread(self) -> None:
        """The calling thread is a pool's (see went_outside)."""
        self._threads.pooled = True

    def come_in(self, me: int) -> None:
        """A thread (``me``) enters dbos_lite's code: it takes the baton. Coming back from its
        caller's code, it notes whether it was away for longer than _BATON_OUTSIDE_SEC."""
        local = self._threads
        went = local.went
        if went is not None:
            local.went = None
            local.away_long = time.monotonic() - went > _BATON_OUTSIDE_SEC
        if self.holder != me:
            self.take()
        self.outside = None

    def went_outside(self) -> None:
        """The holder goes back to its caller's code. While another thread waits, if the last
        time it stayed away for longer than _BATON_OUTSIDE_SEC, it gives the baton up now;
        else it is marked outside, and the next thread takes the baton if it finds it still
        out there when it next looks. (A pool's thread goes back to the pool, not to a
        caller: it goes on to the next workflow, or gives the baton up if there is none.)"""
        if self.holder != threading.get_ident() or self._threads.pooled:
            return
        self.outside = now = time.monotonic()
        if self.wanted:
            local = self._threads
            local.went = now
            if local.away_long:
                self.give()

    def call_outside(self, func: Callable, args: tuple, kwargs: dict,
                     step: Any) -> Any:
        """Call user code while another thread waits. A step whose last such call took longer
        than _BATON_OUTSIDE_SEC (it would have been taken from) gives the baton up first and
        takes it back after; other code only marks the holder outside."""
        slow = step is not None and step.slow
        started = time.monotonic()
        if slow:
            self.give(to_the_pool=True)
        else:
            self.outside = started  # (beat() clears it)
        try:
            return func(*args, **kwargs)
        finally:
            if step is not None:
                step.slow = time.monotonic() - started > _BATON_OUTSIDE_SEC
                self._count(step.slow)
            if slow:
                self.take()

    def _count(self, slow: bool) -> None:
        """Where more than one step call in _BATON_SLOW_SHARE is slow, every turn ends in a
        hand-off, each waking a sleeping thread, and taking turns costs more than it saves: the
        baton turns itself off for _BATON_SLOW_REST_SEC (then the housekeeper turns it on
        again, and the count starts over)."""
        self._calls += 1
        self._slow_calls += slow
        if self._calls == _BATON_SLOW_WINDOW:
            if self._slow_calls * _BATON_SLOW_SHARE > self._calls:
                self.off_until = time.monotonic() + _BATON_SLOW_REST_SEC
                self.turn_on(False)
            self._calls = self._slow_calls = 0

    def _patience(self) -> float:
        """How long the next thread still waits before it takes the baton (<= 0: now)."""
        now = time.monotonic()
        outside = self.outside
        if outside is not None:
            return _BATON_OUTSIDE_SEC - (now - outside)
        if self.writing:
            return 20 * _BATON_STEAL_SEC - (now - self._last)
        return _BATON_STEAL_SEC - (now - self._last)

    def _next_in_line(self) -> _InLine | None:
        aside = self._aside
        if aside is not None and (not self._line or time.monotonic() - self._aside_since
                                  > _BATON_ASIDE_SEC):
            return aside
        return self._line[0] if self._line else None

    def _ring_next(self) -> None:
        place = self._next_in_line()
        if place is not None:
            self._ring(place)

    @staticmethod
    def _ring(place: _InLine) -> None:
        if place.bell.locked():
            place.bell.release()

    def reset(self) -> None:
        """Nobody holds the baton, nobody waits (in a forked child, the parent's other
        threads are not there, and the one that forked is no pool's thread, whatever it was
        in the parent); a thread in line goes on within its wait."""
        self._lock = threading.Lock()
        self._line = collections.deque()
        self._aside = None
        self.holder = self.outside = None
        self.writing = self.wanted = False
        self._threads.pooled = False
        self.freed = None  # the parent's pool: its lock may be held for good here


_baton = _Baton()


# ==== Plans: the replay-or-run logic, written once for sync and async callers ====
#
# A plan is a generator function (named ``*_plan``, annotated ``_Plan[T]``) that decides what to
# replay and what to run. It reads the journal itself, inline; everything else it yields as an
# effect: _Call (run user code), _Write (a journal write: it may wait for a group commit or for
# another process's lock) or _Wait (sleep until rung or timed out). ``yield effect`` evaluates to
# the effect's value, or raises its error inside the plan. A driver runs the effects: _run_plan
# in the calling thread, _run_plan_async on an event loop (user code and writes in threads), so
# every decision is written once for sync and async callers. A plan's return value is the
# driver's result; plans compose with ``yield from``. For example:
#
#     def double_plan(self, context, value) -> _Plan[int]:
#         recorded = self._replayed(context, context.next_function_id(), "double")
#         if recorded is not None:                           # a read: inline
#             return _decode_value(recorded.output)
#         doubled = yield _Call(lambda: value * 2, (), {})   # user code: an effect
#         yield from self._record_plan(context, ..., output=_encode_value(doubled, "double"))
#         return doubled
#
# Calling a plan function only makes a generator: without a driver or ``yield from`` nothing
# runs, so every plan carries the ``_Plan`` annotation (a test checks it) to be read as one.

_T = typing.TypeVar("_T")
_Plan = typing.Generator[Any, Any, _T]

_NOT_YET = object()  # what a wait's check returns while the awaited thing has not happened
_STREAM_END = object()  # what reading a stream gives past its end


class _Call:
    """Effect: call a user function (``step``: the step it is the body of, if any)."""

    __slots__ = ("func", "args", "kwargs", "step")

    def __init__(self, func: Callable, args: tuple, kwargs: dict,
                 step: _StepFunction | None = None):
        self.func, self.args, self.kwargs, self.step = func, args, kwargs, step


class _Write:
    """Effect: a journal write. It may wait for a group commit, or for another process's write
    lock: the sync driver runs it in the calling thread, the async driver in a journal thread,
    so that an event loop never waits on the journal."""

    __slots__ = ("func", "args")

    def __init__(self, func: Callable, *args: Any):
        self.func, self.args = func, args


class _Watch:
    """A waiter's doorbell: rung (from any thread) by whoever commits what the waiter may be
    waiting for. A thread waits on ``event``; a coroutine on a future of its event loop."""

    __slots__ = ("event", "loop", "future")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.loop: Any = None
        self.future: Any = None

    def ring(self) -> None:
        self.event.set()
        loop, future = self.loop, self.future
        if future is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: Any) -> None:
    if not future.done():
        future.set_result(None)


# Even with nobody ringing (a lost poll), a waiter looks again after this long.
_MAX_WAIT_SEC = 60.0


class _Wait:
    """Effect: sleep until the watch rings or ``seconds`` pass (None: no limit; either way at
    most _MAX_WAIT_SEC, after which the plan looks again)."""

    __slots__ = ("watch", "seconds")

    def __init__(self, watch: _Watch, seconds: float | None):
        self.watch = watch
        self.seconds = _MAX_WAIT_SEC if seconds is None else min(seconds, _MAX_WAIT_SEC)


def _run_plan(plan: _Plan[_T]) -> _T:
    """Drive a plan in the calling thread, holding the baton."""
    return _as_driver(_drive, plan)


def _as_driver(work: Callable[..., _T], *args: Any) -> _T:
    """Run ``work(baton, me, *args)`` in the calling thread (``me``) as a driver: it takes the
    baton, and a journal failure or lost ownership leaves as something the caller can act on
    (see _error_leaving_plan)."""
    baton = _baton
    me = threading.get_ident()
    _come_in(baton, me)
    try:
        return work(baton, me, *args)
    except (DBOSJournalError, _OwnershipLost) as exc:
        raise _error_leaving_plan(exc) from None
    finally:
        if baton.active and _current_workflow.get() is None:
            baton.went_outside()  # back in code outside any workflow


def _drive(baton: _Baton, me: int, plan: _Plan[_T]) -> _T:
    """Carry out a plan's effects until it returns, in a thread that holds the baton."""
    try:
        effect = plan.send(None)
        while True:
            try:
                kind = type(effect)
                if kind is _Write:
                    value = _write_holding(baton, me, effect.func, *effect.args)
                elif kind is _Call:
                    value = _call_holding(baton, me, effect.func, effect.args, effect.kwargs,
                                          effect.step)
                else:
                    if baton.active and (baton.wanted or baton.holder != me):
                        baton.beat(me)
                    value = _run_wait(effect)
            except BaseException as exc:
                effect = plan.throw(exc)
            else:
                effect = plan.send(value)
    except StopIteration as stop:
        return stop.value


def _come_in(baton: _Baton, me: int) -> None:
    """A driver starts in the calling thread (``me``): it takes the baton."""
    if baton.active:
        if baton.holder != me or baton.wanted:
            baton.come_in(me)
        else:
            baton.outside = None  # (it holds the baton and nobody waits: nothing else to do)


def _write_holding(baton: _Baton, me: int, func: Callable, *args: Any) -> Any:
    """A journal write by a thread that holds the baton (``me``; see _run_plan)."""
    if baton.active and (baton.wanted or baton.holder != me):
        baton.beat(me)  # (alone, a thread that holds it has nothing to do)
    if not baton.wanted:
        return func(*args)
    baton.writing = True
    try:
        return func(*args)
    finally:
        baton.writing = False


def _call_holding(baton: _Baton, me: int, func: Callable, args: tuple, kwargs: dict,
                  step: _StepFunction | None) -> Any:
    """A call of user code by a thread that holds the baton: marked outside while another
    thread wants it (see _Baton.call_outside)."""
    if baton.active and (baton.wanted or baton.holder != me):
        baton.beat(me)
    if baton.wanted:
        value = baton.call_outside(func, args, kwargs, step)
    else:
        value = func(*args, **kwargs)
    if _awaitable_type(type(value)):
        _refuse_awaitable(func, value)
    return value


def _error_leaving_plan(exc: DBOSJournalError | _OwnershipLost) -> BaseException:
    """What a plan's journal failure or lost ownership becomes as it leaves the driver: inside
    a workflow, something user code cannot swallow; outside, an Exception that says what to
    do."""
    inside = _current_workflow.get() is not None
    if isinstance(exc, DBOSJournalError):
        if inside:
            return _JournalFailure(exc)
        return DBOSJournalError(
            f"{exc} Then run the workflow again with its id, or call DBOS.resume_workflow().")
    return exc if inside else DBOSException(str(exc))


@functools.lru_cache(maxsize=256)
def _awaitable_type(cls: type) -> bool:
    """Whether a call's result of this type is awaitable (asked once per type: hasattr on a
    type that lacks the attribute raises and clears an AttributeError)."""
    return hasattr(cls, "__await__")


def _refuse_awaitable(func: Callable, result: Any) -> typing.NoReturn:
    """Sync code called an async function as a step or workflow: it cannot await the result."""
    if hasattr(result, "close"):
        result.close()
    raise DBOSException(
        f"{_qualname(func)} is async; await it from an async workflow instead of calling it "
        "from sync code."
    )


def _run_wait(effect: _Wait) -> None:
    _baton.give()
    with _lend_pool_place():
        effect.watch.event.wait(effect.seconds)
    effect.watch.event.clear()
    _baton.take()
    return None


# Set in the threads of a workflow pool (see _Pool): a pool thread that waits for something
# lends its place in the pool meanwhile.
_in_pool = threading.local()


def _lend_pool_place() -> contextlib.AbstractContextManager:
    """Around a wait: a pool thread lends its place to other work (a no-op elsewhere)."""
    pool = getattr(_in_pool, "pool", None)
    return pool.waiting() if pool is not None else contextlib.nullcontext()


async def _run_plan_async(plan: _Plan[_T]) -> _T:
    """Drive a plan on the running event loop: coroutines are awaited, sync user code runs in
    a worker thread, journal writes in a journal thread, and waits never block the loop."""
    try:
        effect = plan.send(None)
        while True:
            try:
                value = await _run_effect_async(effect)
            except BaseException as exc:
                effect = plan.throw(exc)
            else:
                effect = plan.send(value)
    except StopIteration as stop:
        return stop.value
    except (DBOSJournalError, _OwnershipLost) as exc:
        raise _error_leaving_plan(exc) from None


def _plain_call_plan(step: _StepFunction, args: tuple, kwargs: dict) -> _Plan[Any]:
    """A plan that only calls the step's function (outside a workflow)."""
    return (yield _Call(step.func, args, kwargs, step))


async def _run_effect_async(effect: _Call | _Write | _Wait) -> Any:
    import asyncio

    if type(effect) is _Write:
        return await _in_journal_thread(effect.func, *effect.args)
    if isinstance(effect, _Call):
        func, args, kwargs = effect.func, effect.args, effect.kwargs
        if _is_coroutine_function(func):
            return await func(*args, **kwargs)
        context = contextvars.copy_context()  # the thread sees the step's context
        result = await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(context.run, func, *args, **kwargs))
        return await result if _awaitable_type(type(result)) else result
    loop = asyncio.get_running_loop()
    watch = effect.watch
    watch.future, watch.loop = loop.create_future(), loop
    try:
        if not watch.event.is_set():
            with contextlib.suppress(asyncio.TimeoutError), _lend_pool_place():
                await asyncio.wait_for(watch.future, effect.seconds)
    finally:
        watch.future = watch.loop = None
        watch.event.clear()
    return None


async def _in_journal_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a journal write (or a management call, which writes the journal) off the event
    loop, in a journal thread, in the caller's context."""
    import asyncio

    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(
        _journal_threads.get(), functools.partial(context.run, function, *args, **kwargs))


class _JournalThreads:
    """The threads that run journal writes for event loops: made at the first such write,
    shut down by DBOS.destroy()."""

    _SIZE = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: Any = None

    def get(self) -> Any:
        with self._lock:
            if self._pool is None:
                import concurrent.futures

                self._pool = concurrent.futures.ThreadPoolExecutor(
                    self._SIZE, thread_name_prefix="dbos_lite-journal")
            return self._pool

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)  # a write under way lands (or fails) before the close


_journal_threads = _JournalThreads()


def _is_coroutine_function(func: Callable) -> bool:
    import inspect

    return inspect.iscoroutinefunction(func)


def _warn_if_blocking_a_loop(step: _StepFunction) -> None:
    """A sync step called straight from an async workflow blocks its event loop (as in DBOS
    Transact): say so once per step."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None and not step.warned and asyncio._get_running_loop() is not None:
        step.warned = True
        _logger.warning(
            "Sync step %r was called from async code and blocks the event loop while it runs. "
            "Make it async, or call it with await DBOS.run_step_async(None, func, ...), which "
            "runs it in a worker thread.", step.name)


def _refuse_running_loop(name: str) -> None:
    """Sync calls that wait would block an event loop: DBOS Transact refuses them there."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None and asyncio._get_running_loop() is not None:
        raise RuntimeError(
            f"DBOS.{name}() was called while an event loop is running. "
            f"Use await DBOS.{name}_async(...) instead."
        )


def _value_or_raise(output: str | None, error: str | None, return_type: Any) -> Any:
    """The value a recorded outcome stands for, or its error raised."""
    if error is not None:
        raise _decode_error(error)  # type: ignore[misc]
    return _decode_value(output, return_type)


def _workflow_result(workflow: _WorkflowRecord, return_type: Any) -> Any:
    """What awaiting a finished workflow gives: its output, or its error raised."""
    if workflow.status == WorkflowStatusString.CANCELLED:
        raise DBOSAwaitedWorkflowCancelledError(workflow.workflow_id)
    if workflow.status == WorkflowStatusString.MAX_RECOVERY_ATTEMPTS_EXCEEDED:
        raise DBOSAwaitedWorkflowMaxRecoveryAttemptsExceeded(workflow.workflow_id)
    return _value_or_raise(workflow.output, workflow.error, return_type)


# ==== Schedules: a cron parser (pure: no journal, no threads) ====
# Cron expressions, parsed once and then asked for fire times; the scheduler (_Scheduler, in
# the executor) is built on `_parse_cron` and `_Cron.next_after`. Everything here is plain
# computation on datetimes.
#
# The grammar is what DBOS Transact 3.4 accepts, which is croniter's called with
# ``second_at_beginning=True``: five fields (minute hour day-of-month month day-of-week) or six
# with seconds first; ``*``, ``N``, ``A-B``, ``*/S``, ``A-B/S``, ``N/S`` and comma lists; month
# and weekday names in any case; weekday 0-7 with 0 and 7 both Sunday; ``?`` for a day field;
# ``L``, ``NW`` and ``WN`` in day of month; ``D#K`` and ``LD`` in day of week; the ``@hourly``
# family of aliases. A range whose end is below its start wraps around (``fri-mon``, ``22-2``).
# When both day fields are restricted a day that matches either one fires, as in Vixie cron.
#
# Where it differs from croniter, on purpose:
# * An equal range (``5-5``, ``7-0``) is that one value, as in cron; croniter takes the whole cycle.
# * A wrapping range with a step (``22-3/3``, ``dec-feb/2``) steps along the wrapped values
#   (22, 1; Dec, Feb); croniter steps differently (2, 22; Dec only).
# * ``R`` and ``H`` (random and hashed values) are refused: every process must compute the same
#   times. So is a seventh (year) field.
# * A ``W`` day of month, or a ``#``/``L`` day of week, with the other day field restricted too is
#   refused; croniter quietly ignores one of the two or never fires.
# * An expression that can never fire (``0 0 30 2 *``) is refused when parsed, not at first use.
# The import stays cheap: datetime, calendar and re are imported by the functions that use them,
# and the patterns are compiled on first use.

_MONTH_NAMES = {name: number for number, name in enumerate(
    "jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
_WEEKDAY_NAMES = {name: number for number, name in enumerate("sun mon tue wed thu fri sat".split())}

# (name in messages, lowest, highest, names) in the order of a six-field expression.
_FIELDS = (
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTH_NAMES),
    ("day of week", 0, 7, _WEEKDAY_NAMES),
)
_DAY_OF_MONTH, _DAY_OF_WEEK = 3, 5

_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# Patterns for `_compiled`. ASCII (``(?a)``) so that \s, \w and \d take no other script's
# spaces, letters or digits.
_FIELD = r"(?a)\S+"
_ELEMENT = r"(?a)(?:\*|(\w+)(?:-(\w+))?)(?:/(\d+))?"
_NEAREST_WEEKDAY = r"(?a)(\d+)w|w(\d+)"
_LAST_WEEKDAY = r"(?a)l(\w+)"
_RANGE_TO_LAST = r"-l(?=/|$)"


class _Cron:
    """A parsed cron expression; its fire times are wall-clock times in the moment's zone.

    Made by `_parse_cron`, which guarantees the schedule fires at least once every
    few decades, so `next_after` always has an answer.
    """

    __slots__ = ("expression", "seconds", "minutes", "hours", "months", "days_of_month",
                 "last_day_of_month", "nearest_weekday", "weekdays", "nth_weekdays",
                 "either_day", "every_hour", "_second_from", "_minute_from", "_hour_from",
                 "_month_from", "_days_by_month")

    def __init__(self, expression, seconds, minutes, hours, months, days_of_month,
                 last_day_of_month, nearest_weekday, weekdays, nth_weekdays, either_day):
        self.expression = expression
        self.seconds, self.minutes, self.hours, self.months = seconds, minutes, hours, months
        self.days_of_month = days_of_month
        self.last_day_of_month = last_day_of_month
        self.nearest_weekday = nearest_weekday
        self.weekdays = weekdays
        self.nth_weekdays = nth_weekdays  # (weekday, week of month), week -1 meaning the last
        self.either_day = either_day
        # A wall time lost to a spring-forward gap is skipped when every hour fires but
        # moved to the gap's end otherwise: croniter's rule, kept so schedules fire as under DBOS.
        self.every_hour = len(hours) == 24
        # Each table reaches one past its field's highest value (second 60, hour 24) and holds
        # None there, so that a field that has overflowed carries into the next larger one.
        self._second_from = _first_at_least_table(seconds, 61)
        self._minute_from = _first_at_least_table(minutes, 61)
        self._hour_from = _first_at_least_table(hours, 25)
        self._month_from = _first_at_least_table(months, 14)
        self._days_by_month = {}

    def __repr__(self):
        return f"_parse_cron({self.expression!r})"

    def next_after(self, moment: "datetime.datetime") -> "datetime.datetime":
        """The first fire time strictly after `moment`, in `moment`'s zone.

        A naive `moment` is taken as UTC, as DBOS does. A wall time that a
        spring-forward gap skips fires once at the end of the gap, shifted by whole
        minutes (or not at all when the hour field is every hour); a wall time that
        a fall-back repeats fires on both passes. Needs a zoneinfo or fixed-offset
        tzinfo, not pytz.
        """
        import datetime

        utc = datetime.timezone.utc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=utc)
        zone = moment.tzinfo
        # Read a wall time the clock skips or repeats as the instant it names, so fold is reliable.
        moment = moment.astimezone(utc).astimezone(zone)
        wall = moment.replace(tzinfo=None)
        found = self._first_existing_after(wall, zone, moment.timestamp())
        second_pass = moment.replace(fold=1)
        if moment.fold == 0 and second_pass.utcoffset() != moment.utcoffset():
            # `moment` is on the first pass of a repeated stretch, so the walls of the
            # second pass up to its own wall time are still to come.
            start = _first_second_with_new_offset(zone, moment.timestamp(), second_pass.timestamp())
            repeated = self._next_wall(start - datetime.timedelta(seconds=1))
            if repeated <= wall:
                repeated = repeated.replace(tzinfo=zone, fold=1)
                if repeated.timestamp() < found.timestamp():
                    return repeated
        return found

    def times_between(self, start: "datetime.datetime", end: "datetime.datetime"
                      ) -> Iterator["datetime.datetime"]:
        """Yield the fire times strictly between `start` and `end`, in order, in `start`'s zone."""
        import datetime

        if end.tzinfo is None:
            end = end.replace(tzinfo=datetime.timezone.utc)
        moment = self.next_after(start)
        while moment.timestamp() < end.timestamp():
            yield moment
            moment = self.next_after(moment)

    def _first_existing_after(self, wall, zone, timestamp):
        """The first instant after `timestamp` shown by the zone's clock at a matching wall
        time after `wall`."""
        while True:
            wall = self._next_wall(wall)
            plain, folded = wall.replace(tzinfo=zone), wall.replace(tzinfo=zone, fold=1)
            if plain.utcoffset() == folded.utcoffset():
                return plain
            if plain.utcoffset() > folded.utcoffset():  # repeated: fold 0 is the first pass
                return plain if plain.timestamp() > timestamp else folded
            import datetime

            # In a gap fold 1 reads the wall with the later offset, so it is the earlier instant.
            gap_end = _first_second_with_new_offset(zone, folded.timestamp(), plain.timestamp())
            if not self.every_hour:
                minute = datetime.timedelta(minutes=1)
                minutes = -(-(gap_end - wall) // minute)
                return (wall + minutes * minute).replace(tzinfo=zone)
            wall = gap_end - datetime.timedelta(seconds=1)

    def _next_wall(self, after, last_year=None):
        """The first matching wall time strictly after naive `after`, or None past `last_year`."""
        import datetime

        default_horizon = last_year is None
        if default_horizon:
            last_year = min(after.year + 400, 9998)
        year, month, day = after.year, after.month, after.day
        # One second on: second 60 is an overflow like any other, carried by the loop below.
        hour, minute, second = after.hour, after.minute, after.second + 1
        # Each field either holds, moves forward within its range (resetting the
        # smaller fields), or overflows and carries into the next larger field.
        while year <= last_year:
            found = self._month_from[month]
            if found is None:
                year, month, day, hour, minute, second = year + 1, 1, 1, 0, 0, 0
                continue
            if found != month:
                month, day, hour, minute, second = found, 1, 0, 0, 0
            found = self._day_from(year, month)[day]
            if found is None:
                month, day, hour, minute, second = month + 1, 1, 0, 0, 0
                continue
            if found != day:
                day, hour, minute, second = found, 0, 0, 0
            found = self._hour_from[hour]
            if found is None:
                day, hour, minute, second = day + 1, 0, 0, 0
                continue
            if found != hour:
                hour, minute, second = found, 0, 0
            found = self._minute_from[minute]
            if found is None:
                hour, minute, second = hour + 1, 0, 0
                continue
            if found != minute:
                minute, second = found, 0
            found = self._second_from[second]
            if found is None:
                minute, second = minute + 1, 0
                continue
            return datetime.datetime(year, month, day, hour, minute, found)
        if default_horizon:
            raise ValueError(f"cron expression '{self.expression}' has no fire time "
                             f"between {after} and the end of {last_year}")
        return None

    def _day_from(self, year, month):
        """The days of this month that the day-of-month and day-of-week fields allow.

        As a `_first_at_least_table`, so that `_next_wall` finds the next one by indexing.
        """
        days = self._days_by_month.get((year, month))
        if days is None:
            if len(self._days_by_month) > 512:
                self._days_by_month.clear()
            # Day 32 overflows every month; a shorter month's table ends in None before it.
            days = _first_at_least_table(self._compute_days(year, month), 33)
            self._days_by_month[(year, month)] = days
        return days

    def _compute_days(self, year: int, month: int) -> Iterator[int]:
        """Yield the matching days of a month, computed afresh."""
        import calendar

        monday_based, length = calendar.monthrange(year, month)
        nearest = self.nearest_weekday and _nearest_weekday(year, month, self.nearest_weekday)
        for day in range(1, length + 1):
            weekday = (monday_based + day) % 7  # cron counts from Sunday
            on_day = (day in self.days_of_month or day == nearest
                      or (self.last_day_of_month and day == length))
            on_weekday = (weekday in self.weekdays
                          or (weekday, (day - 1) // 7 + 1) in self.nth_weekdays
                          or (day + 7 > length and (weekday, -1) in self.nth_weekdays))
            if (on_day or on_weekday) if self.either_day else (on_day and on_weekday):
                yield day


def _first_at_least_table(values, size):
    """A tuple of `size` entries whose entry N is the smallest of `values` at least N, or None.

    Built once per field (and per month for days), so that `_next_wall` indexes instead of
    searching.
    """
    table, following, allowed = [None] * size, None, set(values)
    for number in range(size - 1, -1, -1):
        if number in allowed:
            following = number
        table[number] = following
    return tuple(table)


@functools.lru_cache(maxsize=None)
def _compiled(pattern):
    """`pattern` compiled, once; re is imported here, on first use, not with the module."""
    import re

    return re.compile(pattern)


def _first_second_with_new_offset(zone, before, after):
    """Naive wall time of the first whole second in (before, after] whose UTC offset differs
    from `before`'s."""
    import datetime

    from_timestamp = datetime.datetime.fromtimestamp
    offset = from_timestamp(before, zone).utcoffset()
    low, high = int(before // 1), -int(-after // 1)
    while high - low > 1:
        middle = (low + high) // 2
        if from_timestamp(middle, zone).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return from_timestamp(high, zone).replace(tzinfo=None)


def _nearest_weekday(year, month, day):
    """The weekday (Mon-Fri) nearest to `day`, never leaving the month, as croniter picks it."""
    import calendar

    length = calendar.monthrange(year, month)[1]
    day = min(day, length)
    weekday = calendar.weekday(year, month, day)
    if weekday == 5:
        return day - 1 if day > 1 else day + 2
    if weekday == 6:
        return day + 1 if day < length else day - 2
    return day


def _parse_cron(expression: str) -> _Cron:
    """Parse a cron expression as DBOS Transact accepts it.

    Raises ValueError naming the faulty field and what to write instead, also for
    an expression that can never fire (such as the 30th of February).
    """
    import datetime

    text = expression.strip().lower()
    if text.startswith("@"):
        if text not in _ALIASES:
            raise ValueError(f"cron alias '{expression}' is unknown; use one of "
                             + ", ".join(_ALIASES))
        text = _ALIASES[text]
    fields = _compiled(_FIELD).findall(text)
    if len(fields) == 5:
        fields.insert(0, "0")
    elif len(fields) != 6:
        raise ValueError(f"cron expression '{expression}' has {len(fields)} fields; write 5 "
                         "(minute hour day-of-month month day-of-week) or 6 (seconds first)")
    for index, field in enumerate(fields):
        if "?" in field and (field != "?" or index not in (_DAY_OF_MONTH, _DAY_OF_WEEK)):
            _fail(expression, index, "'?' may only stand alone in day of month or day of week")
    seconds, minutes, hours, months = (_parse_values(expression, index, fields[index])
                                       for index in (0, 1, 2, 4))
    days_of_month, last_day_of_month, nearest_weekday = _parse_days_of_month(expression, fields[3])
    weekdays, nth_weekdays = _parse_weekdays(expression, fields[5])
    # croniter's rule for "unrestricted": a '*' (or '?') element, or every value listed
    # while the other day field contains a '*' somewhere.
    every_day_of_month = (fields[3] == "?" or "*" in fields[3].split(",")
                          or (len(days_of_month) == 31 and "*" in fields[5]))
    every_weekday = (fields[5] == "?" or "*" in fields[5].split(",")
                     or (len(weekdays) == 7 and "*" in fields[3]))
    if nearest_weekday and not every_weekday:
        _fail(expression, _DAY_OF_WEEK, "cannot be restricted together with a 'W' day of month; "
              "set it to '*' or '?'")
    if nth_weekdays and not every_day_of_month:
        _fail(expression, _DAY_OF_MONTH, "cannot be restricted together with a '#' or 'L' day "
              "of week; set it to '*' or '?'")
    cron = _Cron(expression, seconds, minutes, hours, months, days_of_month, last_day_of_month,
                 nearest_weekday, weekdays, nth_weekdays,
                 either_day=not every_day_of_month and not every_weekday)
    # Month lengths and weekdays repeat every 28 years between 1901 and 2099, so a
    # schedule without a day in 2001-2028 never has one.
    if cron._next_wall(datetime.datetime(2000, 12, 31, 23, 59, 59), last_year=2028) is None:
        raise ValueError(f"cron expression '{expression}' can never fire: no date has the day "
                         "of month and day of week it asks for in the months it allows")
    return cron


def _fail(expression, index, problem):
    """Raise the ValueError for a faulty field."""
    raise ValueError(f"cron field '{_FIELDS[index][0]}' in '{expression}': {problem}")


def _parse_values(expression, index, field):
    """The sorted values of a field without special characters."""
    return tuple(sorted({value for element in field.split(",")
                         for value in _expand(expression, index, element)}))


def _parse_days_of_month(expression, field):
    """Split the day-of-month field into plain days, the 'L' flag and a 'W' day."""
    days, last, nearest = set(), False, None
    for element in field.split(","):
        nearest_match = _compiled(_NEAREST_WEEKDAY).fullmatch(element)
        if element == "l":
            last = True
        elif nearest_match:
            if "," in field:
                _fail(expression, _DAY_OF_MONTH, f"'{element.upper()}' must stand alone")
            nearest = _number(expression, _DAY_OF_MONTH, nearest_match[1] or nearest_match[2])
        elif element == "?":
            days.update(range(1, 32))
        elif element.startswith("l"):
            _fail(expression, _DAY_OF_MONTH, f"'{element.upper()}' is not supported; 'L' may stand "
                  "alone or end a range, as in '15-L'")
        else:
            # croniter reads 'L' as the end of a range as the 31st.
            element = _compiled(_RANGE_TO_LAST).sub("-31", element)
            days.update(_expand(expression, _DAY_OF_MONTH, element))
    return frozenset(days), last, nearest


def _parse_weekdays(expression, field):
    """Split the day-of-week field into plain weekdays and (weekday, week) pairs."""
    weekdays, nth = set(), set()
    for element in field.split(","):
        last_match = _compiled(_LAST_WEEKDAY).fullmatch(element)
        if last_match:
            nth.add((_number(expression, _DAY_OF_WEEK, last_match[1]) % 7, -1))
        elif element == "l" or element.endswith("l"):
            _fail(expression, _DAY_OF_WEEK, f"'{element.upper()}' is not supported; write 'L' "
                  "before the weekday, as in 'L5' for the last Friday of the month")
        elif "#" in element:
            days, _, week = element.partition("#")
            if "/" in days or "*" in days or not week.isdigit() or not 1 <= int(week) <= 5:
                _fail(expression, _DAY_OF_WEEK, f"'{element}' must be a weekday or weekday range, "
                      "'#' and a week from 1 to 5, as in 'mon#2'")
            nth.update((day, int(week)) for day in _expand(expression, _DAY_OF_WEEK, days))
        elif element == "?":
            weekdays.update(range(7))
        else:
            weekdays.update(_expand(expression, _DAY_OF_WEEK, element))
    if nth and weekdays:
        _fail(expression, _DAY_OF_WEEK, "cannot mix plain weekdays with '#' or 'L' weekdays; "
              "write every weekday in the '#' or 'L' form")
    return frozenset(weekdays), frozenset(nth)


def _expand(expression, index, element):
    """The values one list element ('*', N, A-B, */S, A-B/S or N/S) stands for."""
    _, lowest, highest, _ = _FIELDS[index]
    match = _compiled(_ELEMENT).fullmatch(element)
    if not match:
        _fail(expression, index, f"'{element}' is not a value, range or step; "
              "write N, A-B, */S, A-B/S or N/S")
    first_text, last_text, step_text = match.groups()
    step = int(step_text or 1)
    if step == 0:
        _fail(expression, index, f"'{element}' has step 0; use a step of 1 or more")
    top = 6 if index == _DAY_OF_WEEK else highest  # Sunday is 0 or 7 but counted once
    if first_text is None:
        first, last = lowest, top
    else:
        first = _number(expression, index, first_text)
        if last_text is not None:
            last = _number(expression, index, last_text)
        elif step_text is not None:
            last = top
        else:
            last = first
    if index == _DAY_OF_WEEK and first == 7 and last < 7:
        first = 0
    if first <= last:
        values = range(first, last + 1, step)
    else:
        # A range that ends below its start wraps around the end of the field.
        size = top - lowest + 1
        values = [lowest + (first - lowest + offset) % size
                  for offset in range((last - first) % size + 1)[::step]]
    return [value % 7 for value in values] if index == _DAY_OF_WEEK else list(values)


def _number(expression, index, text):
    """One value of a field, written as a number or a name, checked against the field's range."""
    name, lowest, highest, names = _FIELDS[index]
    if text.isdigit():
        value = int(text)
    elif text in names:
        value = names[text]
    elif text in ("h", "r"):
        _fail(expression, index, f"'{text.upper()}' (a hashed or random value) is not supported, "
              "since every process must compute the same times; write the value")
    else:
        kind = f"a number or a {name} name like '{next(iter(names))}'" if names else "a number"
        _fail(expression, index, f"'{text}' is not {kind}")
    if not lowest <= value <= highest:
        _fail(expression, index, f"{value} is out of range {lowest}-{highest}")
    return value


# ==== Executor: steps, workflows, waiting and recovery ====


def _topic(topic: str | None) -> str:
    return "__null__topic__" if topic is None else topic


def _next_stream_value(journal: _Journal, workflow_id: str, key: str, offset: int) -> Any:
    """A stream's value at ``offset`` (JSON text), _NOT_YET while its workflow may still write
    it, or _STREAM_END (closed, or its workflow finished without writing it);
    DBOSNonExistentWorkflowError if there is no such workflow."""
    rows = journal.read_stream(workflow_id, key, offset)
    if not rows:
        workflow = journal.get_workflow(workflow_id)
        if workflow is None:
            raise DBOSNonExistentWorkflowError(workflow_id)
        if workflow.status not in _FINISHED:
            return _NOT_YET
        rows = journal.read_stream(workflow_id, key, offset)  # written just before the end
    if not rows or rows[0][1] is None:
        return _STREAM_END
    return rows[0][1]


def _stream_reading(offset: Any, polling_interval_sec: Any, timeout_seconds: Any
                    ) -> tuple[int, float | None]:
    """The offset and the timeout of a stream read, checked (DBOS Transact's limits)."""
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise _InvalidArgument(f"offset must be a position in the stream (an int from 0), "
                               f"not {offset!r}.")
    if polling_interval_sec is not None:
        _duration(polling_interval_sec, "polling_interval_sec")
        if polling_interval_sec < 0.001:
            raise _InvalidArgument(f"polling_interval_sec must be at least 0.001 seconds, "
                                   f"got {polling_interval_sec!r}.")
    return offset, _duration(timeout_seconds, "timeout_seconds", optional=True)


def _message_records(messages: list[SendMessage]) -> list[_MessageRecord]:
    """The journal's rows for ``send``/``send_bulk`` (DBOS Transact's checks: SendMessages, no
    idempotency key twice in one call)."""
    if isinstance(messages, (str, bytes, SendMessage)) or not all(
            isinstance(m, SendMessage) for m in messages):
        raise _InvalidArgument(f"messages must be a list of SendMessage, not {messages!r}.")
    keys = [m.idempotency_key for m in messages if m.idempotency_key]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise DBOSException(f"send_bulk received duplicate idempotency keys: "
                            f"{', '.join(repeated)}; nothing was sent.")
    now = _now_ms()
    return [_MessageRecord(m.destination_id, _topic(m.topic),
                           _encode_value(m.message, f"The message to {m.destination_id!r}"),
                           m.idempotency_key, now) for m in messages]


def _inside_step(what: str) -> DBOSException:
    return DBOSException(
        f"{what} cannot be called inside a step: a step is one unit of work that may be retried "
        "as a whole. Call it from the workflow, between steps."
    )


# Where a Debouncer created without a queue puts its workflows (DBOS Transact's name).
_INTERNAL_QUEUE = _QueueRecord(_INTERNAL_QUEUE_NAME)


def _refuse_debounce_settings(settings: _EnqueueSettings | None) -> None:
    """SetEnqueueOptions around a debounce: the options a debounce decides (DBOS's words)."""
    if settings is None:
        return
    for set_, why in (
            (settings.deduplication_id, "a deduplication_id set: the debounce key is used as "
             "the workflow's deduplication ID"),
            (settings.delay_until_ms, "a delay set: the debounce period controls the "
             "workflow's delay"),
            (settings.priority, "a priority set: priority is not supported for debounced "
             "workflows"),
            (settings.queue_partition_key, "a queue partition key set: partitioned queues do "
             "not support deduplication, which debouncing requires"),
            (settings.duplication_policy == "return-existing" or None,
             "duplication_policy 'return-existing': a debounce owns the workflow's "
             "deduplication behavior")):
        if set_ is not None:
            raise DBOSException(f"Cannot debounce a workflow with {why}.")


def _refuse_enqueue_settings() -> None:
    """SetEnqueueOptions around a workflow that is started, not enqueued (DBOS's words)."""
    settings = _enqueue_settings.get()
    if settings is None:
        return
    named = [name for name, value in (
        ("deduplication_id", settings.deduplication_id), ("priority", settings.priority),
        ("queue_partition_key", settings.queue_partition_key),
        ("delay_seconds", settings.delay_until_ms)) if value is not None]
    if named:
        raise DBOSException(
            f"Enqueue option(s) {', '.join(named)} set on a workflow that is not being "
            "enqueued. These options are only supported when enqueueing a workflow onto a "
            "queue.")
    if settings.duplication_policy not in (None, "reject"):
        if settings.duplication_policy != "return-existing":
            raise DBOSException(f"Invalid duplication_policy {settings.duplication_policy}. "
                                "Must be either 'reject' or 'return-existing'.")
        raise DBOSException("duplication_policy 'return-existing' requires a queue. It is "
                            "only supported when enqueueing a workflow onto a queue.")


class _Start(msgspec.Struct, frozen=True):
    """What starting a workflow decided: run its body here (``run``) or wait for it."""

    workflow: _WorkflowRecord
    run: bool
    fresh: bool = False  # created by this start: nothing recorded to replay


class _Ran:
    """What a pool's run of a workflow returned, kept for the handle that started it:
    (its value, decoded as its function's return type) once its success is recorded; None
    before, and for good if it failed or stopped (the journal then has the outcome). So the
    handle's get_result need not read back what this process has just recorded (DBOS
    Transact's handle of a workflow it runs returns its future's result likewise)."""

    __slots__ = ("outcome",)

    def __init__(self) -> None:
        self.outcome: tuple[Any, Any] | None = None

    def run(self, function: Callable[..., tuple[Any, Any] | None], *args: Any
            ) -> tuple[Any, Any] | None:
        self.outcome = function(*args)
        return self.outcome


def _conflict(existing: _WorkflowRecord, workflow_function: _WorkflowFunction) -> str:
    """How a recorded workflow differs from the one started with its id (DBOS Transact's
    words)."""
    for what, recorded, given in (
            ("function name", existing.name, workflow_function.name),
            ("class name", existing.class_name, workflow_function.class_name),
            ("config name", existing.config_name, workflow_function.config_name)):
        if recorded != given:
            return (f"Workflow already exists with a different {what}: {recorded}, but the "
                    f"provided {what} is: {given}. Use another id.")
    return ""


class _Wakeups:
    """Who waits for what. Waiters watch keys such as ("message", workflow_id); a local commit
    rings the watches of its key, and a commit by another process (seen by the housekeeper
    through ``PRAGMA data_version``) rings them all. Idle waiters cost nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watches: dict[tuple, set[_Watch]] = {}

    @contextlib.contextmanager
    def watching(self, keys: list[tuple]) -> Iterator[_Watch]:
        watch = _Watch()
        with self._lock:
            for key in keys:
                self._watches.setdefault(key, set()).add(watch)
        try:
            yield watch
        finally:
            with self._lock:
                for key in keys:
                    watches = self._watches.get(key)
                    if watches is not None:
                        watches.discard(watch)
                        if not watches:
                            del self._watches[key]

    def notify(self, *keys: tuple) -> None:
        if not self._watches:
            # Nobody waits (the common case), so no lock. A waiter that registers now checks
            # after registering, and so sees what was committed before this call.
            return
        with self._lock:
            watches = [w for key in keys for w in self._watches.get(key, ())]
        for watch in watches:
            watch.ring()

    def notify_all(self) -> None:
        with self._lock:
            watches = [w for group in self._watches.values() for w in group]
        for watch in watches:
            watch.ring()

    def idle(self) -> bool:
        with self._lock:
            return not self._watches


class _Pool:
    """The threads that run workflows in the background: at most ``limit`` at work at once,
    started as needed. A thread waiting for another workflow (a parent for its child) does not
    count against the limit, so workflows that wait for each other cannot starve the pool (as
    they could with a fixed-size pool, after a crash left many parents and children PENDING).
    Threads are daemons: a process that exits abandons its background workflows, as a crash
    would, and the next launch resumes them.

    Each function is submitted under a key (a workflow id): a thread about to wait for that
    workflow takes the function back and runs it itself (``take``), instead of sleeping while
    a pool thread runs it. Paced (while the baton is on: see there), queued functions wait
    for the baton: one idle thread waits for it aside, on the queue's behalf, and the thread
    that holds it goes from one function to the next. More threads join only as the baton is handed
    over (a workflow waits) or taken from a holder that stopped making progress (a step that
    blocks), so the pool runs as many threads as the work needs rather than one per workflow.

    A thread that takes back what it submits (``start_workflow(...).get_result()``, in a loop)
    while it holds the baton wakes no pool thread for it: that thread would only find nothing
    to do, and take the interpreter from the submitter meanwhile (a sleeping thread woken at
    every start). What is held back so is woken for once its submitter gives the baton up with
    nobody waiting, submits again, or at the housekeeper's next look (``wake_held_back``)."""

    def __init__(self, limit: int):
        self._limit = max(1, limit)
        # Reentrant: the baton, given up under it (in _next), may call wake_held_back.
        self._lock = threading.RLock()
        self._work_ready = threading.Condition(self._lock)
        # By key, oldest first: taken from the front, or by key (take).
        self._queue: collections.OrderedDict[Any, tuple[Callable[..., Any], tuple]] = \
            collections.OrderedDict()
        self._threads = self._idle = self._waiting = 0
        self._in_line = False  # paced: an idle thread waits for the baton for the queue
        self._stopped = False
        self._held_back: set[Any] = set()  # keys queued with no thread woken for them
        self._takers = threading.local()  # takes_back: the thread took back its last one

    def submit(self, key: Any, function: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            if self._stopped:
                raise DBOSException("DBOS was destroyed: no more workflows can be started.")
            if key in self._queue:
                key = object()
            self._queue[key] = (function, args)
            if self._held_back:  # not taken back: wake for it, and hold back no more for now
                self._held_back.clear()
                self._takers.takes_back = False
            elif (getattr(self._takers, "takes_back", False) and not self._in_line
                  and _baton.active and not _baton.wanted
                  and _baton.holder == threading.get_ident()):
                self._held_back.add(key)
                return
            self._wake_or_grow()

    def take(self, key: Any) -> tuple[Callable[..., Any], tuple] | None:
        """The function submitted under ``key``, if no thread has begun it; it is then the
        caller's to run."""
        with self._lock:
            oldest = next(iter(self._queue), None) == key
            item = self._queue.pop(key, None)
            if item is not None:
                self._held_back.discard(key)
                self._takers.takes_back = True
        if oldest:
            _baton.queue_moved()
        return item

    def wake_held_back(self) -> None:
        """Wake a thread for the work held back, if any (see above)."""
        if not self._held_back:  # (read unlocked: a key added meanwhile has its submitter)
            return
        with self._lock:
            if self._held_back:
                self._held_back.clear()
                self._wake_or_grow()

    def _wake_or_grow(self) -> None:
        if self._in_line:
            return  # the thread in line brings in another once it has the baton
        if self._idle:
            self._work_ready.notify()
        elif self._queue and self._threads - self._waiting < self._limit:
            self._threads += 1
            threading.Thread(target=self._work, name="dbos_lite-worker", daemon=True).start()

    def _next(self) -> tuple[Callable[..., Any], tuple] | None:
        """Under the lock: the next function for this thread (None: the pool stopped)."""
        self._idle += 1
        while not self._stopped:
            if self._queue:
                if not _baton.active or _baton.holder == threading.get_ident():
                    break
                if not self._in_line:
                    self._in_line = True
                    self._lock.release()
                    try:
                        _baton.take(aside=True)
                    finally:
                        self._lock.acquire()
                        self._in_line = False
                    continue
            _baton.give()  # an idle thread holds nothing up
            self._work_ready.wait()
        self._idle -= 1
        if self._stopped:
            self._threads -= 1
            _baton.give()
            return None
        key, item = self._queue.popitem(last=False)
        self._held_back.discard(key)
        _baton.queue_moved()
        if self._queue:
            self._wake_or_grow()  # the rest: another thread, or one to stand in line
        return item

    def _work(self) -> None:
        _in_pool.pool = self
        _baton.mark_pool_thread()
        while True:
            with self._lock:
                item = self._next()
            if item is None:
                return
            function, args = item
            function(*args)

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Around a pool thread's wait for another workflow: it lends its place meanwhile."""
        with self._lock:
            self._waiting += 1
            self._wake_or_grow()
        try:
            yield
        finally:
            with self._lock:
                self._waiting -= 1

    def shutdown(self) -> None:
        with self._lock:
            self._stopped = True
            self._queue.clear()
            self._held_back.clear()
            self._work_ready.notify_all()


class _LocalRuns:
    """The workflows whose body runs in this process, and what is pending about them: their
    deadlines, the stops requested (cancelled, or taken by another process: each stops at its
    next durable operation), the resumes to make once a stopped run has ended, and the runs
    given up after a journal failure but not released. One lock guards the changes;
    ``stops`` is read without it (a look into a set is atomic), at every durable operation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self._deadlines: list[tuple[int, str]] = []  # a heap of (deadline ms, workflow id)
        self.stops: set[str] = set()
        self._resumes: set[str] = set()
        self._stranded: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self._running)

    def __len__(self) -> int:
        return len(self._running)

    def __contains__(self, workflow_id: str) -> bool:
        return workflow_id in self._running

    def begin(self, workflow_id: str) -> None:
        with self._lock:
            self._running.add(workflow_id)

    def end(self, workflow_id: str) -> bool:
        """Forget a run that ended; True if the workflow was resumed meanwhile and must start
        again now (see resume)."""
        with self._lock:
            self._running.discard(workflow_id)
            self.stops.discard(workflow_id)
            if workflow_id not in self._resumes:
                return False
            self._resumes.discard(workflow_id)
            return True

    def running(self) -> list[str]:
        with self._lock:
            return sorted(self._running)

    def watch_deadline(self, workflow_id: str, deadline_ms: int) -> None:
        import heapq

        with self._lock:
            heapq.heappush(self._deadlines, (deadline_ms, workflow_id))

    def overdue(self, now_ms: int) -> list[str]:
        """The running workflows whose deadline has passed (each returned once)."""
        import heapq

        overdue = []
        with self._lock:
            while self._deadlines and self._deadlines[0][0] <= now_ms:
                _, workflow_id = heapq.heappop(self._deadlines)
                if workflow_id in self._running:
                    overdue.append(workflow_id)
        return overdue

    def request_stop(self, workflow_ids: list[str]) -> None:
        """Those of ``workflow_ids`` running here stop at their next durable operation."""
        with self._lock:
            self.stops.update(w for w in workflow_ids if w in self._running)

    def withdraw_stop(self, workflow_id: str) -> None:
        with self._lock:
            self.stops.discard(workflow_id)

    def strand(self, workflow_id: str) -> None:
        """Remember a workflow given up but not released: the journal says this process owns
        it, yet nothing here runs it."""
        with self._lock:
            self._stranded.add(workflow_id)

    def is_stranded(self, workflow_id: str) -> bool:
        return workflow_id in self._stranded

    def take_stranded(self, workflow_id: str) -> bool:
        """True (once) if the workflow was stranded here: it may be taken up again."""
        with self._lock:
            stranded = workflow_id in self._stranded
            self._stranded.discard(workflow_id)
            return stranded

    def start_when_ended(self, workflow_id: str) -> bool:
        """True if a run of the workflow is still ending here (a cancelled run in a long step):
        the workflow, taken from a queue again meanwhile, then starts once that run has ended
        (``end`` says so) rather than beside it."""
        with self._lock:
            if workflow_id not in self._running:
                return False
            self._resumes.add(workflow_id)
            return True

    def resume(self, workflow_id: str, resume_in_journal: Callable[[], _T]) -> tuple[bool, _T]:
        """Run ``resume_in_journal()`` while no run of the workflow can end here; if one is
        still running (a cancelled run in a long step), the resumed one starts when it has
        ended (``end`` says so). Returns whether it was running here, and what the call
        returned."""
        with self._lock:
            running_here = workflow_id in self._running
            resumed = resume_in_journal()
            if resumed is not None and running_here:
                self._resumes.add(workflow_id)
        return running_here, resumed


class _Housekeeper:
    """The background loop of a launched process: it wakes waiters (and the scheduler) when
    another process commits, stops local workflows that another process cancelled or took,
    cancels those past their deadline, renews this process's lease and recovers the workflows
    of processes that die while this one runs."""

    def __init__(self, executor: _Executor):
        self._executor = executor
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dbos_lite-housekeeper",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        executor = self._executor
        journal = executor.journal
        assert journal is not None
        next_heartbeat = time.monotonic() + _HEARTBEAT_SEC
        next_fault_log = 0.0
        version = journal.data_version()
        clock_offset = time.time() - time.monotonic()
        next_schedule_look = 0.0
        while not self._stopping.wait(executor.polling_interval_sec):
            try:
                if not journal.check_file():
                    return  # the file is gone: there is nothing left to look after
                # The scheduler asks about other processes' commits once a second: a
                # schedule changed elsewhere is seen within a second, and an idle process
                # with schedules reads the PRAGMA a tenth as often as one with waiters. A
                # process with none asks as often: one created elsewhere is fired from then
                # on (were its creator to stop, its times would be nobody's until a heartbeat).
                looking = time.monotonic() >= next_schedule_look
                if looking:
                    next_schedule_look = time.monotonic() + _SCHEDULE_LOOK_SEC
                if executor.runs or not executor.wakeups.idle() or looking:
                    current = journal.data_version()
                    if current != version:
                        version = current
                        self._stop_runs_stopped_elsewhere()
                        executor.wakeups.notify_all()
                        if executor.scheduler.started:
                            executor.scheduler.wake()  # a schedule may have changed
                        elif journal.has_schedules():
                            executor.scheduler.start()  # another process created one
                if executor.scheduler.started \
                        and abs(time.time() - time.monotonic() - clock_offset) > 0.5:
                    executor.scheduler.wake()  # the wall clock was set
                clock_offset = time.time() - time.monotonic()
                executor.take_turns()
                executor.wake_held_back()
                overdue = executor.runs.overdue(_now_ms())
                if overdue:
                    _logger.info("Workflows %s passed their deadline; cancelling them.", overdue)
                    executor.cancel(overdue)
                if time.monotonic() >= next_heartbeat:
                    next_heartbeat = time.monotonic() + _HEARTBEAT_SEC
                    if not journal.heartbeat(executor.process_id):
                        journal.add_process(executor.process_record())
                    executor.recover()
                    if not executor.dispatcher.started and journal.list_queues():
                        executor.dispatcher.start()  # another process registered a queue
                    if not executor.scheduler.started and journal.has_schedules():
                        executor.scheduler.start()  # another process created a schedule
            except _OwnershipLost:
                return
            except Exception:
                # A fault that persists (a full disk, a lock held for long) is logged once a
                # minute, not at every turn of the loop.
                if time.monotonic() >= next_fault_log:
                    next_fault_log = time.monotonic() + 60.0
                    _logger.exception("dbos_lite housekeeping failed; it retries (this message "
                                     "repeats at most once a minute)")

    def _stop_runs_stopped_elsewhere(self) -> None:
        """Another process committed: if it cancelled (or took) a workflow running here, the
        workflow stops at its next durable operation."""
        executor = self._executor
        running = executor.runs.running()
        if running:
            executor.runs.request_stop(
                executor.journal.not_running(running, executor.process_id))  # type: ignore


class _Worker:
    """A background thread of a launched process that sleeps until there is work: started
    once (never after ``stop()``), woken with ``wake()``. A subclass names it and gives
    ``_run``, which waits on ``self._look``."""

    name = "dbos_lite-worker"

    def __init__(self, executor: _Executor):
        self._executor = executor
        self._stopping = False
        self._look = threading.Event()
        self._starting = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._starting:
            if self._thread is None and not self._stopping:
                self._starting_up()
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def _starting_up(self) -> None:
        """What a subclass does as its thread starts (under the start lock)."""

    def stop(self) -> None:
        with self._starting:
            self._stopping = True
        self._look.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def wake(self) -> None:
        """Look now (starting the thread if it was not)."""
        self.start()
        self._look.set()

    def _run(self) -> None:
        raise NotImplementedError


class _Dispatcher(_Worker):
    """The queue worker of a launched process: it takes from the queues this process listens
    to the workflows their limits allow now, and runs them. It looks when this process
    finishes a queued workflow or enqueues a delayed one, when a delay or a rate window ends,
    and when another process has committed (a ``PRAGMA data_version`` read at the queues'
    polling interval); in between it sleeps. An enqueue in this process needs no look: it
    takes what it may run in the transaction that enqueues. It starts at launch if the
    journal has queues, else when this process registers one, or the housekeeper sees one
    another process registered."""

    name = "dbos_lite-queues"

    def _run(self) -> None:
        executor = self._executor
        journal = executor.journal
        assert journal is not None
        version = None
        due = 0.0  # epoch seconds at which a delay or a rate window ends
        poll = 1.0
        next_fault_log = 0.0
        while not self._stopping:
            try:
                current = journal.data_version()  # all that an idle turn reads
                if self._look.is_set() or current != version or time.time() >= due:
                    _baton.take()  # (baton on) between the turns of the workflows it started
                    self._look.clear()
                    version, due = current, float("inf")
                    queues = [q for q in journal.list_queues() if executor.listens(q.name)]
                    poll = min([q.polling_interval_sec for q in queues], default=1.0)
                    names = [q.name for q in queues]
                    for queue in queues if names and journal.has_waiting(names) else ():
                        dispatch = journal.take_from_queue(queue.name, executor.claimant())
                        executor.run_claimed(dispatch.claimed)
                        if dispatch.wake_at_ms is not None:
                            due = min(due, dispatch.wake_at_ms / 1000)
            except _OwnershipLost:
                _baton.give()
                return
            except Exception:
                if time.monotonic() >= next_fault_log:
                    next_fault_log = time.monotonic() + 60.0
                    _logger.exception("dbos_lite could not take work from its queues; it "
                                      "retries (this message repeats at most once a minute)")
            _baton.give()
            self._look.wait(max(0.0, min(poll, due - time.time())))


def _utc_now() -> Any:
    """The wall-clock time, aware, in UTC: what a schedule's times are compared with (read
    from time.time(), the clock the scheduler sleeps by)."""
    import datetime

    return datetime.datetime.fromtimestamp(time.time(), datetime.timezone.utc)


def _schedule_zone(name: str | None) -> Any:
    """The zone a schedule's cron string is read in: UTC, or an IANA zone by name."""
    import datetime

    if name is None:
        return datetime.timezone.utc
    import zoneinfo

    return zoneinfo.ZoneInfo(name)


def _scheduled_workflow_id(schedule_name: str, when: Any) -> str:
    """The id of a schedule's run at a scheduled time (DBOS Transact's form): every process
    derives the same one, so the journal's uniqueness makes each time run once."""
    return f"sched-{schedule_name}-{when.isoformat()}"


def _schedule_fire(schedule: _ScheduleRecord, when: Any, workflow_id: str,
                   application_version: str | None) -> _Fire:
    """One run of a schedule: its workflow, ENQUEUED on the schedule's queue, called with
    ``(when, context)``."""
    function = _workflows.get(schedule.workflow_name)
    inputs = '{"args":[' + _encoder.encode(when).decode() + "," + schedule.context \
        + '],"kwargs":{}}'
    queue_name = schedule.queue_name or _INTERNAL_QUEUE_NAME
    now = _now_ms()
    row = _WorkflowRecord(
        workflow_id, WorkflowStatusString.ENQUEUED, schedule.workflow_name, inputs, None, None,
        None, None, application_version, now, now, 0,
        function.max_recovery_attempts if function else _DEFAULT_MAX_RECOVERY_ATTEMPTS,
        None, queue_name, None, None, None, schedule.workflow_class_name, None,
        schedule_name=schedule.schedule_name)
    entry = _QueueEntry(workflow_id, queue_name, 0, None, None, None, None)
    return _Fire(schedule.schedule_name, schedule.schedule_id, when.isoformat(), row, entry)


class _Tracked:
    """A schedule the scheduler fires: its cron, its zone, the latest time handled
    (``after``), and while it catches up, the time before which missed times still run."""

    __slots__ = ("record", "cron", "zone", "after", "backfill_until")

    def __init__(self, record: _ScheduleRecord, cron: _Cron, zone: Any, after: Any,
                 backfill_until: Any):
        self.record, self.cron, self.zone = record, cron, zone
        self.after, self.backfill_until = after, backfill_until


class _Scheduler(_Worker):
    """The cron worker of a launched process: it fires the schedules in the journal, each
    scheduled time once however many processes fire them (a run's id is derived from its
    time, and the journal keeps ids unique). It sleeps until the next time is due; it looks
    at the schedules again when this process changes one, and when the housekeeper sees
    another process commit or the wall clock jump.

    A time is fired if it falls while this process was up; a time missed while no process
    ran (or while paused) runs only with ``automatic_backfill``, from the schedule's last
    fired time. "Up" is measured on the monotonic clock, so a wall clock set forward (NTP,
    a device without a battery-backed clock) runs only the times this process was really up
    for, and one set back runs nothing twice (those ids exist)."""

    name = "dbos_lite-schedules"
    _BATCH = 500  # fires per transaction while catching up
    _MAX_SLEEP_SEC = 60.0

    def __init__(self, executor: _Executor):
        super().__init__(executor)
        self._tracked: dict[str, _Tracked] = {}
        self._started_monotonic = 0.0
        self._reported: dict[str, float] = {}  # schedule name -> when its fault was logged

    def _starting_up(self) -> None:
        """It starts at launch if the journal has schedules, else when this process creates
        one, or the housekeeper sees one another process created; its first turn reads them
        (a ``wake()`` reads them again: they changed, or the clock jumped)."""
        self._started_monotonic = time.monotonic()
        self._look.set()

    def _run(self) -> None:
        journal = self._executor.journal
        assert journal is not None
        next_fault_log = 0.0
        while not self._stopping:
            wait = 1.0  # after a fault
            try:
                if self._look.is_set():
                    self._look.clear()
                    self._follow(journal.list_schedules(["ACTIVE"]))
                wait = self._fire_due(journal)
            except _OwnershipLost:
                return
            except Exception:
                if time.monotonic() >= next_fault_log:
                    next_fault_log = time.monotonic() + 60.0
                    _logger.exception("dbos_lite could not fire its schedules; it retries "
                                      "(this message repeats at most once a minute)")
            self._look.wait(max(0.0, min(wait, self._MAX_SLEEP_SEC)))

    def _follow(self, active: list[_ScheduleRecord]) -> None:
        """Track the ACTIVE schedules. One new here (or resumed) starts from now, or with
        ``automatic_backfill`` from its last fired time; a changed one keeps its place, unless
        its times changed (cron or zone): then it starts from now, as DBOS Transact's does
        (its old place would fire at once the new times since then)."""
        import datetime

        now = _utc_now()
        tracked: dict[str, _Tracked] = {}
        for record in active:
            known = self._tracked.get(record.schedule_name)
            if known is not None and known.record.schedule_id == record.schedule_id:
                if not known.record.same_definition(record):
                    retimed = (known.record.schedule, known.record.cron_timezone) != (
                        record.schedule, record.cron_timezone)
                    known = self._track(record, max(known.after, now) if retimed
                                        else known.after, None)
                if known is not None:
                    known.record = record
                    tracked[record.schedule_name] = known
                continue
            after, until = now, None
            if record.automatic_backfill and record.last_fired_at is not None:
                last = datetime.datetime.fromisoformat(record.last_fired_at)
                if last < now:
                    after, until = last, now
            fresh = self._track(record, after, until)
            if fresh is not None:
                tracked[record.schedule_name] = fresh
        self._tracked = tracked

    def _track(self, record: _ScheduleRecord, after: Any, until: Any) -> _Tracked | None:
        try:
            return _Tracked(record, _parse_cron(record.schedule),
                            _schedule_zone(record.cron_timezone), after, until)
        except Exception as exc:  # a row written by hand, or by another tool
            self._report(record.schedule_name, f"its cron string or time zone is invalid "
                         f"({exc}); fix it with DBOS.apply_schedules")
            return None

    def _report(self, schedule_name: str, why: str) -> None:
        """Log, at most once a minute per schedule, why it cannot fire."""
        if time.monotonic() >= self._reported.get(schedule_name, 0.0):
            self._reported[schedule_name] = time.monotonic() + 60.0
            _logger.error("Schedule %r cannot fire: %s.", schedule_name, why)

    def _fire_due(self, journal: _Journal) -> float:
        """Fire what is due; the seconds until the next time is."""
        import datetime

        executor = self._executor
        now = _utc_now()
        up_since = now - datetime.timedelta(seconds=time.monotonic() - self._started_monotonic)
        fires: list[_Fire] = []
        handled: list[tuple[_Tracked, Any]] = []
        next_due = float("inf")
        for tracked in self._tracked.values():
            when = tracked.cron.next_after(tracked.after.astimezone(tracked.zone))
            last = None
            while when <= now and len(fires) < self._BATCH:
                if when >= up_since or (tracked.backfill_until is not None
                                        and when < tracked.backfill_until):
                    workflow_id = _scheduled_workflow_id(tracked.record.schedule_name, when)
                    fires.append(_schedule_fire(tracked.record, when, workflow_id,
                                                executor.application_version))
                last = when
                when = tracked.cron.next_after(when)
            if last is not None:
                handled.append((tracked, last))
            next_due = min(next_due, when.timestamp())
        if fires:
            queues = sorted({fire.entry.queue_name for fire in fires})
            claim_from = [name for name in queues if executor.listens(name)]
            fired = journal.fire_schedules(fires, True, executor.claimant() if claim_from
                                           else None, claim_from)
            executor.started_scheduled(fired)
            if fired.skipped:
                self._look.set()  # paused, deleted or changed elsewhere: read them again
            for name in set(fired.unqueued):
                queue = self._tracked[name].record.queue_name
                self._report(name, f"its queue {queue!r} is not in the journal; register it "
                             "again, or give the schedule another queue")
        for tracked, last in handled:
            tracked.after = last
            if tracked.backfill_until is not None and last >= tracked.backfill_until:
                tracked.backfill_until = None
        if len(fires) >= self._BATCH:
            return 0.0
        return next_due - time.time()


def _default_executor_id() -> str:
    """Unique to the process: the host, the pid and a random part (a pid may be reused)."""
    return f"{_host_name()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class _Executor:
    """Runs workflows and steps for one launched process, on top of one journal."""

    def __init__(self, *, journal_path: str, synchronous: str, busy_timeout_sec: float,
                 executor_id: str, application_name: str, application_version: str,
                 max_threads: int, polling_interval_sec: float,
                 configured_executor_id: str | None = None):
        self.journal_path = journal_path
        self.application_name = application_name
        self.configured_executor_id = configured_executor_id
        self.synchronous = synchronous
        self.busy_timeout_sec = busy_timeout_sec
        self.executor_id = executor_id
        self.application_version = application_version
        self.max_threads = max_threads
        self.polling_interval_sec = polling_interval_sec
        self.process_id = uuid.uuid4().hex
        self.wakeups = _Wakeups()
        self.journal: _Journal | None = None
        self.runs = _LocalRuns()
        self.pid = os.getpid()
        self._reported_unrunnable: set[str] = set()  # logged once each, never written
        self._pool: _Pool | None = None
        self._housekeeper = _Housekeeper(self)
        self.dispatcher = _Dispatcher(self)
        self.scheduler = _Scheduler(self)
        self.listened: set[str] | None = None  # DBOS.listen_queues; None: every queue
        self._has_internal_queue = False  # the queue of Debouncers given none
        self._tasks: set[Any] = set()  # async workflows started on the caller's event loop

    # -- lifecycle --

    def launch(self) -> None:
        """Open the journal, join it as a process, recover; on failure nothing is launched.
        From then on a clean exit of the interpreter releases what this process owns, and a
        forked child launches an executor of its own at its first use (see for_this_process)."""
        # Resolved once: a relative path must not follow a later os.chdir().
        self.journal_path = os.path.abspath(self.journal_path)
        journal = _Journal(self.journal_path, synchronous=self.synchronous,
                           busy_timeout_sec=self.busy_timeout_sec)
        try:
            bound = journal.bind_application(self.application_name)
            if bound != self.application_name:
                raise DBOSInitializationError(
                    f"The journal {self.journal_path} belongs to the application {bound!r}, "
                    f"not to {self.application_name!r}; it was not modified. Give each "
                    "application a journal of its own (system_database_url), or configure the "
                    "same name.")
            journal.add_process(self.process_record())
            for queue, replace in _declared_queues.values():
                journal.put_queue(queue, replace)
        except BaseException:
            journal.close()
            raise
        self.journal = journal
        self.pid = os.getpid()
        self._pool = _Pool(self.max_threads)
        _baton.freed = self._pool.wake_held_back
        self.take_turns()  # from the commits launch made
        self.recover()
        self._housekeeper.start()
        if _declared_queues or journal.list_queues():
            self.dispatcher.start()
        if journal.has_schedules():
            self.scheduler.start()
        import atexit

        atexit.register(self._release_at_exit)

    def take_turns(self) -> None:
        """Turn the baton on where a commit is cheap, off where it waits for the disk (see
        the baton; the commits measured so far decide, and the housekeeper asks again)."""
        cost = self._journal().commit_cost()
        if cost is None:
            cheap = self.synchronous == "NORMAL"
        else:
            cheap = cost < _CHEAP_COMMIT_SEC * (2 if _baton.active else 1)
        if cheap and time.monotonic() < _baton.off_until:
            return  # off for a while: most steps were slow (_Baton._count)
        if cheap != _baton.active:
            _baton.turn_on(cheap)

    def process_record(self) -> _ProcessRecord:
        now = _now_ms()
        return _ProcessRecord(self.process_id, self.executor_id, _host_identity(), os.getpid(),
                              _process_started(os.getpid()), now, now, _as_json(sorted(_workflows)),
                              _as_json(None if self.listened is None else sorted(self.listened)))

    def destroy(self, workflow_completion_timeout_sec: float) -> None:
        import atexit

        atexit.unregister(self._release_at_exit)
        if self.pid != os.getpid():
            return  # inherited by a fork: the locks and connections are the parent's
        self._housekeeper.stop()
        self.dispatcher.stop()
        self.scheduler.stop()
        deadline = time.monotonic() + workflow_completion_timeout_sec
        while self.runs and time.monotonic() < deadline:
            time.sleep(0.01)
        if self._pool is not None:
            self._pool.shutdown()
        _baton.stop()
        self._release_and_close(
            "DBOS.destroy() closed the journal: a workflow still running stops here without "
            "recording more, and the next DBOS.launch() resumes it from its last completed "
            "step.")

    def _release_at_exit(self) -> None:
        """At a clean exit of the interpreter: what this process still owns (background
        workflows, interrupted ones) goes back to the journal for the next launch, which
        resumes it without counting a recovery attempt."""
        if self.pid == os.getpid():
            self._housekeeper.stop()
            self.dispatcher.stop()
            self.scheduler.stop()
            if self.journal is not None:
                # An exit does not wait long for another process's lock (say after a Ctrl-C
                # that ended such a wait): unreleased, the workflows count one recovery.
                self.journal.limit_busy_wait(min(self.busy_timeout_sec, 0.5))
            self._release_and_close("The program is exiting: nothing more is recorded.")

    def _release_and_close(self, reason: str) -> None:
        if self.journal is not None:
            with contextlib.suppress(Exception, _OwnershipLost):
                self.journal.release_process(self.process_id)
            self.journal.close(reason)
        self.wakeups.notify_all()

    def for_this_process(self) -> _Executor:
        """This executor, or in a child forked after launch, a new one launched for the child:
        the parent's threads are not in the child and its locks may be held for good, so the
        child uses none of them (its connections are left unused, never closed)."""
        if self.pid == os.getpid():
            return self
        child = _Executor(
            journal_path=self.journal_path, synchronous=self.synchronous,
            busy_timeout_sec=self.busy_timeout_sec,
            executor_id=self.configured_executor_id or _default_executor_id(),
            configured_executor_id=self.configured_executor_id,
            application_name=self.application_name,
            application_version=self.application_version, max_threads=self.max_threads,
            polling_interval_sec=self.polling_interval_sec)
        child.listened = self.listened
        _logger.info("Process %d was forked from %d after DBOS.launch(); it opens the journal "
                     "as executor %s.", os.getpid(), self.pid, child.executor_id)
        child.launch()
        return child

    def _journal(self) -> _Journal:
        if self.journal is None:
            raise DBOSException("DBOS is not launched: call DBOS.launch() first.")
        return self.journal

    # -- recovery and housekeeping --

    def recover(self) -> list[str]:
        """Resume the PENDING workflows of dead processes (and of none) whose functions this
        process registered, claiming each one in a transaction so that exactly one process
        resumes it; workflows it cannot run are left untouched. Returns the ids resumed here."""
        journal = self._journal()
        now = _now_ms()
        dead = [p.process_id for p in journal.list_processes()
                if p.process_id != self.process_id and not _process_is_alive(p, now)]
        if dead:
            _logger.info("Processes %s are gone; recovering their workflows.", dead)
            journal.remove_processes(dead)
        resumed = []
        targets = _runnable_targets()
        for workflow in journal.claim_orphans(self.process_id, self.executor_id,
                                              sorted(_workflows), targets,
                                              self.runs.running()):
            if workflow.status == WorkflowStatusString.MAX_RECOVERY_ATTEMPTS_EXCEEDED:
                self._gave_up(workflow)
                continue
            if _logger.isEnabledFor(20):  # INFO: the step is read only to be logged
                _logger.info("Resuming workflow %s (%s) at step %d on executor %s.",
                             workflow.workflow_id, workflow.name,
                             journal.last_function_id(workflow.workflow_id) + 1,
                             self.executor_id)
            function = _runnable(workflow)
            if function is None:  # its instance changed since it was listed: leave it
                journal.release_workflow(workflow.workflow_id, self.process_id)
                continue
            self.submit(function, workflow)
            resumed.append(workflow.workflow_id)
        for workflow in journal.list_unclaimable(sorted(_workflows), targets):
            if workflow.workflow_id not in self._reported_unrunnable:
                self._reported_unrunnable.add(workflow.workflow_id)
                _logger.warning("%s", _unrunnable(workflow))
        return resumed

    def _gave_up(self, workflow: _WorkflowRecord) -> None:
        """A claim found the workflow past its maximum recovery attempts: say why, for good."""
        error = MaxRecoveryAttemptsExceededError(workflow.workflow_id,
                                                 workflow.max_recovery_attempts)
        _logger.error("%s", error)
        self._journal().set_workflow_error(workflow.workflow_id, _encode_error(error))
        self.wakeups.notify(("workflow", workflow.workflow_id))

    # -- queues --

    def listens(self, queue_name: str) -> bool:
        """Whether this process works the queue (DBOS.listen_queues; all queues if not set).
        Every process works the internal queue, as in DBOS Transact."""
        return self.listened is None or queue_name in self.listened \
            or queue_name == _INTERNAL_QUEUE_NAME

    def claimant(self) -> _Claimant:
        """This process, asking for queued workflows: the functions it has, and the places
        free in its pool (so that what it takes from a queue really runs at once)."""
        return _Claimant(self.process_id, self.executor_id, self.application_version,
                         list(_workflows), _runnable_targets(),
                         max(0, self.max_threads - len(self.runs)))

    def run_claimed(self, claimed: list[_Claimed]) -> None:
        """Run the workflows this process took from a queue, on its pool."""
        for taken in claimed:
            workflow = taken.workflow
            if workflow.status == WorkflowStatusString.MAX_RECOVERY_ATTEMPTS_EXCEEDED:
                self._gave_up(workflow)
                continue
            function = _runnable(workflow)
            if function is None:  # its instance went away since the claim: give it back
                self._journal().release_workflow(workflow.workflow_id, self.process_id)
                continue
            if not self.runs.start_when_ended(workflow.workflow_id):
                self.submit(function, workflow, taken.fresh)

    # -- schedules --

    def schedule_write_plan(self, operation_name: str, verb: Callable[..., bool], *args: Any
                            ) -> _Plan[None]:
        """A schedule change (``verb(*args, operation, owner)``: create, pause, resume,
        delete). Inside a workflow it is operation N, written in the transaction that records
        it, so that replay changes nothing again (and raises again an error it raised)."""
        if _current_step.get() is not None:
            raise _inside_step(operation_name)
        context = _recording_context()
        operation = function_id = None
        if context is not None:
            function_id = context.next_function_id()
            recorded = self._replayed(context, function_id, operation_name)
            if recorded is not None:
                _value_or_raise(recorded.output, recorded.error, Any)
                return
            operation = self._operation(context, function_id, operation_name)
        try:
            done = yield _Write(verb, *args, operation, self.process_id)
        except DBOSException as error:
            if context is not None:
                assert function_id is not None
                yield from self._record_plan(context, function_id, operation_name,
                                             error=_encode_error(error))
            raise
        if not done:
            assert context is not None
            raise self._why_stopped(context.workflow_id)
        self.scheduler.wake()

    def put_schedules_plan(self, records: list[_ScheduleRecord], *, replace: bool
                           ) -> _Plan[None]:
        """Create schedules (``DBOS.create_schedule``), or create or change them
        (``replace``: ``DBOS.apply_schedules``)."""
        return self.schedule_write_plan("DBOS.applySchedules" if replace
                                        else "DBOS.createSchedule",
                                        self._journal().put_schedules, records, replace)

    def schedule_status_plan(self, name: str, status: str) -> _Plan[None]:
        """Pause (``"PAUSED"``) or resume (``"ACTIVE"``) a schedule."""
        return self.schedule_write_plan("DBOS.pauseSchedule" if status == "PAUSED"
                                        else "DBOS.resumeSchedule",
                                        self._journal().set_schedule_status, name, status)

    def delete_schedule_plan(self, name: str) -> _Plan[None]:
        return self.schedule_write_plan("DBOS.deleteSchedule", self._journal().delete_schedule,
                                        name)

    def schedule_read_plan(self, operation_name: str, read: Callable[[], Any]) -> _Plan[Any]:
        """A schedule read (get, list): inside a workflow, operation N, whose recorded value
        replay returns."""
        if _current_step.get() is not None:
            raise _inside_step(operation_name)
        context = _recording_context()
        if context is None:
            return read()
        function_id = context.next_function_id()
        recorded = self._replayed(context, function_id, operation_name)
        if recorded is not None:
            return _value_or_raise(recorded.output, recorded.error, Any)
        value = read()
        yield from self._record_plan(context, function_id, operation_name,
                                     output=_encode_value(value, f"{operation_name}'s result"))
        return value

    def fire_now(self, fires: list[_Fire]) -> list[str]:
        """Put runs of a schedule on its queue now (trigger, backfill), those whose id exists
        excepted; the ids of those it created. Runs this process may take start at once."""
        queues = sorted({fire.entry.queue_name for fire in fires})
        claim_from = [name for name in queues if self.listens(name)]
        fired = self._journal().fire_schedules(fires, False, self.claimant() if claim_from
                                               else None, claim_from)
        self.started_scheduled(fired)
        if fired.unqueued:
            raise DBOSException(
                f"Schedule {fired.unqueued[0]!r} cannot run: its queue {queues[0]!r} is not in "
                "the journal. Register the queue again, or give the schedule another queue "
                "with DBOS.apply_schedules.")
        return fired.created

    def started_scheduled(self, fired: _Fired) -> None:
        """Run the scheduled workflows this process took as it fired them; the queue worker
        looks for the rest (no room here now, or a queue this process works later)."""
        for dispatch in fired.dispatches:
            self.run_claimed(dispatch.claimed)
        taken = sum(len(dispatch.claimed) for dispatch in fired.dispatches)
        if taken < len(fired.created) or any(d.wake_at_ms is not None
                                             for d in fired.dispatches):
            self.dispatcher.wake()

    # -- starting and running workflows --

    def submit(self, workflow_function: _WorkflowFunction, workflow: _WorkflowRecord,
               fresh: bool = False) -> _Ran:
        """Run a claimed workflow's body on the thread pool, in a fresh context; what the run
        returns is kept in the _Ran returned (for a handle)."""
        assert self._pool is not None
        self.runs.begin(workflow.workflow_id)
        context = contextvars.Context()
        ran = _Ran()
        self._pool.submit(workflow.workflow_id, ran.run, context.run, self._run_in_background,
                          workflow_function, workflow, fresh)
        return ran

    def wake_held_back(self) -> None:
        """Have the pool wake a thread for work it held back for a thread that took back what
        it submitted before (see _Pool): that thread may have gone on without it."""
        if self._pool is not None:
            self._pool.wake_held_back()

    def get_result(self, workflow_id: str, return_type: Any, ran: _Ran | None = None) -> Any:
        """get_result_plan driven in this thread. Outside workflows, a workflow this process
        has yet to begin runs in this thread rather than a pool thread while this one sleeps,
        and a workflow whose run here returned (``ran``, from its handle) needs no reading
        back: its value is returned as its body returned it, when ``return_type`` (None: its
        function's) decodes it so; else the journal gives the outcome. (A workflow waits as it
        always does: a wait the timeline shows, and that its cancellation ends.)"""
        if self._pool is not None and _current_workflow.get() is None \
                and _current_step.get() is None:
            outcome = None if ran is None else ran.outcome
            if outcome is None:
                item = self._pool.take(workflow_id)
                if item is not None:
                    function, args = item
                    outcome = function(*args)
            if outcome is not None and (return_type is None or return_type is outcome[1]):
                return outcome[0]
        return _run_plan(self.get_result_plan(workflow_id, return_type))

    def submit_task(self, workflow_function: _WorkflowFunction, workflow: _WorkflowRecord,
                    fresh: bool = False) -> None:
        """Run a claimed async workflow's body as a task of the running event loop."""
        import asyncio

        self.runs.begin(workflow.workflow_id)
        context = contextvars.Context()
        task = context.run(asyncio.get_running_loop().create_task,
                           self._run_in_background_async(workflow_function, workflow, fresh))
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    def _run_in_background(self, workflow_function: _WorkflowFunction,
                           workflow: _WorkflowRecord, fresh: bool) -> tuple[Any, Any] | None:
        """Run a workflow's body; for get_result, (its value, decoded as its function's
        return type) once its success is recorded, else None: the outcome is in the journal."""
        if workflow_function.is_async:
            import asyncio

            asyncio.run(self._run_in_background_async(workflow_function, workflow, fresh))
            return None
        try:
            value = self.run_body(workflow_function, workflow, fresh)
        except KeyboardInterrupt:
            if threading.current_thread() is threading.main_thread():
                raise  # Ctrl-C while the main thread ran it for its get_result
            return None
        except BaseException:
            return None  # the outcome is in the journal, for whoever awaits the workflow
        return value, workflow_function.return_type

    async def _run_in_background_async(self, workflow_function: _WorkflowFunction,
                                       workflow: _WorkflowRecord, fresh: bool) -> None:
        try:
            await _run_plan_async(self.body_plan(workflow_function, workflow, fresh))
        except BaseException:
            pass  # the outcome is in the journal, for whoever awaits the workflow

    def _start_plan(self, workflow_function: _WorkflowFunction, args: tuple, kwargs: dict,
                    parent: _WorkflowContext | None, function_id: int | None,
                    recorded: _OperationRecord | None) -> _Plan[_Start]:
        """Record a workflow's start (or find it recorded) and decide who runs its body: a
        plan whose result is a _Start."""
        row, link, policy = self._start_records(workflow_function, args, kwargs, parent,
                                                function_id, recorded)
        started = yield _Write(self._journal().start_workflow, row, link)
        if started.created:
            self.runs.begin(row.workflow_id)
            return _Start(started.workflow, run=True, fresh=True)
        return (yield from self._found_plan(workflow_function, started.workflow, policy,
                                            recorded))

    def _start(self, baton: _Baton, me: int, workflow_function: _WorkflowFunction, args: tuple,
               kwargs: dict) -> _Start:
        """_start_plan outside any workflow, driven in a thread that holds the baton, without
        a plan when the workflow is created."""
        row, link, policy = self._start_records(workflow_function, args, kwargs, None, None,
                                                None)
        journal = self._journal()
        if _write_holding(baton, me, journal.create_workflow, row):
            self.runs.begin(row.workflow_id)
            return _Start(row, run=True, fresh=True)
        started = _write_holding(baton, me, journal.start_workflow, row, link)
        if started.created:  # (deleted since)
            self.runs.begin(row.workflow_id)
            return _Start(started.workflow, run=True, fresh=True)
        return _drive(baton, me, self._found_plan(workflow_function, started.workflow, policy,
                                                  None))

    def _start_records(self, workflow_function: _WorkflowFunction, args: tuple, kwargs: dict,
                       parent: _WorkflowContext | None, function_id: int | None,
                       recorded: _OperationRecord | None
                       ) -> tuple[_WorkflowRecord, _OperationRecord | None, str | None]:
        """What starting a workflow writes: its row and, for a child not started before, the
        parent's operation that links to it; and the SetWorkflowID reuse policy."""
        if _current_step.get() is not None:
            raise _inside_step(f"Starting workflow {workflow_function.name!r}")
        assigned, policy = _take_assigned_id_and_policy()
        if recorded is not None and recorded.child_workflow_id is not None:
            workflow_id = recorded.child_workflow_id
        elif assigned is not None:
            workflow_id = assigned
        elif parent is not None:
            workflow_id = f"{parent.workflow_id}-{function_id}"
        else:
            workflow_id = _new_workflow_id()
        now = _now_ms()
        timeout = _workflow_timeout.get()
        if timeout == _INHERIT:
            timeout_ms, deadline_ms = None, parent.deadline_ms if parent is not None else None
        elif timeout is None:
            timeout_ms, deadline_ms = None, None
        else:
            timeout_ms = int(float(timeout) * 1000)
            deadline_ms = now + timeout_ms
        row = _WorkflowRecord(
            workflow_id, WorkflowStatusString.PENDING, workflow_function.name,
            workflow_function.encode_inputs(args, kwargs), None, None, self.executor_id,
            self.process_id, self.application_version, now, now, 1,
            workflow_function.max_recovery_attempts,
            parent.workflow_id if parent is not None else None, None, timeout_ms, deadline_ms,
            None, workflow_function.class_name, workflow_function.config_name,
        )
        link = None
        if parent is not None and recorded is None:
            assert function_id is not None
            link = _OperationRecord(parent.workflow_id, function_id, workflow_function.name,
                                   None, None, workflow_id, now, now)
        return row, link, policy

    def _found_plan(self, workflow_function: _WorkflowFunction, existing: _WorkflowRecord,
                    policy: str | None, recorded: _OperationRecord | None) -> _Plan[_Start]:
        """A start found its workflow's id in the journal: refused (a reuse policy "reject",
        another function), taken over (its owner is gone), or waited for."""
        if policy == "reject" and recorded is None:
            raise DBOSWorkflowIDInUseError(existing.workflow_id, existing.status, existing.name)
        if existing.name != workflow_function.name \
                or existing.class_name != workflow_function.class_name \
                or existing.config_name != workflow_function.config_name:
            raise DBOSConflictingWorkflowError(existing.workflow_id,
                                               _conflict(existing, workflow_function))
        return (yield from self._take_over_if_orphaned_plan(existing))

    def _take_over_if_orphaned_plan(self, workflow: _WorkflowRecord) -> _Plan[_Start]:
        """A PENDING workflow whose owner is gone is claimed and run here; any other is waited
        for (a live owner finishes it; a finished one has its outcome recorded)."""
        if workflow.status != WorkflowStatusString.PENDING:
            return _Start(workflow, run=False)
        if workflow.owner == self.process_id:
            if not self.runs.take_stranded(workflow.workflow_id):
                return _Start(workflow, run=False)  # running in another thread here
        elif workflow.owner is not None:
            owner = next((p for p in self._journal().list_processes()
                          if p.process_id == workflow.owner), None)
            if owner is not None and _process_is_alive(owner, _now_ms()):
                return _Start(workflow, run=False)
        claimed = yield _Write(self._journal().claim_workflow, workflow.workflow_id,
                               self.process_id, self.executor_id, workflow.owner)
        if claimed is None or claimed.owner != self.process_id:
            return _Start(claimed or workflow, run=False)
        self.runs.begin(workflow.workflow_id)
        return _Start(claimed, run=True)

    def body_plan(self, workflow_function: _WorkflowFunction, workflow: _WorkflowRecord,
                  fresh: bool = False) -> _Plan[Any]:
        """Run a workflow body this process owns, and record its outcome. A cancelled workflow
        raises DBOSWorkflowCancelledError out of here, with nothing recorded. A ``fresh``
        workflow (just created) has nothing to replay."""
        context, tokens = self._enter_body(workflow_function, workflow, fresh)
        try:
            args, kwargs = self._body_inputs(workflow_function, workflow)
            try:
                value = yield _Call(workflow_function.func, args, kwargs)
                output = workflow_function.encode_output(value, workflow.workflow_id)
            except BaseException as exc:
                yield from self._body_failed_plan(context, exc)
                raise  # (_body_failed_plan raises)
            if not (yield from self._finish_plan(workflow.workflow_id,
                                                 WorkflowStatusString.SUCCESS, output, None)):
                raise self._why_stopped(workflow.workflow_id)
            return workflow_function.decode_output(output)
        finally:
            self._leave_body(workflow_function, workflow, tokens)

    def run_body(self, workflow_function: _WorkflowFunction, workflow: _WorkflowRecord,
                 fresh: bool = False) -> Any:
        """body_plan for a sync caller (a pool's thread), as _run_plan would drive it."""
        return _as_driver(self._body, workflow_function, workflow, fresh)

    def _body(self, baton: _Baton, me: int, workflow_function: _WorkflowFunction,
              workflow: _WorkflowRecord, fresh: bool) -> Any:
        """body_plan, driven in a thread that holds the baton, without a plan in the common
        case: the body returns and its outcome is recorded. (Generators and their driving
        cost 7% of a one-step workflow's instructions.) A failed body goes on in
        _body_failed_plan."""
        workflow_id = workflow.workflow_id
        context, tokens = self._enter_body(workflow_function, workflow, fresh)
        try:
            args, kwargs = self._body_inputs(workflow_function, workflow)
            try:
                value = _call_holding(baton, me, workflow_function.func, args, kwargs, None)
                output = workflow_function.encode_output(value, workflow_id)
            except BaseException as exc:
                _drive(baton, me, self._body_failed_plan(context, exc))
                raise  # (_body_failed_plan raises)
            try:
                recorded = _write_holding(baton, me, self._journal().finish_workflow,
                                          workflow_id, self.process_id,
                                          WorkflowStatusString.SUCCESS, output, None)
            except DBOSJournalError:  # (as in _finish_plan)
                _drive(baton, me, self._release_plan(workflow_id))
                raise
            if not recorded:
                raise self._why_stopped(workflow_id)
            return workflow_function.decode_output(output)
        finally:
            self._leave_body(workflow_function, workflow, tokens)

    def _enter_body(self, workflow_function: _WorkflowFunction, workflow: _WorkflowRecord,
                    fresh: bool) -> tuple[_WorkflowContext, list[tuple[contextvars.ContextVar,
                                                                      contextvars.Token]]]:
        """The context a body runs in, set; and the tokens that _leave_body resets."""
        workflow_id = workflow.workflow_id
        context = _WorkflowContext(workflow_id, workflow.deadline_epoch_ms,
                                   0 if fresh else self._journal().last_function_id(workflow_id))
        if workflow.deadline_epoch_ms is not None:
            self.runs.watch_deadline(workflow_id, workflow.deadline_epoch_ms)
        tokens: list[tuple[contextvars.ContextVar, contextvars.Token]] = [
            (_current_workflow, _current_workflow.set(context))]
        for variable, fresh_value in _BODY_CONTEXT:  # what the caller set does not leak in
            if variable.get() is not fresh_value:
                tokens.append((variable, variable.set(fresh_value)))
        return context, tokens

    def _body_inputs(self, workflow_function: _WorkflowFunction, workflow: _WorkflowRecord
                     ) -> tuple[tuple, dict[str, Any]]:
        args, kwargs = workflow_function.decode_inputs(workflow.inputs)
        if workflow.schedule_name is not None and args:
            args = (self._scheduled_time(workflow.schedule_name, args[0]), *args[1:])
        return args, kwargs

    def _body_failed_plan(self, context: _WorkflowContext, exc: BaseException
                          ) -> _Plan[typing.NoReturn]:
        """A body raised ``exc`` (or its return value could not be encoded): record what that
        means, and raise it again."""
        workflow_id = context.workflow_id
        if isinstance(exc, _JournalFailure):
            # The journal failed under an operation: not an outcome of the workflow.
            yield from self._release_plan(workflow_id)
            raise exc.error from None
        if isinstance(exc, Exception):
            if not (yield from self._finish_plan(workflow_id, WorkflowStatusString.ERROR, None,
                                                 _encode_error(exc))):
                raise self._why_stopped(workflow_id) from exc
            raise exc
        if isinstance(exc, DBOSWorkflowCancelledError):
            if context.deadline_ms is not None and _now_ms() >= context.deadline_ms:
                try:  # it passed its deadline: record it CANCELLED
                    yield _Write(self.cancel, [workflow_id])
                except DBOSJournalError:  # the next launch resumes it, and cancels it
                    yield from self._release_plan(workflow_id)
            raise exc
        if not isinstance(exc, _OwnershipLost):
            # KeyboardInterrupt, SystemExit...: not an outcome. The workflow stays PENDING and
            # owned by this live process, so nobody re-runs it behind the program's back;
            # calling it again with its id, DBOS.resume_workflow() or, once this process has
            # ended, the next launch resumes it.
            self.runs.strand(workflow_id)
            _logger.warning(
                "Workflow %s was interrupted by %s%s; it stays PENDING. Call it again with its "
                "id, or DBOS.resume_workflow(%r), to resume it (the next launch does too).",
                workflow_id, type(exc).__name__, f" ({exc})" if str(exc) else "", workflow_id)
        raise exc

    def _leave_body(self, workflow_function: _WorkflowFunction, workflow: _WorkflowRecord,
                    tokens: list[tuple[contextvars.ContextVar, contextvars.Token]]) -> None:
        """After a body, however it ended: its context reset, and whoever waits for it told."""
        for variable, token in reversed(tokens):
            variable.reset(token)
        if self.runs.end(workflow.workflow_id):
            self._resume_now(workflow_function, workflow.workflow_id)
        self.wakeups.notify(("workflow", workflow.workflow_id))
        if workflow.queue_name is not None:
            self.dispatcher.wake()  # a place in its queue is free

    def _scheduled_time(self, schedule_name: str, value: Any) -> Any:
        """A scheduled run's time as DBOS Transact passes it: aware, and in its schedule's
        zone (a ZoneInfo, whose rules date arithmetic then follows) when it is that zone's
        time; a trigger's time stays in UTC."""
        import datetime

        if isinstance(value, str):  # a parameter without an annotation
            value = msgspec.convert(value, datetime.datetime)
        if not isinstance(value, datetime.datetime) or value.tzinfo is None:
            return value
        schedule = self._journal().get_schedule(schedule_name)
        if schedule is None or schedule.cron_timezone is None:
            return value
        try:
            local = value.astimezone(_schedule_zone(schedule.cron_timezone))
        except Exception:  # a zone this machine does not know (any longer): the time as is
            return value
        return local if local.utcoffset() == value.utcoffset() else value

    def _finish_plan(self, workflow_id: str, status: str, output: str | None, error: str | None
        ) -> _Plan[bool]:
        """Record a workflow's outcome; a plan whose result says if this process still owned
        the workflow (and so recorded it)."""
        try:
            return (yield _Write(self._journal().finish_workflow, workflow_id, self.process_id,
                                 status, output, error))
        except DBOSJournalError:
            yield from self._release_plan(workflow_id)
            raise

    def _release_plan(self, workflow_id: str) -> _Plan[None]:
        """Leave a workflow PENDING and owned by nobody, for a later run to resume. If even that
        cannot be written (the journal is failing), remember it: this process may take the
        workflow up again although the journal says it owns it."""
        try:
            yield _Write(self._journal().release_workflow, workflow_id, self.process_id)
        except (DBOSJournalError, _OwnershipLost):
            self.runs.strand(workflow_id)

    def _resume_now(self, workflow_function: _WorkflowFunction, workflow_id: str) -> None:
        with contextlib.suppress(_OwnershipLost):
            workflow = self._journal().get_workflow(workflow_id)
            if workflow is not None and workflow.status == WorkflowStatusString.PENDING \
                    and workflow.owner == self.process_id:
                self.submit(workflow_function, workflow)

    @typing.overload
    def _why_stopped(self, workflow_id: str) -> BaseException: ...
    @typing.overload
    def _why_stopped(self, workflow_id: str, confirm: bool) -> BaseException | None: ...

    def _why_stopped(self, workflow_id: str, confirm: bool = False) -> BaseException | None:
        """Why this process may no longer record into a workflow: it was cancelled, or it is
        run elsewhere now (recovered by another process, deleted, or DBOS was destroyed).
        With ``confirm``, None if the journal shows the workflow is still this process's."""
        with contextlib.suppress(_OwnershipLost):
            workflow = self._journal().get_workflow(workflow_id)
            if workflow is not None and workflow.status == WorkflowStatusString.CANCELLED:
                return DBOSWorkflowCancelledError(
                    f"Workflow {workflow_id} is cancelled. Aborting function.")
            if confirm and workflow is not None and workflow.owner == self.process_id \
                    and workflow.status == WorkflowStatusString.PENDING:
                return None
        return _OwnershipLost(
            f"Workflow {workflow_id!r} is no longer owned by this process (it was recovered "
            "elsewhere, deleted, or DBOS was destroyed); this execution stops without recording."
        )

    # -- waiting --

    def _wait_plan(self, keys: list[tuple], check: Callable[[], Any], until: float | None,
                   context: _WorkflowContext | None = None, *,
                   for_seconds: float | None = None,
                   note: tuple[int, str, dict[str, Any]] | None = None) -> _Plan[Any]:
        """Wait until ``check()`` returns something other than _NOT_YET (its result), or until
        the epoch time ``until``, or ``for_seconds`` have passed (_NOT_YET). Recorded times are
        epoch times; a wait that records nothing (a retry's back-off) counts ``for_seconds`` on
        the monotonic clock, which a stepped wall clock does not move. Inside a workflow, the
        wait also ends when the workflow is cancelled or passes its deadline, by raising
        DBOSWorkflowCancelledError. A ``note`` (function id, kind, detail) is written to
        workflow_waits when the wait blocks, for tools that show what a workflow waits for."""
        result = check()  # already there (a finished workflow): no watch to set up
        if result is not _NOT_YET:
            return result
        ends = None if for_seconds is None else time.monotonic() + for_seconds
        wait = None
        if note is not None and context is not None:
            wait = _WaitRecord(context.workflow_id, note[0], note[1],
                               _encoder.encode(note[2]).decode(),
                               None if until is None else int(until * 1000), 0)
        if context is not None:
            keys = [*keys, ("workflow", context.workflow_id)]
            if context.deadline_ms is not None:
                deadline = context.deadline_ms / 1000
                until = deadline if until is None else min(until, deadline)
        with self.wakeups.watching(keys) as watch:
            while True:
                result = check()
                if result is not _NOT_YET:
                    return result
                if context is not None:
                    self._check_not_cancelled(context)
                remaining = None if until is None else until - time.time()
                if ends is not None:
                    left = ends - time.monotonic()
                    remaining = left if remaining is None else min(remaining, left)
                if remaining is not None and remaining <= 0:
                    return _NOT_YET
                if wait is not None:  # it blocks: say on what, once
                    yield _Write(self._journal().note_wait,
                                 msgspec.structs.replace(wait, since_epoch_ms=_now_ms()),
                                 self.process_id)
                    wait = None
                yield _Wait(watch, remaining)

    def _check_not_cancelled(self, context: _WorkflowContext) -> None:
        """Raise DBOSWorkflowCancelledError if the workflow was cancelled or is past its
        deadline (body_plan then records it CANCELLED). Writes nothing, and reads the journal
        only when told the workflow stopped: cancellations are noticed by cancel() in this
        process and by the housekeeper for other processes."""
        if context.deadline_ms is not None and _now_ms() >= context.deadline_ms:
            raise DBOSWorkflowCancelledError(  # body_plan records the cancellation
                f"Workflow {context.workflow_id} passed its deadline. Aborting function.")
        if context.workflow_id in self.runs.stops:
            stop = self._why_stopped(context.workflow_id, confirm=True)
            if stop is not None:
                raise stop
            self.runs.withdraw_stop(context.workflow_id)  # a false alarm: it was taken back

    def _await_plan(self, workflow_id: str, context: _WorkflowContext | None = None,
                    function_id: int | None = None) -> _Plan[_WorkflowRecord]:
        """Wait for a workflow to finish; its record. Inside a workflow, ``function_id`` is
        the operation that waits (noted if it blocks)."""
        journal = self._journal()

        def finished() -> Any:
            workflow = journal.get_workflow(workflow_id)
            if workflow is None:
                raise DBOSNonExistentWorkflowError(workflow_id)
            return workflow if workflow.status in _FINISHED else _NOT_YET

        note = None if function_id is None else (function_id, "result",
                                                 {"workflow_ids": [workflow_id]})
        return (yield from self._wait_plan([("workflow", workflow_id)], finished, None, context,
                                           note=note))

    # -- durable operations inside a workflow --

    def _replayed(self, context: _WorkflowContext, function_id: int, name: str
                  ) -> _OperationRecord | None:
        """The outcome recorded at ``function_id``, checked to be ``name``. Every durable
        operation starts here, so this is where a cancelled workflow stops."""
        if context.deadline_ms is not None or context.workflow_id in self.runs.stops:
            self._check_not_cancelled(context)  # (not called when it has nothing to look at)
        if function_id > context.recorded_until:
            return None
        lookup = self._journal().lookup_operation(context.workflow_id, function_id)
        if lookup.status != WorkflowStatusString.PENDING:
            raise self._why_stopped(context.workflow_id)
        recorded = lookup.operation
        if recorded is not None and recorded.function_name != name:
            raise DBOSUnexpectedStepError(context.workflow_id, function_id, name,
                                          recorded.function_name)
        return recorded

    def _operation(self, context: _WorkflowContext, function_id: int, name: str, *,
                   output: str | None = None, error: str | None = None,
                   child_workflow_id: str | None = None, started_at: int | None = None
                   ) -> _OperationRecord:
        now = _now_ms()
        return _OperationRecord(context.workflow_id, function_id, name, output, error,
                               child_workflow_id, started_at or now, now)

    def _record_plan(self, context: _WorkflowContext, function_id: int, name: str, *,
                     output: str | None = None, error: str | None = None,
                     child_workflow_id: str | None = None, started_at: int | None = None
                     ) -> _Plan[None]:
        """Record an operation's outcome (a plan): only while this process owns the workflow."""
        operation = self._operation(context, function_id, name, output=output, error=error,
                                    child_workflow_id=child_workflow_id, started_at=started_at)
        if not (yield _Write(self._journal().record_operation, operation, self.process_id)):
            raise self._why_stopped(context.workflow_id)

    def _recorded_deadline_plan(self, context: _WorkflowContext, function_id: int,
                                seconds: float | None) -> _Plan[float | None]:
        """A ``DBOS.sleep`` operation holding a wake-up time (epoch seconds, or None), recorded
        before the wait so that a restarted workflow keeps the original time."""
        recorded = self._replayed(context, function_id, "DBOS.sleep")
        if recorded is not None:
            return _decode_value(recorded.output, typing.Optional[float])
        until = None if seconds is None else time.time() + seconds
        yield from self._record_plan(context, function_id, "DBOS.sleep",
                                     output=_encode_value(until, "a wake-up time"))
        return until

    def step_plan(self, context: _WorkflowContext, step: _StepFunction, args: tuple,
                  kwargs: dict) -> _Plan[Any]:
        """A step in the workflow ``context`` records in: replay its recorded outcome, or run it
        with retries and record the outcome."""
        function_id = context.next_function_id()
        recorded = self._replayed(context, function_id, step.name)
        if recorded is not None:
            return _value_or_raise(recorded.output, recorded.error, step.return_type)
        return (yield from self._attempts_plan(context, step, function_id, _now_ms(), args,
                                               kwargs))

    def run_step(self, context: _WorkflowContext, step: _StepFunction, args: tuple,
                 kwargs: dict) -> Any:
        """step_plan for a sync caller, driven as _run_plan drives a plan but without one in
        its common cases, a replay and a first attempt that returns (driving a plan is a fifth
        of a step's instructions); a failed first attempt goes on in _attempts_plan."""
        baton = _baton
        me = threading.get_ident()
        _come_in(baton, me)
        function_id = context.next_function_id()
        try:  # (a journal failure or lost ownership leaves as it leaves _run_plan)
            recorded = self._replayed(context, function_id, step.name)
            if recorded is not None:
                return _value_or_raise(recorded.output, recorded.error, step.return_type)
            started_at = _now_ms()
            token = _current_step.set(step.status(function_id, 0))
            try:
                value = _call_holding(baton, me, step.func, args, kwargs, step)
            except Exception as exc:
                failed: Exception | None = exc
            else:
                failed = None
            finally:
                _current_step.reset(token)
            if failed is not None:
                return _run_plan(self._attempts_plan(context, step, function_id, started_at,
                                                     args, kwargs, failed))
            operation = self._step_outcome(context, step, function_id, started_at, value)
            if not _write_holding(baton, me, self._journal().record_operation, operation,
                                  self.process_id):
                raise self._why_stopped(context.workflow_id)
            return step.decode_output(operation.output)
        except (DBOSJournalError, _OwnershipLost) as exc:
            raise _error_leaving_plan(exc) from None

    def _step_outcome(self, context: _WorkflowContext, step: _StepFunction, function_id: int,
                      started_at: int, value: Any) -> _OperationRecord:
        """The operation that records a step's return value."""
        output = _encode_value(value, lambda: f"The return value of step {step.name!r} in "
                               f"workflow {context.workflow_id!r}")
        return _OperationRecord(context.workflow_id, function_id, step.name, output, None, None,
                                started_at, _now_ms())

    def _attempts_plan(self, context: _WorkflowContext, step: _StepFunction, function_id: int,
                       started_at: int, args: tuple, kwargs: dict,
                       failed: Exception | None = None) -> _Plan[Any]:
        """Run a step's attempts, with retries, and record its outcome. ``failed``: the error
        its first attempt already raised (in run_step)."""
        attempts = step.max_attempts if step.retries_allowed else 1
        errors: list[Exception] = []
        failure: Exception | None = None
        for attempt in range(attempts):
            token = _current_step.set(step.status(function_id, attempt))
            attempt_started_at = _now_ms() if attempt else started_at
            try:
                if failed is not None:
                    error, failed = failed, None
                    raise error
                value = yield _Call(step.func, args, kwargs, step)
            except Exception as exc:
                retry = step.retries_allowed
                if retry and step.should_retry is not None:
                    retry = (yield _Call(step.should_retry, (exc,), {})) is not False
                again = retry and attempt + 1 < attempts
                yield from self._failed_attempt_plan(
                    context, function_id, step.name, attempt, exc, attempt_started_at,
                    step.retry_delay(attempt) if again else None)
                if not retry:
                    failure = exc
                    break
                errors.append(exc)
            else:
                operation = self._step_outcome(context, step, function_id, started_at, value)
                # (_record_plan's two lines, without a generator in between)
                if not (yield _Write(self._journal().record_operation, operation,
                                     self.process_id)):
                    raise self._why_stopped(context.workflow_id)
                return step.decode_output(operation.output)
            finally:
                _current_step.reset(token)
            if attempt + 1 < attempts:
                delay = step.retry_delay(attempt)
                _logger.warning("Step %r failed (attempt %d of %d): %r; retrying in %.3g s.",
                               step.name, attempt + 1, attempts, errors[-1], delay)
                yield from self._wait_plan([], lambda: _NOT_YET, None, context,
                                           for_seconds=delay)
        if failure is None:
            failure = DBOSMaxStepRetriesExceeded(step.name, attempts, errors)
        yield from self._record_plan(context, function_id, step.name, error=_encode_error(failure),
                                     started_at=started_at)
        raise failure

    def _failed_attempt_plan(self, context: _WorkflowContext, function_id: int, name: str,
                             attempt: int, error: Exception, started_at: int,
                             retry_in_sec: float | None) -> _Plan[None]:
        """Record a failed attempt of a step (only failures write here), for the timeline."""
        now = _now_ms()
        record = _AttemptRecord(
            context.workflow_id, function_id, name, attempt, _encode_error(error), started_at,
            now, None if retry_in_sec is None else now + int(retry_in_sec * 1000))
        if not (yield _Write(self._journal().record_failed_attempt, record, self.process_id)):
            raise self._why_stopped(context.workflow_id)

    def call_plan(self, workflow_function: _WorkflowFunction, args: tuple, kwargs: dict
        ) -> _Plan[Any]:
        """Calling a workflow function: start it (or find it started), run its body here or wait
        for it, and return its result. Inside a workflow it is a child: operation N records the
        start, operation N+1 (``DBOS.getResult``) its result."""
        parent = _recording_context()
        if parent is None:
            start = yield from self._start_plan(workflow_function, args, kwargs, None, None, None)
            return (yield from self._result_plan(workflow_function, start, None))
        function_id = parent.next_function_id()
        result_id = parent.next_function_id()
        recorded = self._replayed(parent, function_id, workflow_function.name)
        if recorded is not None:
            result = self._replayed(parent, result_id, "DBOS.getResult")
            if result is not None:
                return _value_or_raise(result.output, result.error, workflow_function.return_type)
        start = yield from self._start_plan(workflow_function, args, kwargs, parent, function_id,
                                            recorded)
        child_id = start.workflow.workflow_id
        started_at = _now_ms()
        try:
            value = yield from self._result_plan(workflow_function, start, parent, result_id)
        except DBOSJournalError:
            raise  # the journal failed, not the child: nothing to record
        except Exception as exc:
            yield from self._record_plan(parent, result_id, "DBOS.getResult",
                                         error=_encode_error(exc), child_workflow_id=child_id,
                                         started_at=started_at)
            raise
        yield from self._record_plan(parent, result_id, "DBOS.getResult",
                                     output=_encode_value(value, "A child workflow's result"),
                                     child_workflow_id=child_id, started_at=started_at)
        return value

    def call_workflow(self, workflow_function: _WorkflowFunction, args: tuple, kwargs: dict
                      ) -> Any:
        """call_plan for a sync caller: outside any workflow, without a plan in the common
        case (a workflow created and run here; see _body)."""
        if _current_workflow.get() is not None:
            return _run_plan(self.call_plan(workflow_function, args, kwargs))
        baton = _baton
        me = threading.get_ident()
        _come_in(baton, me)
        try:
            start = self._start(baton, me, workflow_function, args, kwargs)
            if not start.run:
                return _drive(baton, me, self._result_plan(workflow_function, start, None))
            try:
                return self._body(baton, me, workflow_function, start.workflow, start.fresh)
            except DBOSWorkflowCancelledError:  # (as in _result_plan)
                raise DBOSAwaitedWorkflowCancelledError(start.workflow.workflow_id) from None
        except (DBOSJournalError, _OwnershipLost) as exc:
            raise _error_leaving_plan(exc) from None
        finally:
            if baton.active and _current_workflow.get() is None:
                baton.went_outside()  # back in code outside any workflow

    def _result_plan(self, workflow_function: _WorkflowFunction, start: _Start,
                     parent: _WorkflowContext | None, result_id: int | None = None
                     ) -> _Plan[Any]:
        workflow = start.workflow
        if start.run:
            try:
                return (yield from self.body_plan(workflow_function, workflow, start.fresh))
            except DBOSWorkflowCancelledError:
                raise DBOSAwaitedWorkflowCancelledError(workflow.workflow_id) from None
        if workflow.status not in _FINISHED:
            workflow = yield from self._await_plan(workflow.workflow_id, parent, result_id)
        elif parent is None and workflow.status == WorkflowStatusString.ERROR:
            # The caller may have fixed the code and run the program again: say that this
            # error is the recorded one, and how to run the workflow anew.
            _logger.warning(
                "Workflow %s already ended with an error, recorded in the journal; that error "
                "is raised again and the workflow is not run. To run it anew, use a new "
                "workflow id, DBOS.fork_workflow(%r, 1), or DBOS.delete_workflow(%r) first.",
                workflow.workflow_id, workflow.workflow_id, workflow.workflow_id)
        return _workflow_result(workflow, workflow_function.return_type)

    def start(self, workflow_function: _WorkflowFunction, args: tuple, kwargs: dict
              ) -> _Start:
        """start_plan for a sync caller: outside any workflow, without a plan when the start
        creates the workflow."""
        if _current_workflow.get() is not None:
            return _run_plan(self.start_plan(workflow_function, args, kwargs))
        _refuse_enqueue_settings()
        return _as_driver(self._start, workflow_function, args, kwargs)

    def start_plan(self, workflow_function: _WorkflowFunction, args: tuple, kwargs: dict
        ) -> _Plan[_Start]:
        """``DBOS.start_workflow``: record the start here; the caller runs the body in the
        background if ``run``. Inside a workflow the start is operation N of the parent."""
        _refuse_enqueue_settings()
        parent = _recording_context()
        function_id = recorded = None
        if parent is not None:
            function_id = parent.next_function_id()
            recorded = self._replayed(parent, function_id, workflow_function.name)
        return (yield from self._start_plan(workflow_function, args, kwargs, parent, function_id,
                                            recorded))

    def enqueue_plan(self, workflow_function: _WorkflowFunction, args: tuple, kwargs: dict,
                     queue_name: str, settings: _EnqueueSettings | None = None
                     ) -> _Plan[str]:
        """Put a workflow on a queue, ENQUEUED (DELAYED first with a delay) until a process
        that works the queue takes it; the workflow's id. If this process works the queue and
        has room, it takes the workflow in the same transaction and starts it at once.
        Inside a workflow the enqueue is operation N of the parent: replay enqueues nothing
        again. An existing id (SetWorkflowID) enqueues nothing either."""
        journal = self._journal()
        if _current_step.get() is not None:
            raise _inside_step(f"Enqueuing workflow {workflow_function.name!r}")
        settings = settings or _enqueue_settings.get() or _EnqueueSettings()
        policy = settings.duplication_policy
        if policy not in (None, "reject", "return-existing"):
            raise DBOSException(f"Invalid duplication_policy {policy}. Must be either 'reject' "
                                "or 'return-existing'.")
        if policy == "return-existing" and settings.deduplication_id is None:
            raise DBOSException("duplication_policy 'return-existing' requires a "
                                "deduplication_id.")
        if settings.queue_partition_key is not None and settings.deduplication_id is not None:
            raise DBOSException("Deduplication is not supported for partitioned queues")
        parent = _recording_context()
        function_id = None
        if parent is not None:
            function_id = parent.next_function_id()
            recorded = self._replayed(parent, function_id, workflow_function.name)
            if recorded is not None:
                _take_assigned_workflow_id()
                if recorded.error is not None:
                    raise _decode_error(recorded.error)  # type: ignore[misc]
                return recorded.child_workflow_id  # type: ignore[return-value]
        workflow_id, reuse = _take_assigned_id_and_policy()
        if workflow_id is None:
            workflow_id = _new_workflow_id() if parent is None \
                else f"{parent.workflow_id}-{function_id}"
        now = _now_ms()
        timeout = _workflow_timeout.get()
        timeout_ms = deadline_ms = None  # a queued workflow's deadline starts when it starts
        if timeout == _INHERIT:
            deadline_ms = parent.deadline_ms if parent is not None else None
        elif timeout is not None:
            timeout_ms = int(float(timeout) * 1000)
        delayed = settings.delay_until_ms is not None and settings.delay_until_ms > now
        priority = settings.priority or 0
        key, deduplication_id = settings.queue_partition_key, settings.deduplication_id
        row = _WorkflowRecord(
            workflow_id, WorkflowStatusString.DELAYED if delayed else WorkflowStatusString.ENQUEUED,
            workflow_function.name, workflow_function.encode_inputs(args, kwargs), None, None,
            self.executor_id, None, settings.app_version or self.application_version, now, now,
            0, workflow_function.max_recovery_attempts,
            parent.workflow_id if parent is not None else None, queue_name, timeout_ms,
            deadline_ms, None, workflow_function.class_name, workflow_function.config_name,
            priority, key, deduplication_id, settings.delay_until_ms, None)
        entry = _QueueEntry(workflow_id, queue_name, priority, key, deduplication_id,
                            settings.delay_until_ms if delayed else None, settings.app_version)
        link = None
        if parent is not None:
            assert function_id is not None
            link = _OperationRecord(parent.workflow_id, function_id, workflow_function.name,
                                   None, None, workflow_id, now, now)

        def admit(queue: _QueueRecord | None) -> None:
            if queue is None:
                raise DBOSException(
                    f"Workflow {workflow_id!r} was not enqueued: no queue is named "
                    f"{queue_name!r} in the journal. Register it first with "
                    f"DBOS.register_queue({queue_name!r}).")
            if queue.partitioned and key is None:
                raise DBOSException(
                    f"Workflow {workflow_id!r} was not enqueued: queue {queue_name!r} is "
                    "partitioned, so each workflow needs a partition key. Enqueue it inside "
                    "SetEnqueueOptions(queue_partition_key=...).")

        claimant = self.claimant() if self.listens(queue_name) else None
        outcome = yield _Write(journal.enqueue_workflow, row, entry, link, admit, claimant)
        if outcome.workflow is None:  # another workflow holds the deduplication id
            if policy == "return-existing":
                if parent is not None:
                    assert function_id is not None
                    yield from self._record_plan(parent, function_id, workflow_function.name,
                                                 child_workflow_id=outcome.holder)
                return outcome.holder
            error = DBOSQueueDeduplicatedError(workflow_id, queue_name, deduplication_id)
            if parent is not None:
                assert function_id is not None
                yield from self._record_plan(parent, function_id, workflow_function.name,
                                             error=_encode_error(error))
            raise error
        existing = outcome.workflow
        if not outcome.created and reuse == "reject":
            raise DBOSWorkflowIDInUseError(workflow_id, existing.status, existing.name)
        if not outcome.created and _conflict(existing, workflow_function):
            raise DBOSConflictingWorkflowError(workflow_id, _conflict(existing, workflow_function))
        if outcome.dispatch is not None:
            self.run_claimed(outcome.dispatch.claimed)
            if outcome.dispatch.wake_at_ms is not None or not outcome.dispatch.claimed:
                self.dispatcher.wake()  # to wait for a free place, a delay or a rate window
        return workflow_id

    def debounce_plan(self, workflow_function: _WorkflowFunction, args: tuple, kwargs: dict,
                      queue_name: str | None, key: str, period_sec: float,
                      timeout_sec: float | None) -> _Plan[str]:
        """``Debouncer.debounce``: the calls with one key inside ``period_sec`` of each other
        share one workflow, DELAYED until the period passes with no new call (or until
        ``timeout_sec`` after the first call), which then runs once with the latest
        arguments. Its id. Inside a workflow, recorded (``DBOS.debounce_delayed_workflow``)."""
        journal = self._journal()
        if _current_step.get() is not None:
            raise _inside_step(f"Debouncing workflow {workflow_function.name!r}")
        _refuse_debounce_settings(_enqueue_settings.get())
        parent = _recording_context()
        function_id = None
        if parent is not None:
            function_id = parent.next_function_id()
            recorded = self._replayed(parent, function_id, "DBOS.debounce_delayed_workflow")
            if recorded is not None:
                _take_assigned_workflow_id()
                return _value_or_raise(recorded.output, recorded.error, str)
        if queue_name is None:
            queue_name = _INTERNAL_QUEUE.name
            if not self._has_internal_queue:
                yield _Write(journal.put_queue, _INTERNAL_QUEUE, False)
                self._has_internal_queue = True
        workflow_id = _take_assigned_workflow_id() or _new_workflow_id()
        now = _now_ms()
        deduplication_id = f"{workflow_function.name}-{key}"
        row = _WorkflowRecord(
            workflow_id, WorkflowStatusString.DELAYED, workflow_function.name,
            workflow_function.encode_inputs(args, kwargs), None, None, self.executor_id, None,
            self.application_version, now, now, 0, workflow_function.max_recovery_attempts,
            None, queue_name, None, None, None, workflow_function.class_name,
            workflow_function.config_name, 0, None, deduplication_id, None, None)
        entry = _QueueEntry(workflow_id, queue_name, 0, None, None, None, None)

        def admit(queue: _QueueRecord | None) -> None:
            if queue is None:
                raise DBOSException(f"Invalid queue name provided to debouncer: {queue_name}")

        found = yield _Write(journal.debounce_workflow, row, entry, int(period_sec * 1000),
                             None if timeout_sec is None else int(timeout_sec * 1000), admit)
        if parent is not None:
            assert function_id is not None
            yield from self._record_plan(parent, function_id, "DBOS.debounce_delayed_workflow",
                                         output=_encode_value(found, "A workflow id"))
        if self.listens(queue_name):
            self.dispatcher.wake()  # to start it when its delay ends
        return found

    def get_result_plan(self, workflow_id: str, return_type: Any) -> _Plan[Any]:
        """``handle.get_result()`` and ``DBOS.get_result``: wait for a workflow; inside a
        workflow, a recorded ``DBOS.getResult`` operation. A ``return_type`` of None stands for
        the return type of the workflow's registered function. DBOSNonExistentWorkflowError if
        there is no such workflow (recorded too, inside a workflow)."""
        context = _recording_context()
        if context is None:
            workflow = yield from self._await_plan(workflow_id)
            return _workflow_result(workflow, self._result_type(workflow_id, return_type,
                                                                workflow))
        function_id = context.next_function_id()
        recorded = self._replayed(context, function_id, "DBOS.getResult")
        if recorded is not None:
            return _value_or_raise(recorded.output, recorded.error,
                                   self._result_type(workflow_id, return_type))
        started_at = _now_ms()
        try:
            workflow = yield from self._await_plan(workflow_id, context, function_id)
            value = _workflow_result(workflow, self._result_type(workflow_id, return_type,
                                                                 workflow))
        except Exception as exc:
            if isinstance(exc, DBOSJournalError):
                raise  # the journal failed, not the awaited workflow: nothing to record
            yield from self._record_plan(context, function_id, "DBOS.getResult",
                                         error=_encode_error(exc), child_workflow_id=workflow_id,
                                         started_at=started_at)
            raise
        yield from self._record_plan(context, function_id, "DBOS.getResult", output=workflow.output,
                                     child_workflow_id=workflow_id, started_at=started_at)
        return value

    def _result_type(self, workflow_id: str, return_type: Any,
                     workflow: _WorkflowRecord | None = None) -> Any:
        """``return_type``, or for None the return type of the workflow's function (Any if the
        workflow is gone or this process lacks its function)."""
        if return_type is not None:
            return return_type
        if workflow is None:
            workflow = self._journal().get_workflow(workflow_id)
        return Any if workflow is None else _return_type_of(workflow.name)

    def wait_first_plan(self, workflow_ids: list[str]) -> _Plan[str]:
        """``DBOS.wait_first``: the id of the first of ``workflow_ids`` (in their order) that
        has finished, waiting until one has; inside a workflow recorded as ``DBOS.waitFirst``.
        DBOSNonExistentWorkflowError if, while none has finished, one of them is not in the
        journal: it would never finish."""
        journal = self._journal()

        def first_finished() -> Any:
            statuses = journal.statuses_of(workflow_ids)
            for workflow_id, status in zip(workflow_ids, statuses):
                if status in _FINISHED:
                    return workflow_id
            for workflow_id, status in zip(workflow_ids, statuses):
                if status is None:
                    raise DBOSNonExistentWorkflowError(workflow_id)
            return _NOT_YET

        keys = [("workflow", workflow_id) for workflow_id in workflow_ids]
        context = _recording_context()
        if context is None:
            return (yield from self._wait_plan(keys, first_finished, None))
        function_id = context.next_function_id()
        recorded = self._replayed(context, function_id, "DBOS.waitFirst")
        if recorded is not None:
            return _value_or_raise(recorded.output, recorded.error, str)
        started_at = _now_ms()
        try:
            found = yield from self._wait_plan(
                keys, first_finished, None, context,
                note=(function_id, "first", {"workflow_ids": workflow_ids}))
        except DBOSNonExistentWorkflowError as exc:
            yield from self._record_plan(context, function_id, "DBOS.waitFirst",
                                         error=_encode_error(exc), started_at=started_at)
            raise
        yield from self._record_plan(context, function_id, "DBOS.waitFirst",
                                     output=_encode_value(found, "A workflow id"),
                                     started_at=started_at)
        return found

    def sleep_plan(self, seconds: float) -> _Plan[None]:
        """``DBOS.sleep``: the wake-up time is recorded first, so a workflow restarted after a
        crash wakes at the original time. A cancellation ends the sleep at once."""
        seconds = _duration(seconds, "DBOS.sleep() seconds")
        context = self._workflow_context("DBOS.sleep()")
        if seconds <= 0:
            return None
        until = yield from self._recorded_deadline_plan(context, context.next_function_id(),
                                                        seconds)
        yield from self._wait_plan([], lambda: _NOT_YET, until, context)
        return None

    def _workflow_context(self, what: str) -> _WorkflowContext:
        context = _current_workflow.get()
        if _current_step.get() is not None:
            raise _inside_step(what)
        if context is None:
            raise DBOSException(f"{what} must be called from within a workflow.")
        return context

    # -- messages --

    def send_plan(self, records: list[_MessageRecord], name: str = "DBOS.send"
                  ) -> _Plan[None]:
        """Queue messages for workflows, all in one transaction; inside a workflow they are
        recorded as one operation (``DBOS.send``, or ``DBOS.send_bulk``) and not sent again
        on replay."""
        journal = self._journal()
        context = _recording_context()
        if context is None:
            yield _Write(journal.send_messages, records, None, self.process_id)
        else:
            function_id = context.next_function_id()
            recorded = self._replayed(context, function_id, name)
            if recorded is not None:
                _value_or_raise(None, recorded.error, Any)
                return
            operation = self._operation(context, function_id, name)
            try:
                sent = yield _Write(journal.send_messages, records, operation, self.process_id)
            except DBOSNonExistentWorkflowError as exc:
                yield from self._record_plan(context, function_id, name,
                                             error=_encode_error(exc))
                raise
            if not sent:
                raise self._why_stopped(context.workflow_id)
        self.wakeups.notify(*[("message", record.destination_id) for record in records])

    def recv_plan(self, topic: str | None, timeout_seconds: float | None) -> _Plan[Any]:
        """``DBOS.recv``: the oldest message of the topic, taken and recorded in one transaction
        (``DBOS.recv``, after a ``DBOS.sleep`` holding the timeout); None on timeout."""
        timeout_seconds = _duration(timeout_seconds, "DBOS.recv() timeout_seconds",
                                    optional=True)
        context = self._workflow_context("DBOS.recv()")
        journal = self._journal()
        receive_id = context.next_function_id()
        sleep_id = context.next_function_id()
        recorded = self._replayed(context, receive_id, "DBOS.recv")
        if recorded is not None:
            return _value_or_raise(recorded.output, recorded.error, Any)
        until = yield from self._recorded_deadline_plan(context, sleep_id, timeout_seconds)
        workflow_id, topic_key = context.workflow_id, _topic(topic)
        template = self._operation(context, receive_id, "DBOS.recv")

        def arrived() -> Any:
            return True if journal.has_message(workflow_id, topic_key) else _NOT_YET

        note = (receive_id, "recv", {"topic": topic})
        while (yield from self._wait_plan([("message", workflow_id)], arrived, until,
                                          context, note=note)) is not _NOT_YET:
            try:
                received = yield _Write(journal.receive_message, workflow_id, topic_key,
                                        template, self.process_id)
            except _NotOwner:
                raise self._why_stopped(workflow_id) from None
            if received is not None:
                return _decode_value(received.output)
        output = _encode_value(None, "")  # timed out
        yield from self._record_plan(context, receive_id, "DBOS.recv", output=output)
        return _decode_value(output)

    # -- events --

    def set_event_plan(self, key: str, value: Any) -> _Plan[None]:
        """Publish a key's value for the current workflow (recorded as ``DBOS.setEvent``;
        from a step, published without a record)."""
        context = _current_workflow.get()
        if context is None:
            raise DBOSException("DBOS.set_event() must be called from within a workflow or step.")
        encoded = _encode_value(value, f"The value of event {key!r}")
        operation = None
        if _recording_context() is not None:
            function_id = context.next_function_id()
            if self._replayed(context, function_id, "DBOS.setEvent") is not None:
                return
            operation = self._operation(context, function_id, "DBOS.setEvent")
        if not (yield _Write(self._journal().set_event, context.workflow_id, key, encoded,
                             operation, self.process_id)):
            raise self._why_stopped(context.workflow_id)
        self.wakeups.notify(("event", context.workflow_id))

    def get_event_plan(self, workflow_id: str, key: str, timeout_seconds: float | None
        ) -> _Plan[Any]:
        """``DBOS.get_event``: wait for a key's value; inside a workflow the value is recorded
        (``DBOS.getEvent``, after a ``DBOS.sleep`` holding the timeout)."""
        timeout_seconds = _duration(timeout_seconds, "DBOS.get_event() timeout_seconds",
                                    optional=True)
        journal = self._journal()

        def value() -> Any:
            found = journal.get_event(workflow_id, key)
            return _NOT_YET if found is None else found

        context = _recording_context()
        if context is None:
            until = None if timeout_seconds is None else time.time() + timeout_seconds
            found = yield from self._wait_plan([("event", workflow_id)], value, until)
            return None if found is _NOT_YET else _decode_value(found)
        event_id = context.next_function_id()
        sleep_id = context.next_function_id()
        recorded = self._replayed(context, event_id, "DBOS.getEvent")
        if recorded is not None:
            return _value_or_raise(recorded.output, recorded.error, Any)
        until = yield from self._recorded_deadline_plan(context, sleep_id, timeout_seconds)
        found = yield from self._wait_plan(
            [("event", workflow_id)], value, until, context,
            note=(event_id, "event", {"workflow_id": workflow_id, "key": key}))
        output = _encode_value(None, "") if found is _NOT_YET else found
        yield from self._record_plan(context, event_id, "DBOS.getEvent", output=output)
        return _decode_value(output)

    def get_all_events_plan(self, workflow_id: str) -> _Plan[dict[str, Any]]:
        """Every event of a workflow; inside a workflow recorded as ``DBOS.get_events``."""
        context = _recording_context()
        if context is not None:
            function_id = context.next_function_id()
            recorded = self._replayed(context, function_id, "DBOS.get_events")
            if recorded is not None:
                return _value_or_raise(recorded.output, recorded.error, dict[str, Any])
        events = self._journal().get_all_events(workflow_id)
        output = _encoder.encode({k: msgspec.Raw(v.encode()) for k, v in events.items()}).decode()
        if context is not None:
            yield from self._record_plan(context, function_id, "DBOS.get_events", output=output)
        return _decode_value(output, dict[str, Any])

    # -- streams --

    def write_stream_plan(self, key: str, value: Any, close: bool = False) -> _Plan[None]:
        """Append to (or, with ``close``, close) a stream of the current workflow; recorded as
        ``DBOS.writeStream``/``DBOS.closeStream`` (from a step, written without a record)."""
        what = "DBOS.close_stream()" if close else "DBOS.write_stream()"
        context = _current_workflow.get()
        if context is None:
            raise DBOSException(f"{what} must be called from within a workflow or step.")
        encoded = None if close else _encode_value(value, f"The value written to stream {key!r}")
        operation = None
        if _recording_context() is not None:
            name = "DBOS.closeStream" if close else "DBOS.writeStream"
            function_id = context.next_function_id()
            if self._replayed(context, function_id, name) is not None:
                return
            operation = self._operation(context, function_id, name)
        if not (yield _Write(self._journal().write_stream, context.workflow_id, key, encoded,
                             operation, self.process_id)):
            raise self._why_stopped(context.workflow_id)
        self.wakeups.notify(("stream", context.workflow_id))

    def read_stream_plan(self, workflow_id: str, key: str, offset: int,
                         timeout_seconds: float | None = None, name: str = "DBOS.readStream"
                         ) -> _Plan[Any]:
        """The stream's value at ``offset`` (JSON text), waiting for it; _STREAM_END once the
        stream is closed, or its workflow finished without writing more;
        DBOSStreamTimeoutError once ``timeout_seconds`` passed without it. Inside a workflow
        each value read is recorded (``name``; the end as a row without output, a timeout as
        its error)."""
        journal = self._journal()
        next_value = functools.partial(_next_stream_value, journal, workflow_id, key, offset)
        keys = [("stream", workflow_id), ("workflow", workflow_id)]
        timed_out = DBOSStreamTimeoutError(workflow_id, key, timeout_seconds)
        context = _recording_context()
        if context is None:
            value = yield from self._wait_plan(keys, next_value, None,
                                               for_seconds=timeout_seconds)
            if value is _NOT_YET:
                raise timed_out
            return value
        function_id = context.next_function_id()
        recorded = self._replayed(context, function_id, name)
        if recorded is not None:
            if recorded.error is not None:
                _value_or_raise(None, recorded.error, Any)
            return _STREAM_END if recorded.output is None else recorded.output
        value = yield from self._wait_plan(
            keys, next_value, None, context, for_seconds=timeout_seconds,
            note=(function_id, "stream", {"workflow_id": workflow_id, "key": key}))
        if value is _NOT_YET:
            yield from self._record_plan(context, function_id, name,
                                         error=_encode_error(timed_out))
            raise timed_out
        yield from self._record_plan(context, function_id, name,
                                     output=None if value is _STREAM_END else value)
        return value

    # -- management --

    def cancel(self, workflow_ids: list[str], cancel_children: bool = False) -> None:
        """Mark workflows CANCELLED; each stops at its next durable operation."""
        journal = self._journal()
        ids = list(workflow_ids)
        if cancel_children:
            ids += [child for w in workflow_ids for child in journal.list_descendants(w)]
        journal.cancel_workflows(ids)
        self.runs.request_stop(ids)
        self.wakeups.notify(*[("workflow", w) for w in ids])

    def resume(self, workflow_ids: list[str], queue_name: str | None = None) -> None:
        """Continue cancelled, dead-lettered or orphaned workflows from their last completed
        step, in this process (or, if this process lacks a function, in one that has it); with
        ``queue_name``, ENQUEUED on that queue instead. Nothing is resumed if one is absent."""
        journal = self._journal()
        _refuse_missing(journal, workflow_ids)
        if queue_name is None:
            for workflow_id in workflow_ids:
                self._resume_here(workflow_id)
            return
        queue = journal.get_queue(queue_name)
        if queue is None:
            raise DBOSException(f"Nothing was resumed: no queue is named {queue_name!r} in the "
                                f"journal. Register it first with "
                                f"DBOS.register_queue({queue_name!r}).")
        now = _now_ms()
        live = [p.process_id for p in journal.list_processes() if _process_is_alive(p, now)]
        for workflow_id in workflow_ids:
            if journal.requeue_workflow(workflow_id, queue, live) is not None:
                self.wakeups.notify(("workflow", workflow_id))
        self.dispatcher.wake()

    def _resume_here(self, workflow_id: str) -> None:
        journal = self._journal()
        workflow = journal.get_workflow(workflow_id)
        if workflow is None:
            return  # deleted since
        if workflow.status in (WorkflowStatusString.SUCCESS, WorkflowStatusString.ERROR):
            return
        if workflow.status == WorkflowStatusString.PENDING and workflow.owner is not None \
                and not self.runs.is_stranded(workflow.workflow_id):
            owner = next((p for p in journal.list_processes()
                          if p.process_id == workflow.owner), None)
            if owner is not None and _process_is_alive(owner, _now_ms()):
                return  # it is running
        function = _runnable(workflow)
        owner = self.process_id if function is not None else None
        running_here, resumed = self.runs.resume(
            workflow_id, lambda: journal.resume_workflow(workflow_id, owner or "",
                                                         self.executor_id))
        if resumed is None:
            return
        if function is None:
            journal.release_workflow(workflow_id, "")
        elif not running_here:
            self.submit(function, resumed)
        self.wakeups.notify(("workflow", workflow_id))

    def fork(self, workflow_id: str, start_step: int, application_version: str | None,
             timeout_ms: int | None = None) -> str:
        """Start a new workflow with the original's inputs, reusing the outcomes the original
        recorded before operation ``start_step`` (with a timeout of its own, if given)."""
        journal = self._journal()
        original = journal.get_workflow(workflow_id)
        if original is None:
            raise DBOSNonExistentWorkflowError(workflow_id)
        function = _runnable(original)
        new_id = _take_assigned_workflow_id() or _new_workflow_id()
        now = _now_ms()
        fork = msgspec.structs.replace(
            original, workflow_id=new_id, status=WorkflowStatusString.PENDING, output=None,
            error=None, executor_id=self.executor_id,
            owner=self.process_id if function is not None else None,
            application_version=application_version or original.application_version,
            created_at=now, updated_at=now, recovery_attempts=1, parent_workflow_id=None,
            queue_name=None, timeout_ms=timeout_ms,
            deadline_epoch_ms=None if timeout_ms is None else now + timeout_ms,
            forked_from=workflow_id,
        )
        journal.fork_workflow(fork, workflow_id, max(1, int(start_step)))
        if function is not None:
            self.submit(function, fork)
        return new_id

    def delete(self, workflow_ids: list[str], delete_children: bool) -> None:
        journal = self._journal()
        ids = list(workflow_ids)
        if delete_children:
            ids += [child for w in workflow_ids for child in journal.list_descendants(w)]
        journal.delete_workflows(ids)
        self.runs.request_stop(ids)
        self.wakeups.notify(*[("workflow", w) for w in ids])

    def patch_plan(self, name: str, deprecated: bool) -> _Plan[bool]:
        """``DBOS.patch``: True on the new code path. A workflow that recorded something else
        at this position started before the patch and takes the old path (False)."""
        context = self._workflow_context("DBOS.patch()")
        marker = f"DBOS.patch-{name}"
        function_id = context.function_id + 1
        self._check_not_cancelled(context)
        recorded = None
        if function_id <= context.recorded_until:
            recorded = self._journal().lookup_operation(context.workflow_id,
                                                        function_id).operation
        if recorded is not None and recorded.function_name == marker:
            context.function_id = function_id
            return True
        if deprecated:
            return True
        if recorded is not None:
            return False
        context.function_id = function_id
        yield from self._record_plan(context, function_id, marker)
        return True


def _refuse_missing(journal: _Journal, workflow_ids: list[str]) -> None:
    """DBOSNonExistentWorkflowError naming every id of ``workflow_ids`` not in the journal
    (DBOS Transact checks them all before resuming any)."""
    missing = [w for w in workflow_ids if journal.get_workflow(w) is None]
    if len(missing) == 1:
        raise DBOSNonExistentWorkflowError(missing[0])
    if missing:
        error = DBOSNonExistentWorkflowError(", ".join(missing))
        error._message = ("Workflows {workflow_id} do not exist in the journal; nothing was "
                          "resumed.")
        raise error


# The executor of the process's DBOS instance: set by DBOS(config=...), cleared by destroy().
_process_executor: _Executor | None = None


def _launched() -> _Executor:
    """The process's executor, once DBOS.launch() opened its journal."""
    global _process_executor
    executor = _process_executor
    if executor is None or executor.journal is None:
        raise DBOSException(
            "DBOS is not launched: call DBOS(config=...) and then DBOS.launch() before starting "
            "or querying workflows."
        )
    if executor.pid != _this_pid():  # in a child forked after launch
        executor = _process_executor = executor.for_this_process()
    return executor


# ==== Management: looking at workflows, with a journal and no executor ====
#
# What the facade and tools outside the program (a client, a command line) share: statuses,
# listings, recorded steps and the timeline of a workflow, read from a journal and decoded
# with the registered functions' types where this process has them; and _Steering, the few
# writes such a tool may ask for, none of which runs, claims or recovers a workflow.


class _Management:
    """Read-side verbs over one journal. They never run, claim or recover a workflow."""

    def __init__(self, journal: _Journal):
        self.journal = journal

    def get_workflow_status(self, workflow_id: str) -> WorkflowStatus | None:
        workflow = self.journal.get_workflow(workflow_id)
        if workflow is None:
            return None
        return _status_from_record(workflow, forked=self.journal.forked_from_any([workflow_id]))

    def return_type(self, workflow_id: str) -> Any:
        """The return type of an existing workflow's function (Any if this process lacks it);
        DBOSNonExistentWorkflowError if there is no such workflow."""
        workflow = self.journal.get_workflow(workflow_id)
        if workflow is None:
            raise DBOSNonExistentWorkflowError(workflow_id)
        return _return_type_of(workflow.name)

    def list_workflows(self, query: _WorkflowFilter, load_input: bool = True,
                       load_output: bool = True) -> list[WorkflowStatus]:
        records = self.journal.list_workflows(query)
        forked = self.journal.forked_from_any([w.workflow_id for w in records]) \
            if records else set()
        return [_status_from_record(w, load_input, load_output, forked) for w in records]

    def backup(self, path: str) -> None:
        self.journal.backup(os.path.abspath(path))

    def list_schedules(self, status: str | list[str] | None = None,
                       workflow_name: str | list[str] | None = None,
                       schedule_name_prefix: str | list[str] | None = None,
                       application_name: str | list[str] | None = None
                       ) -> list[WorkflowSchedule]:
        """The schedules, oldest first, filtered as ``DBOS.list_schedules`` filters them."""
        filters = (_name_list(status, "status"), _name_list(workflow_name, "workflow_name"),
                   _name_list(schedule_name_prefix, "schedule_name_prefix"))
        applications = _name_list(application_name, "application_name")
        owner = self.journal.application_name()
        if applications is not None and owner not in applications:
            return []
        return [_schedule_view(record, owner) for record in self.journal.list_schedules(*filters)]

    def get_schedule(self, name: str) -> WorkflowSchedule | None:
        record = self.journal.get_schedule(name)
        return None if record is None else _schedule_view(record, self.journal.application_name())

    def schedule(self, name: str) -> _ScheduleRecord:
        """The schedule named ``name`` (DBOSException if there is none, DBOS's words)."""
        record = self.journal.get_schedule(name)
        if record is None:
            raise DBOSException(f"Schedule '{name}' does not exist")
        return record

    def list_workflow_steps(self, workflow_id: str) -> list[StepInfo]:
        return [
            StepInfo(
                function_id=op.function_id, function_name=op.function_name,
                output=_decode_value(op.output), error=_decode_error(op.error),
                child_workflow_id=op.child_workflow_id,
                started_at_epoch_ms=op.started_at_epoch_ms,
                completed_at_epoch_ms=op.completed_at_epoch_ms,
            )
            for op in self.journal.list_operations(workflow_id)
        ]


    def timeline(self, workflow_id: str, *, depth: int = 4) -> _Timeline | None:
        """The story of one workflow as plain data (None if there is no such workflow): its
        status, times and owner; each operation with its failed attempts; its children as a
        tree (``depth`` levels); and, while it is not finished, what it waits for now."""
        journal = self.journal
        workflow = journal.get_workflow(workflow_id)
        if workflow is None:
            return None
        now = _now_ms()
        processes = {p.process_id: p for p in journal.list_processes()}
        alive = {p.process_id for p in processes.values() if _process_is_alive(p, now)}
        operations = journal.list_operations(workflow_id)
        attempts: dict[int, list[_AttemptRecord]] = {}
        for attempt in journal.list_attempts(workflow_id):
            attempts.setdefault(attempt.function_id, []).append(attempt)
        linked = [op.child_workflow_id for op in operations if op.child_workflow_id]
        child_status = dict(zip(linked, journal.statuses_of(linked)))
        steps = [_timeline_step(op, attempts.pop(op.function_id, []),
                                child_status.get(op.child_workflow_id or ""))
                 for op in operations]
        unfinished = workflow.status not in _FINISHED
        for function_id, failed in sorted(attempts.items()):  # a step not recorded (yet)
            steps.append(_TimelineStep(
                function_id, failed[-1].function_name, failed[0].started_at_epoch_ms, None,
                None, "running" if unfinished else "interrupted",
                f"{len(failed)} failed attempt{'s' * (len(failed) > 1)}", None, None,
                [_timeline_attempt(a) for a in failed]))
        steps.sort(key=lambda step: step.function_id)
        owner = None
        if workflow.owner is not None:
            process = processes.get(workflow.owner)
            owner = _TimelineOwner(
                workflow.owner, workflow.executor_id, process.host if process else None,
                process.pid if process else None, workflow.owner in alive,
                process.heartbeat_at if process else None)
        waiting = []
        if unfinished:
            live = [processes[p] for p in alive]
            waiting = _waiting_for(journal, workflow, operations, steps, owner, live, now)
        return _Timeline(
            workflow_id=workflow.workflow_id, name=workflow.name, status=workflow.status,
            created_at_ms=workflow.created_at, updated_at_ms=workflow.updated_at,
            ended_at_ms=None if unfinished else workflow.updated_at,
            executor_id=workflow.executor_id, application_version=workflow.application_version,
            queue_name=workflow.queue_name, parent_workflow_id=workflow.parent_workflow_id,
            forked_from=workflow.forked_from, recovery_attempts=workflow.recovery_attempts,
            owner=owner, output=_value_line(workflow.output),
            error=_error_line(workflow.error), steps=steps,
            children=self._children(workflow_id, depth), waiting=waiting, now_ms=now)

    def _children(self, workflow_id: str, depth: int) -> list[_TimelineChild]:
        if depth <= 0:
            return []
        rows = self.journal.list_workflows(_WorkflowFilter(parent_workflow_id=workflow_id))
        return [_TimelineChild(w.workflow_id, w.name, w.status, w.created_at, w.updated_at,
                               self._children(w.workflow_id, depth - 1)) for w in rows]


class _TimelineAttempt(msgspec.Struct, frozen=True):
    """A failed attempt of a step: when it ran, its error in one line, and when the next
    attempt was due (None: none followed)."""

    attempt: int
    started_at_ms: int
    failed_at_ms: int
    error: str
    retry_at_ms: int | None


class _TimelineStep(msgspec.Struct, frozen=True):
    """One operation of a workflow. ``outcome``: "ok", "error", or for a step with failed
    attempts and no outcome yet, "running" (or "interrupted" in a finished workflow);
    ``summary`` is its output or error in one line."""

    function_id: int
    name: str
    started_at_ms: int | None
    completed_at_ms: int | None
    duration_ms: int | None
    outcome: str
    summary: str
    child_workflow_id: str | None
    child_status: str | None
    attempts: list[_TimelineAttempt]


class _TimelineOwner(msgspec.Struct, frozen=True):
    """The process that owns a workflow now, and whether it is alive."""

    process_id: str
    executor_id: str | None
    host: str | None
    pid: int | None
    alive: bool
    heartbeat_at_ms: int | None


class _TimelineWait(msgspec.Struct, frozen=True):
    """One thing an unfinished workflow waits for. ``kind``: "recv", "event", "result",
    "first", "stream" (a durable operation that blocks), "sleep", "retry" (a step's next
    attempt), "step" (a step running), "child", "queue", "delay", "owner" (its process is gone
    or it has none), "nobody" (no live process can run it) or "running"; ``text`` says it in
    one line for a person."""

    kind: str
    text: str
    since_ms: int | None = None
    until_ms: int | None = None
    topic: str | None = None
    key: str | None = None
    workflow_ids: list[str] = []
    queue_name: str | None = None
    queue_ahead: int | None = None


class _TimelineChild(msgspec.Struct, frozen=True):
    """A child workflow in a timeline's tree, with its own children."""

    workflow_id: str
    name: str
    status: str
    created_at_ms: int
    updated_at_ms: int
    children: list[_TimelineChild]


class _Timeline(msgspec.Struct, frozen=True):
    """The story of one workflow (``_Management.timeline``); times are epoch ms, ``now_ms``
    when it was read. ``msgspec.to_builtins`` makes it JSON."""

    workflow_id: str
    name: str
    status: str
    created_at_ms: int
    updated_at_ms: int
    ended_at_ms: int | None
    executor_id: str | None
    application_version: str | None
    queue_name: str | None
    parent_workflow_id: str | None
    forked_from: str | None
    recovery_attempts: int
    owner: _TimelineOwner | None
    output: str | None
    error: str | None
    steps: list[_TimelineStep]
    children: list[_TimelineChild]
    waiting: list[_TimelineWait]
    now_ms: int


def _timeline_step(op: _OperationRecord, failed: list[_AttemptRecord],
                   child_status: str | None) -> _TimelineStep:
    duration = None
    if op.started_at_epoch_ms is not None and op.completed_at_epoch_ms is not None:
        duration = op.completed_at_epoch_ms - op.started_at_epoch_ms
    if op.error is not None:
        outcome, summary = "error", _error_line(op.error) or ""
    elif op.child_workflow_id is not None and not op.function_name.startswith("DBOS."):
        outcome, summary = "ok", f"started {op.child_workflow_id}"
    elif op.function_name == "DBOS.sleep":  # its output is the wake-up time, epoch seconds
        until = _decode_value(op.output)
        wake = int(until * 1000) if isinstance(until, (int, float)) else None
        outcome, summary = "ok", "no timeout" if wake is None else f"until {_clock(wake)}"
    else:
        outcome, summary = "ok", _value_line(op.output) or ""
    return _TimelineStep(op.function_id, op.function_name, op.started_at_epoch_ms,
                         op.completed_at_epoch_ms, duration, outcome, summary,
                         op.child_workflow_id, child_status,
                         [_timeline_attempt(a) for a in failed])


def _timeline_attempt(attempt: _AttemptRecord) -> _TimelineAttempt:
    return _TimelineAttempt(attempt.attempt, attempt.started_at_epoch_ms,
                            attempt.failed_at_epoch_ms, _error_line(attempt.error) or "",
                            attempt.retry_at_epoch_ms)


_LINE_WIDTH = 100  # a value or an error shown in one line is cut to this many characters


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _LINE_WIDTH else text[:_LINE_WIDTH - 1] + "…"


def _value_line(output: str | None) -> str | None:
    """A recorded value in one line (as Python shows it), decoded without the functions."""
    return None if output is None else _one_line(repr(_decode_value(output)))


def _error_line(error: str | None) -> str | None:
    """A recorded error in one line: its type and message, without rebuilding it."""
    if error is None:
        return None
    try:
        record = _error_decoder.decode(error)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _one_line(error)
    return _one_line(f"{record.type}: {record.message}" if record.message else record.type)


def _clock(epoch_ms: int | None) -> str:
    """An epoch time as local HH:MM:SS (with the date if it is not today)."""
    import datetime

    if epoch_ms is None:
        return "-"
    moment = datetime.datetime.fromtimestamp(epoch_ms / 1000)
    if moment.date() == datetime.date.today():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _until(epoch_ms: int | None) -> str:
    return "with no timeout" if epoch_ms is None else f"until {_clock(epoch_ms)}"


def _waiting_for(journal: _Journal, workflow: _WorkflowRecord,
                 operations: list[_OperationRecord], steps: list[_TimelineStep],
                 owner: _TimelineOwner | None, live: list[_ProcessRecord],
                 now: int) -> list[_TimelineWait]:
    """What an unfinished workflow waits for now, as far as the journal tells."""
    waits: list[_TimelineWait] = []
    if workflow.status in (WorkflowStatusString.ENQUEUED, WorkflowStatusString.DELAYED):
        place = journal.queue_place(workflow.workflow_id)
        if place is not None and place.not_before_ms is not None:
            waits.append(_TimelineWait(
                "delay", f"delayed on queue {place.queue_name!r} {_until(place.not_before_ms)}",
                until_ms=place.not_before_ms, queue_name=place.queue_name))
        elif place is not None:
            ahead = f"{place.ahead} waiting ahead of it" if place.ahead else "next in line"
            waits.append(_TimelineWait(
                "queue", f"in queue {place.queue_name!r}, {ahead}", since_ms=workflow.created_at,
                queue_name=place.queue_name, queue_ahead=place.ahead))
        nobody = _nobody_runs(workflow.name, live, place.queue_name if place else None)
        if nobody:
            waits.append(_TimelineWait("nobody", nobody))
        return waits
    if workflow.status != WorkflowStatusString.PENDING:
        return waits
    if owner is None:
        waits.append(_TimelineWait(
            "owner", "owned by no process: a process that registers "
            f"{workflow.name!r} takes it up at its launch or next heartbeat"))
        nobody = _nobody_runs(workflow.name, live, None)
        if nobody:
            waits.append(_TimelineWait("nobody", nobody))
        return waits
    if not owner.alive:
        where = f"pid {owner.pid}" if owner.pid is not None else "its process"
        waits.append(_TimelineWait(
            "owner", f"its owner ({where}, executor {owner.executor_id}) is gone: a live "
            f"process that registers {workflow.name!r} recovers it"))
        nobody = _nobody_runs(workflow.name, live, None)
        if nobody:
            waits.append(_TimelineWait("nobody", nobody))
        return waits
    for wait in journal.list_waits(workflow.workflow_id):
        waits.append(_blocking_wait(journal, wait))
    if waits:
        return waits
    recorded = {op.function_id: op for op in operations}
    last = operations[-1] if operations else None
    running = [step for step in steps if step.outcome == "running"]
    if running:
        step = running[-1]
        failed = step.attempts[-1]
        if failed.retry_at_ms is not None and failed.retry_at_ms > now:
            return [_TimelineWait(
                "retry", f"step {step.name!r} (#{step.function_id}): attempt "
                f"{failed.attempt + 1} failed ({failed.error}); next attempt at "
                f"{_clock(failed.retry_at_ms)}", since_ms=failed.failed_at_ms,
                until_ms=failed.retry_at_ms)]
        return [_TimelineWait(
            "step", f"step {step.name!r} (#{step.function_id}) runs attempt "
            f"{failed.attempt + 2} since {_clock(failed.retry_at_ms or failed.failed_at_ms)}",
            since_ms=failed.retry_at_ms or failed.failed_at_ms)]
    if last is not None and last.function_name == "DBOS.sleep":
        until = _decode_value(last.output)
        until_ms = None if not isinstance(until, (int, float)) else int(until * 1000)
        if last.function_id - 1 >= 1 and last.function_id - 1 not in recorded:
            return [_TimelineWait(  # a recv or get_event whose wait is not noted
                "recv", f"DBOS.recv or DBOS.get_event {_until(until_ms)}",
                since_ms=last.completed_at_epoch_ms, until_ms=until_ms)]
        if until_ms is None or until_ms > now:
            return [_TimelineWait("sleep", f"DBOS.sleep {_until(until_ms)}",
                                  since_ms=last.completed_at_epoch_ms, until_ms=until_ms)]
    if last is not None and last.child_workflow_id is not None \
            and not last.function_name.startswith("DBOS."):
        status = journal.statuses_of([last.child_workflow_id])[0]
        if status not in _FINISHED:
            return [_TimelineWait(
                "child", f"its child {last.child_workflow_id} ({status or 'deleted'})",
                since_ms=last.completed_at_epoch_ms, workflow_ids=[last.child_workflow_id])]
    if last is None:
        return [_TimelineWait("running", "running; no operation recorded yet",
                              since_ms=workflow.updated_at)]
    return [_TimelineWait(
        "running", f"running after operation #{last.function_id} ({last.function_name}, "
        f"recorded at {_clock(last.completed_at_epoch_ms)})",
        since_ms=last.completed_at_epoch_ms)]


def _blocking_wait(journal: _Journal, wait: _WaitRecord) -> _TimelineWait:
    detail = _any_decoder.decode(wait.detail)
    until = _until(wait.until_epoch_ms)
    since, ends = wait.since_epoch_ms, wait.until_epoch_ms
    if wait.kind == "recv":
        topic = detail.get("topic")
        on = "with no topic" if topic is None else f"on topic {topic!r}"
        return _TimelineWait("recv", f"DBOS.recv {on} {until}", since_ms=since, until_ms=ends,
                             topic=topic)
    if wait.kind in ("event", "stream"):
        what = "event" if wait.kind == "event" else "stream"
        return _TimelineWait(
            wait.kind, f"{what} {detail.get('key')!r} of workflow {detail.get('workflow_id')} "
            f"{until}", since_ms=since, until_ms=ends, key=detail.get("key"),
            workflow_ids=[detail.get("workflow_id")])
    ids = list(detail.get("workflow_ids") or [])
    named = ", ".join(f"{w} ({s or 'deleted'})" for w, s in zip(ids, journal.statuses_of(ids)))
    text = f"the result of {named}" if wait.kind == "result" \
        else f"the first to finish of {named}"
    return _TimelineWait(wait.kind, text, since_ms=since, until_ms=ends, workflow_ids=ids)


def _nobody_runs(workflow_name: str, live: list[_ProcessRecord],
                 queue_name: str | None) -> str | None:
    """Why no live process will run a workflow of this function, or None if one may."""
    if not live:
        return "no process is running on this journal"
    names = [_any_decoder.decode(p.workflow_names) for p in live if p.workflow_names]
    if len(names) == len(live) and not any(workflow_name in n for n in names):
        return f"no live process registers workflow {workflow_name!r}"
    if queue_name is not None:
        listened = [None if p.queue_names is None else _any_decoder.decode(p.queue_names)
                    for p in live]
        if all(q is not None and queue_name not in q for q in listened):
            return f"no live process works queue {queue_name!r}"
    return None


def _status_from_record(workflow: _WorkflowRecord, load_input: bool = True,
                        load_output: bool = True, forked: set[str] = frozenset()
                        ) -> WorkflowStatus:
    """The public status of a journal row; ``forked``: the ids some workflow was forked from."""
    function = _workflows.get(workflow.name)
    inputs = None
    if load_input:
        if function is not None:
            args, kwargs = function.decode_inputs(workflow.inputs)
        else:
            raw = _any_decoder.decode(workflow.inputs)
            args, kwargs = tuple(raw.get("args", ())), raw.get("kwargs", {})
        inputs = {"args": args, "kwargs": kwargs}
    return WorkflowStatus(
        workflow_id=workflow.workflow_id,
        status=workflow.status,
        name=workflow.name,
        class_name=workflow.class_name,
        config_name=workflow.config_name,
        input=inputs,
        output=_decode_value(workflow.output, function.return_type if function else Any)
        if load_output else None,
        error=_decode_error(workflow.error) if load_output else None,
        created_at=workflow.created_at,
        updated_at=workflow.updated_at,
        executor_id=workflow.executor_id,
        app_version=workflow.application_version,
        recovery_attempts=workflow.recovery_attempts,
        parent_workflow_id=workflow.parent_workflow_id,
        queue_name=workflow.queue_name,
        forked_from=workflow.forked_from,
        workflow_timeout_ms=workflow.timeout_ms,
        workflow_deadline_epoch_ms=workflow.deadline_epoch_ms,
        priority=workflow.priority,
        deduplication_id=workflow.deduplication_id,
        queue_partition_key=workflow.queue_partition_key,
        delay_until_epoch_ms=workflow.delay_until_epoch_ms,
        dequeued_at=workflow.dequeued_at,
        completed_at=workflow.updated_at if workflow.status in _FINISHED else None,
        schedule_name=workflow.schedule_name,
        was_forked_from=workflow.workflow_id in forked,
    )


def _workflow_filter(*, workflow_ids: list[str] | None = None,
                     status: str | list[str] | None = None, start_time: Any = None,
                     end_time: Any = None, name: str | list[str] | None = None,
                     app_version: str | None = None, executor_id: str | None = None,
                     workflow_id_prefix: str | None = None,
                     parent_workflow_id: str | None = None, queue_name: str | None = None,
                     forked_from: str | None = None, limit: int | None = None,
                     offset: int | None = None, sort_desc: bool = False,
                     queued_only: bool = False, completed_after: Any = None,
                     completed_before: Any = None, dequeued_after: Any = None,
                     dequeued_before: Any = None, has_parent: bool | None = None,
                     is_fork: bool | None = None, was_forked_from: bool | None = None,
                     schedule_name: str | list[str] | None = None) -> _WorkflowFilter:
    """The journal's filter for ``list_workflows``' keyword arguments (DBOS Transact's); a
    listing of queued workflows without ``status`` lists those not finished."""
    for parameter, value in (("has_parent", has_parent), ("is_fork", is_fork),
                             ("was_forked_from", was_forked_from)):
        if value is not None and not isinstance(value, bool):
            raise _InvalidArgument(f"{parameter} must be True, False or None, not {value!r}.")
    if queued_only and status is None:
        status = list(_ACTIVE_STATUSES)
    return _WorkflowFilter(
        workflow_ids=workflow_ids, statuses=_as_list(status), names=_as_list(name),
        start_ms=_as_epoch_ms(start_time), end_ms=_as_epoch_ms(end_time),
        application_version=app_version, executor_id=executor_id,
        workflow_id_prefix=workflow_id_prefix, parent_workflow_id=parent_workflow_id,
        queue_name=queue_name, forked_from=forked_from, limit=limit or None,
        offset=offset or None, sort_desc=sort_desc, queued_only=queued_only,
        completed_after_ms=_as_epoch_ms(completed_after),
        completed_before_ms=_as_epoch_ms(completed_before),
        dequeued_after_ms=_as_epoch_ms(dequeued_after),
        dequeued_before_ms=_as_epoch_ms(dequeued_before),
        has_parent=has_parent, is_fork=is_fork, was_forked_from=was_forked_from,
        schedule_names=_as_list(schedule_name),
    )


def _as_list(value: str | list[str] | None) -> list[str] | None:
    return [value] if isinstance(value, str) else (list(value) if value is not None else None)


def _as_epoch_ms(value: Any) -> int | None:
    """A time filter: an ISO 8601 string (as DBOS Transact takes), a datetime, or epoch ms."""
    import datetime

    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    raise TypeError(f"Expected an ISO 8601 string, a datetime or epoch ms, not {value!r}.")


def _wait_on_commits(journal: _Journal, check: Callable[[], Any],
                     timeout_sec: float | None = None, interval_sec: float = 0.01) -> Any:
    """``check()`` until it gives something other than _NOT_YET, looked at again each time a
    connection commits (``PRAGMA data_version`` changes, read every ``interval_sec``); _NOT_YET
    once ``timeout_sec`` passed. For tools outside the program, which no wake-up reaches."""
    ends = None if timeout_sec is None else time.monotonic() + timeout_sec
    while True:
        version = journal.data_version()  # before the check: no commit slips between
        result = check()
        if result is not _NOT_YET:
            return result
        while journal.data_version() == version:
            if ends is not None and time.monotonic() >= ends:
                return _NOT_YET
            time.sleep(interval_sec)


class _Steering:
    """Write-side verbs for tools outside the program (DBOSClient, the command line). They
    write only what is asked and never run, claim or recover a workflow: what a program must
    run (an enqueue, a resume, a fork) goes onto a queue, for a process that can run it."""

    def __init__(self, journal: _Journal):
        self.journal = journal

    def send(self, messages: list[SendMessage]) -> None:
        self.journal.send_messages(_message_records(messages), None, "")

    def cancel(self, workflow_ids: list[str], children: bool) -> None:
        self.journal.cancel_workflows(self._with_descendants(workflow_ids, children))

    def delete(self, workflow_ids: list[str], children: bool) -> None:
        self.journal.delete_workflows(self._with_descendants(workflow_ids, children))

    def _with_descendants(self, workflow_ids: list[str], children: bool) -> list[str]:
        ids = list(workflow_ids)
        if children:
            ids += [child for w in workflow_ids for child in self.journal.list_descendants(w)]
        return ids

    def resume(self, workflow_ids: list[str], queue_name: str | None) -> None:
        """Put workflows that did not succeed or fail on a queue (DBOS Transact's internal
        one by default), unless a live process runs them; a process that can run one
        continues it from its last completed step. Nothing is resumed if one is absent."""
        _refuse_missing(self.journal, workflow_ids)
        queue = self._queue(queue_name)
        now = _now_ms()
        live = [p.process_id for p in self.journal.list_processes() if _process_is_alive(p, now)]
        for workflow_id in workflow_ids:
            self.journal.requeue_workflow(workflow_id, queue, live)

    def fork(self, workflow_id: str, start_step: int, application_version: str | None,
             queue_name: str | None, queue_partition_key: str | None = None,
             timeout_ms: int | None = None) -> str:
        """A new workflow with the original's inputs and the outcomes it recorded before
        operation ``start_step``, ENQUEUED (with ``queue_partition_key`` on a partitioned
        queue; ``timeout_ms`` counted from its dequeue); its id (SetWorkflowID's, or new)."""
        original = self.journal.get_workflow(workflow_id)
        if original is None:
            raise DBOSNonExistentWorkflowError(workflow_id)
        if isinstance(start_step, bool) or not isinstance(start_step, int):
            raise _InvalidArgument(f"start_step must be an operation id (an int from 1), "
                                   f"not {start_step!r}.")
        queue = self._queue(queue_name)
        if queue.partitioned and queue_partition_key is None:
            raise DBOSException(f"Workflow {workflow_id!r} was not forked: queue {queue.name!r} "
                                "is partitioned, so the fork needs a queue_partition_key.")
        new_id = _take_assigned_workflow_id() or _new_workflow_id()
        now = _now_ms()
        fork = msgspec.structs.replace(
            original, workflow_id=new_id, status=WorkflowStatusString.ENQUEUED, output=None,
            error=None, executor_id=None, owner=None,
            application_version=application_version or original.application_version,
            created_at=now, updated_at=now, recovery_attempts=0, parent_workflow_id=None,
            queue_name=queue.name, timeout_ms=timeout_ms, deadline_epoch_ms=None,
            forked_from=workflow_id, priority=0, queue_partition_key=queue_partition_key,
            deduplication_id=None, delay_until_epoch_ms=None, dequeued_at=None)
        self.journal.fork_onto_queue(fork, workflow_id, max(1, start_step), queue,
                                     application_version)
        return new_id

    def _queue(self, queue_name: str | None) -> _QueueRecord:
        if queue_name is None:
            return _INTERNAL_QUEUE
        queue = self.journal.get_queue(queue_name)
        if queue is None:
            raise DBOSException(f"No queue is named {queue_name!r} in the journal; register "
                                f"it first with DBOS.register_queue({queue_name!r}).")
        return queue

    def enqueue(self, options: Any, args: tuple, kwargs: dict) -> str:
        """Enqueue a workflow by name (DBOS Transact's EnqueueOptions); its id. The function
        need not be registered here: the inputs are recorded as JSON, and the workflow waits
        ENQUEUED until a process that registers it takes it."""
        name, queue_name, settings = _enqueue_by_name(options)
        function = _workflows.get(name)
        workflow_id = _workflow_id_option(options)
        inputs = _inputs_by_name(name, args, kwargs)
        timeout = _duration(options.get("workflow_timeout"), "workflow_timeout",
                            positive=True, optional=True)
        now = _now_ms()
        delayed = settings.delay_until_ms is not None and settings.delay_until_ms > now
        key, deduplication_id = settings.queue_partition_key, settings.deduplication_id
        row = _WorkflowRecord(
            workflow_id, WorkflowStatusString.DELAYED if delayed else WorkflowStatusString.ENQUEUED,
            name, inputs, None, None, None, None, settings.app_version, now, now, 0,
            function.max_recovery_attempts if function else _DEFAULT_MAX_RECOVERY_ATTEMPTS,
            None, queue_name, None if timeout is None else int(timeout * 1000), None, None,
            options.get("class_name"), options.get("instance_name"), settings.priority or 0,
            key, deduplication_id, settings.delay_until_ms, None)
        entry = _QueueEntry(workflow_id, queue_name, settings.priority or 0, key,
                            deduplication_id, settings.delay_until_ms if delayed else None,
                            settings.app_version)

        def admit(queue: _QueueRecord | None) -> None:
            if queue is None:
                raise DBOSException(
                    f"Workflow {workflow_id!r} was not enqueued: no queue is named "
                    f"{queue_name!r} in the journal. Register it first with "
                    f"DBOS.register_queue({queue_name!r}).")
            if queue.partitioned and key is None:
                raise DBOSException(
                    f"Workflow {workflow_id!r} was not enqueued: queue {queue_name!r} is "
                    "partitioned, so each workflow needs a queue_partition_key.")

        outcome = self.journal.enqueue_workflow(row, entry, None, admit, None)
        if outcome.workflow is None:  # another workflow holds the deduplication id
            if settings.duplication_policy == "return-existing":
                return outcome.holder  # type: ignore[return-value]
            raise DBOSQueueDeduplicatedError(workflow_id, queue_name, deduplication_id)
        existing = outcome.workflow
        for what, recorded, given in (("function name", existing.name, name),
                                      ("class name", existing.class_name, row.class_name),
                                      ("config name", existing.config_name, row.config_name)):
            if not outcome.created and recorded != given:
                raise DBOSConflictingWorkflowError(workflow_id, (
                    f"Workflow already exists with a different {what}: {recorded}, but the "
                    f"provided {what} is: {given}. Use another id."))
        return workflow_id

    def debounce(self, options: Any, queue_name: str | None, key: str, period_sec: float,
                 timeout_sec: float | None, args: tuple, kwargs: dict) -> str:
        """A debounced start by name (DBOS Transact's DebouncerClient.debounce): as
        ``Debouncer.debounce``, for a workflow this process need not have. Its id."""
        name, options_queue, settings = _enqueue_by_name(options)
        _refuse_debounce_settings(settings)
        queue_name = queue_name or options_queue
        function = _workflows.get(name)
        workflow_id = _workflow_id_option(options)
        now = _now_ms()
        row = _WorkflowRecord(
            workflow_id, WorkflowStatusString.DELAYED, name, _inputs_by_name(name, args, kwargs),
            None, None, None, None, settings.app_version, now, now, 0,
            function.max_recovery_attempts if function else _DEFAULT_MAX_RECOVERY_ATTEMPTS,
            None, queue_name, None, None, None, options.get("class_name"),
            options.get("instance_name"), 0, None, f"{name}-{key}", None, None)
        entry = _QueueEntry(workflow_id, queue_name, 0, None, None, None, settings.app_version)

        def admit(queue: _QueueRecord | None) -> None:
            if queue is None:
                raise DBOSException(f"Invalid queue name provided to debouncer: {queue_name}")

        return self.journal.debounce_workflow(
            row, entry, int(period_sec * 1000),
            None if timeout_sec is None else int(timeout_sec * 1000), admit)


def _workflow_id_option(options: Any) -> str:
    """The ``workflow_id`` an EnqueueOptions gives, or a new id."""
    workflow_id = options.get("workflow_id") or _new_workflow_id()
    if not isinstance(workflow_id, str) or not workflow_id.strip():
        raise DBOSException(f"Invalid workflow ID {workflow_id!r}: workflow IDs must be "
                            "non-empty and cannot be only whitespace.")
    return workflow_id


def _inputs_by_name(name: str, args: tuple, kwargs: dict) -> str:
    """A workflow's recorded inputs, typed by its function if this process has it, else as
    they are (JSON)."""
    function = _workflows.get(name)
    if function is not None:
        return function.encode_inputs(args, kwargs)
    return _encode_value({"args": args, "kwargs": kwargs}, f"An argument of workflow {name!r}")


def _enqueue_by_name(options: Any) -> tuple[str, str, _EnqueueSettings]:
    """The workflow name, the queue and the settings an EnqueueOptions names (DBOS
    Transact's checks), without needing the workflow's function."""
    if not isinstance(options, dict):
        raise _InvalidArgument(f"options must be an EnqueueOptions dict, not {options!r}.")
    for required in ("workflow_name", "queue_name"):
        if not isinstance(options.get(required), str):
            raise _InvalidArgument(f"EnqueueOptions needs {required!r} (a string).")
    unknown = sorted(set(options) - EnqueueOptions.__annotations__.keys())
    if unknown:
        raise _InvalidArgument(f"EnqueueOptions has no option {unknown[0]!r}; it takes "
                               f"{', '.join(EnqueueOptions.__annotations__)}.")
    policy = options.get("duplication_policy")
    if policy not in (None, "reject", "return-existing"):
        raise DBOSException(f"Invalid duplication_policy {policy}. Must be either 'reject' "
                            "or 'return-existing'.")
    if policy == "return-existing" and options.get("deduplication_id") is None:
        raise DBOSException("duplication_policy 'return-existing' requires a deduplication_id.")
    delay = _duration(options.get("delay_seconds"), "delay_seconds", optional=True)
    settings = _EnqueueSettings(
        deduplication_id=options.get("deduplication_id"),
        priority=_check_priority(options.get("priority")),
        app_version=options.get("app_version"),
        queue_partition_key=options.get("queue_partition_key"),
        delay_until_ms=None if delay is None else _now_ms() + int(delay * 1000),
        duplication_policy=policy)
    return options["workflow_name"], options["queue_name"], settings


def _schedule_record(schedule_name: Any, workflow_name: str, workflow_class_name: str | None,
                     schedule: Any, context: Any, automatic_backfill: Any, cron_timezone: Any,
                     queue_name: Any, shard_key: Any) -> _ScheduleRecord:
    """A new ACTIVE schedule, checked as DBOS Transact checks it (its messages, saying what
    to do), and more: a cron string that can never fire is refused here."""
    if not isinstance(schedule_name, str) or not schedule_name.strip():
        raise _InvalidArgument(f"schedule_name must be a non-empty string, not {schedule_name!r}.")
    if not isinstance(schedule, str):
        raise _InvalidArgument(f"schedule must be a cron string such as '*/5 * * * *', not "
                               f"{schedule!r}.")
    try:
        _parse_cron(schedule)
    except ValueError as exc:
        raise _InvalidArgument(f"Invalid cron schedule: '{schedule}': {exc}.") from None
    if cron_timezone is not None:
        try:
            _schedule_zone(cron_timezone)
        except Exception:
            raise _InvalidArgument(f"Invalid timezone: '{cron_timezone}'. Name an IANA time "
                                   "zone such as 'Europe/Paris', or None for UTC.") from None
    if not isinstance(automatic_backfill, bool):
        raise _InvalidArgument(f"automatic_backfill must be True or False, not "
                               f"{automatic_backfill!r}.")
    if queue_name is not None and not isinstance(queue_name, str):
        raise _InvalidArgument(f"queue_name must be a queue's name or None, not {queue_name!r}.")
    if shard_key is not None:
        raise _InvalidArgument("shard_key names a shard of DBOS Transact's sharded system "
                               "database; a dbos_lite journal has no shards: leave it None.")
    now = _now_ms()
    return _ScheduleRecord(
        schedule_name, str(uuid.uuid4()), workflow_name, workflow_class_name, schedule,
        "ACTIVE", _encode_value(context, f"The context of schedule {schedule_name!r}"), None,
        automatic_backfill, cron_timezone, queue_name, now, now)


def _schedule_view(record: _ScheduleRecord, application_name: str | None) -> WorkflowSchedule:
    return WorkflowSchedule(
        schedule_id=record.schedule_id, schedule_name=record.schedule_name,
        workflow_name=record.workflow_name, workflow_class_name=record.workflow_class_name,
        schedule=record.schedule, status=record.status,
        context=_any_decoder.decode(record.context), last_fired_at=record.last_fired_at,
        automatic_backfill=bool(record.automatic_backfill),
        cron_timezone=record.cron_timezone, queue_name=record.queue_name,
        application_name=application_name, shard_key=None)


def _schedule_entries(schedules: Any, kind: str, workflow_field: str) -> list[dict]:
    """The entries of an ``apply_schedules`` list, each with its required fields (DBOS
    Transact's messages)."""
    if not isinstance(schedules, (list, tuple)):
        raise _InvalidArgument(f"schedules must be a list of {kind} dicts, not {schedules!r}.")
    for index, entry in enumerate(schedules):
        for required in ("schedule_name", workflow_field, "schedule"):
            if not isinstance(entry, dict) or required not in entry:
                raise DBOSException(f"Schedule entry {index} is missing required field "
                                    f"'{required}'")
    return list(schedules)


def _name_list(value: Any, parameter: str) -> list[str] | None:
    """A filter given as one string or a list of them, as a list (None: no filter)."""
    if value is None:
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise _InvalidArgument(f"{parameter} must be a string or a list of strings, not "
                               f"{value!r}.")
    return list(values)


def _trigger_fire(schedule: _ScheduleRecord, application_version: str | None) -> _Fire:
    """A run of a schedule now (DBOS Transact's trigger id, with the UTC time)."""
    import datetime

    now = _utc_now()
    return _schedule_fire(schedule, now,
                          f"sched-{schedule.schedule_name}-trigger-{now.isoformat()}",
                          application_version)


def _backfill_fires(schedule: _ScheduleRecord, start: Any, end: Any,
                    application_version: str | None) -> Iterator[_Fire]:
    """The runs of a schedule at its times strictly between ``start`` and ``end`` (naive
    datetimes are UTC), with the ids the scheduler gives them."""
    import datetime

    for value, parameter in ((start, "start"), (end, "end")):
        if not isinstance(value, datetime.datetime):
            raise _InvalidArgument(f"{parameter} must be a datetime, not {value!r}.")
    if start.tzinfo is None:
        start = start.replace(tzinfo=datetime.timezone.utc)
    if end.tzinfo is None:
        end = end.replace(tzinfo=datetime.timezone.utc)
    cron = _parse_cron(schedule.schedule)
    zone = _schedule_zone(schedule.cron_timezone)
    for when in cron.times_between(start.astimezone(zone), end):
        yield _schedule_fire(schedule, when,
                             _scheduled_workflow_id(schedule.schedule_name, when),
                             application_version)


def _looking() -> _Management:
    """Management over the launched process's journal."""
    return _Management(_launched()._journal())


# ==== Handles ====


class _Handle:
    def __init__(self, workflow_id: str, return_type: Any = Any, ran: _Ran | None = None):
        self.workflow_id = workflow_id
        self._return_type = return_type  # the workflow function's, to decode its result
        self._ran = ran  # started here: what its run here returned (see _Ran)

    def get_workflow_id(self) -> str:
        return self.workflow_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.workflow_id!r})"


class WorkflowHandle(_Handle):
    """A started workflow: its id, its status, and (waiting for it) its result."""

    def get_result(self, *, polling_interval_sec: float | None = None) -> Any:
        """Wait for the workflow to finish; its return value, or its error raised. A cancelled
        workflow raises DBOSAwaitedWorkflowCancelledError. Inside a workflow the result is
        recorded (``DBOS.getResult``), so a replay does not wait again."""
        _refuse_running_loop("get_result")
        return _launched().get_result(self.workflow_id, self._return_type, self._ran)

    def get_status(self) -> WorkflowStatus:
        """The workflow's current status; DBOSNonExistentWorkflowError if it is not there."""
        _refuse_running_loop("get_workflow_status")
        status = _looking().get_workflow_status(self.workflow_id)
        if status is None:
            raise DBOSNonExistentWorkflowError(self.workflow_id)
        return status


class WorkflowHandleAsync(_Handle):
    """A started workflow, for async code: the same as WorkflowHandle with awaitables."""

    async def get_result(self, *, polling_interval_sec: float | None = None) -> Any:
        """Wait (without blocking the event loop) for the workflow's result or error."""
        return await _run_plan_async(
            _launched().get_result_plan(self.workflow_id, self._return_type))

    async def get_status(self) -> WorkflowStatus:
        """The workflow's current status; DBOSNonExistentWorkflowError if it is not there."""
        return await _in_journal_thread(WorkflowHandle(self.workflow_id).get_status)


def _async_handle(handle: WorkflowHandle) -> WorkflowHandleAsync:
    return WorkflowHandleAsync(handle.workflow_id, handle._return_type)


def _handles_by_id(handles: list[Any]) -> dict[str, Any]:
    """The handles ``wait_first`` waits on, by workflow id, in their order (DBOS Transact's
    ValueErrors for an empty list or a repeated id)."""
    if not handles:
        raise ValueError("handles must not be empty")
    by_id = {handle.workflow_id: handle for handle in handles}
    if len(by_id) != len(handles):
        raise ValueError("handles must not contain duplicate workflow IDs")
    return by_id


def _stream_value(workflow_id: str, key: str, value: Any) -> Any:
    """What ``read_stream_offset`` returns for a value read: the value, decoded; past the
    stream's end, DBOSStreamTimeoutError (no value will ever arrive there)."""
    if value is _STREAM_END:
        raise DBOSStreamTimeoutError(workflow_id, key, None)
    return _decode_value(value)


def _workflow_ids(workflow_ids: Any) -> list[str]:
    """The list of ids a call on many workflows takes: a string alone is refused (it would
    be read as one id per character)."""
    if isinstance(workflow_ids, str) or not all(isinstance(w, str) for w in workflow_ids):
        raise _InvalidArgument(f"workflow_ids must be a list of workflow ids (strings), not "
                               f"{workflow_ids!r}.")
    return list(workflow_ids)


# ==== The DBOS facade ====


class _classproperty:
    def __init__(self, getter: Callable[[Any], Any]):
        self.getter = getter
        self.__doc__ = getter.__doc__

    def __get__(self, instance: Any, owner: type) -> Any:
        return self.getter(owner)


_dbos: DBOS | None = None  # the process-wide instance DBOS(config=...) made


def _application_version() -> str:
    """As in DBOS Transact: a hash of the registered workflows' source, so a code change makes a
    new version."""
    import hashlib
    import inspect

    digest = hashlib.md5()
    for name in sorted(_workflows):
        try:
            digest.update(inspect.getsource(_workflows[name].func).encode())
        except (OSError, TypeError):
            digest.update(name.encode())
    digest.update(__version__.encode())
    return digest.hexdigest()


class DBOS:
    """The process-wide entry point: configuration, lifecycle, decorators and workflow calls.

    ``DBOS(config=...)`` makes the one instance (calling it again returns that instance);
    everything else is a class method or class property."""

    _config: DBOSConfig

    def __new__(cls, *, config: DBOSConfig) -> DBOS:
        global _dbos, _process_executor
        if _dbos is None:
            instance = super().__new__(cls)
            _process_executor = instance._executor_for(config)
            instance._config = dict(config)
            _dbos = instance
        elif config != _dbos._config:
            # DBOS Transact 3.4 keeps the first configuration silently; a program that meant
            # the second one would run against the wrong journal without knowing.
            raise DBOSException(
                "DBOS(config=...) was called again with a different configuration; the first "
                "one is in use. Call DBOS.destroy() before configuring DBOS anew.")
        return _dbos

    def __init__(self, *, config: DBOSConfig) -> None:
        pass  # all the work is in __new__, which returns the existing instance when called again

    @staticmethod
    def _executor_for(config: DBOSConfig) -> _Executor:
        if not isinstance(config, dict) or not isinstance(config.get("name"), str) \
                or not config["name"]:
            raise DBOSInitializationError(
                "DBOS(config=...) needs a dict with a non-empty 'name', for example "
                "DBOS(config={'name': 'my-app'})."
            )
        unknown = sorted(set(config) - DBOSConfig.__annotations__.keys())
        if unknown:
            _logger.warning("DBOS config keys %s are not used by dbos_lite; they are ignored.",
                           unknown)
        name = config["name"]
        url = config.get("system_database_url") or f"sqlite:///{name}.sqlite"
        synchronous = str(config.get("sqlite_synchronous") or "FULL").upper()
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise DBOSInitializationError(
                f"sqlite_synchronous must be 'FULL' (survives power loss) or 'NORMAL' (survives "
                f"kill -9), not {config.get('sqlite_synchronous')!r}."
            )
        polling = config.get("notification_listener_polling_interval_sec")
        polling = _DEFAULT_POLLING_INTERVAL_SEC if polling is None else polling
        if isinstance(polling, bool) or not isinstance(polling, (int, float)) \
                or not 0.001 <= polling <= 3600:
            raise DBOSInitializationError(
                "notification_listener_polling_interval_sec must be a number of seconds from "
                f"0.001 to 3600, not {polling!r}.")
        busy_timeout = config.get("busy_timeout_sec")
        busy_timeout = _DEFAULT_BUSY_TIMEOUT_SEC if busy_timeout is None else busy_timeout
        if isinstance(busy_timeout, bool) or not isinstance(busy_timeout, (int, float)) \
                or not 0 <= busy_timeout <= 86400:
            raise DBOSInitializationError(
                f"busy_timeout_sec must be a number of seconds from 0 to 86400, not "
                f"{busy_timeout!r}.")
        if config.get("log_level"):
            import logging

            _logger.setLevel(str(config["log_level"]).upper())
            if not _logger.handlers and not logging.getLogger().handlers:
                handler = logging.StreamHandler()
                handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
                _logger.addHandler(handler)
        return _Executor(
            journal_path=_journal_path(url),
            synchronous=synchronous,
            busy_timeout_sec=float(busy_timeout),
            executor_id=config.get("executor_id") or _default_executor_id(),
            configured_executor_id=config.get("executor_id"),
            application_name=name,
            application_version=config.get("application_version") or "",
            max_threads=int(config.get("max_executor_threads") or _DEFAULT_MAX_EXECUTOR_THREADS),
            polling_interval_sec=polling,
        )

    # -- lifecycle --

    @classmethod
    def launch(cls) -> None:
        """Open (or create, or migrate) the journal, and resume every PENDING workflow whose
        process is gone. Refuses a file that is not a dbos_lite journal, or is from a newer
        dbos_lite, with DBOSInitializationError, without modifying it."""
        if _dbos is None:
            raise DBOSException(
                "DBOS.launch() was called without a DBOS instance. Call DBOS(config=...) first."
            )
        executor = _process_executor
        if executor.journal is not None:
            _logger.warning("DBOS was already launched.")
            return
        if not executor.application_version:
            executor.application_version = _application_version()
        executor.launch()

    @classmethod
    def destroy(cls, *, destroy_registry: bool = False,
                workflow_completion_timeout_sec: float = 0) -> None:
        """Stop this process's DBOS: background threads end and the journal is closed. Workflows
        still running stop at their next durable operation and are resumed by the next launch.
        ``destroy_registry`` also forgets the decorated functions (for tests)."""
        global _dbos, _process_executor
        timeout = _duration(workflow_completion_timeout_sec, "workflow_completion_timeout_sec")
        _journal_threads.shutdown()
        if _dbos is not None:
            _process_executor.destroy(timeout)
            _dbos = _process_executor = None
        if destroy_registry:
            _workflows.clear()
            _classes.clear()
            _instances.clear()
            _declared_queues.clear()

    @classmethod
    def reset_system_database(cls) -> None:
        """Delete the journal file (and its -wal/-shm) of the configured DBOS, before launch.
        For tests. Refuses a file that is not a dbos_lite journal."""
        if _dbos is None:
            _logger.warning("reset_system_database has no effect: DBOS(config=...) was not called.")
            return
        executor = _process_executor
        if executor.journal is not None:
            raise DBOSException(
                "The journal cannot be reset after DBOS.launch(); call DBOS.destroy() first."
            )
        _delete_journal(executor.journal_path)

    # -- decorators and registration --

    @classmethod
    def workflow(cls, *, name: str | None = None,
                 max_recovery_attempts: int | None = _DEFAULT_MAX_RECOVERY_ATTEMPTS
                 ) -> Callable[[Callable], Callable]:
        """Make a function a durable workflow. Calling it runs it (or, for an id that exists,
        returns its recorded result); a crash resumes it from its last completed operation.
        After ``max_recovery_attempts`` recoveries it is dead-lettered."""
        def decorate(func: Callable) -> Callable:
            return cls.register_workflow(func, name=name,
                                         max_recovery_attempts=max_recovery_attempts)
        return decorate

    @classmethod
    def register_workflow(cls, func: Callable, *, name: str | None = None,
                          max_recovery_attempts: int | None = _DEFAULT_MAX_RECOVERY_ATTEMPTS
                          ) -> Callable:
        """``@DBOS.workflow()`` as a call: register ``func`` and return the wrapped function."""
        workflow = _register_workflow(func, name, max_recovery_attempts)
        if workflow.is_async:
            @functools.wraps(func)
            async def run_workflow_async(*args: Any, **kwargs: Any) -> Any:
                return await _run_plan_async(_launched().call_plan(workflow, args, kwargs))

            run_workflow_async._dbos_lite_workflow = workflow  # type: ignore[attr-defined]
            return run_workflow_async

        @functools.wraps(func)
        def run_workflow(*args: Any, **kwargs: Any) -> Any:
            return _launched().call_workflow(workflow, args, kwargs)

        run_workflow._dbos_lite_workflow = workflow  # type: ignore[attr-defined]
        return run_workflow

    @classmethod
    def dbos_class(cls, class_name: str | None = None) -> Callable[[type], type]:
        """Register a class whose methods are workflows or steps, under ``class_name`` (default:
        its qualified name; names are unique). Its workflows keep their names (``Class.method``);
        an instance method's workflow records its instance's ``config_name`` (the class must
        derive from DBOSConfiguredInstance), a classmethod's its class, and recovery calls them
        on the instance or class registered under those names. Put ``@classmethod`` or
        ``@staticmethod`` above ``@DBOS.workflow()``."""
        def decorate(target: type) -> type:
            for attribute, method in _register_class(target, class_name):
                wrapper = cls._run_method(method)
                setattr(target, attribute,
                        classmethod(wrapper) if method.kind == "class" else wrapper)
            return target
        return decorate

    @staticmethod
    def _run_method(method: _MethodWorkflow) -> Callable:
        """What a registered class's workflow method becomes: the workflow bound to the
        instance or class it is called on."""
        if method.is_async:
            @functools.wraps(method.method)
            async def run_method_async(receiver: Any, *args: Any, **kwargs: Any) -> Any:
                return await _run_plan_async(
                    _launched().call_plan(method.bind(receiver), args, kwargs))

            run_method_async._dbos_lite_method = method  # type: ignore[attr-defined]
            return run_method_async

        @functools.wraps(method.method)
        def run_method(receiver: Any, *args: Any, **kwargs: Any) -> Any:
            return _launched().call_workflow(method.bind(receiver), args, kwargs)

        run_method._dbos_lite_method = method  # type: ignore[attr-defined]
        return run_method

    @classmethod
    def step(cls, *, name: str | None = None, retries_allowed: bool = False,
             interval_seconds: float = 1.0, max_attempts: int = 3, backoff_rate: float = 2.0,
             should_retry: Callable[[BaseException], bool] | None = None
             ) -> Callable[[Callable], Callable]:
        """Make a function a step: inside a workflow its outcome is recorded once and replayed
        after a crash. With ``retries_allowed`` a failing step is tried up to ``max_attempts``
        times, waiting ``min(interval_seconds * backoff_rate**i, 3600)`` after failure i;
        ``should_retry(exc) is False`` stops at once. Exhaustion raises
        DBOSMaxStepRetriesExceeded. Outside a workflow, or inside another step, it is a plain
        call."""
        def decorate(func: Callable) -> Callable:
            return cls.register_step(
                func, name=name, retries_allowed=retries_allowed,
                interval_seconds=interval_seconds, max_attempts=max_attempts,
                backoff_rate=backoff_rate, should_retry=should_retry)
        return decorate

    @classmethod
    def register_step(cls, func: Callable, **options: Any) -> Callable:
        """``@DBOS.step(**options)`` as a call: returns the wrapped function."""
        step = _StepFunction(func, typing.cast(StepOptions, options))
        if step.is_async:
            @functools.wraps(func)
            async def run_step_async(*args: Any, **kwargs: Any) -> Any:
                context = _recording_context()
                if context is None:
                    return await func(*args, **kwargs)
                return await _run_plan_async(_launched().step_plan(context, step, args, kwargs))

            return run_step_async

        @functools.wraps(func)
        def run_step(*args: Any, **kwargs: Any) -> Any:
            context = _recording_context()
            if context is None:
                return func(*args, **kwargs)
            _warn_if_blocking_a_loop(step)
            return _launched().run_step(context, step, args, kwargs)

        return run_step

    @classmethod
    def run_step(cls, options: StepOptions | None, func: Callable, *args: Any,
                 **kwargs: Any) -> Any:
        """Run any callable as a step, with the options of ``@DBOS.step`` (``name`` defaults to
        the callable's qualified name)."""
        context = _recording_context()
        if context is None:
            return func(*args, **kwargs)
        _refuse_running_loop("run_step")
        step = _StepFunction(func, options or {})
        return _launched().run_step(context, step, args, kwargs)

    @classmethod
    async def run_step_async(cls, options: StepOptions | None, func: Callable, *args: Any,
                             **kwargs: Any) -> Any:
        """``run_step`` for async code: a coroutine function is awaited, a sync function runs
        in a worker thread so that it never blocks the event loop."""
        step = _StepFunction(func, options or {})
        context = _recording_context()
        if context is None:
            return await _run_plan_async(_plain_call_plan(step, args, kwargs))
        return await _run_plan_async(_launched().step_plan(context, step, args, kwargs))

    # -- starting and inspecting workflows --

    @classmethod
    def start_workflow(cls, func: Callable, *args: Any, **kwargs: Any) -> WorkflowHandle:
        """Start a workflow on the thread pool and return its handle at once. The start is
        recorded before this returns; a conflicting id raises here."""
        workflow, args = _workflow_of(func, args)
        executor = _launched()
        start = executor.start(workflow, args, kwargs)
        ran = executor.submit(workflow, start.workflow, start.fresh) if start.run else None
        return WorkflowHandle(start.workflow.workflow_id, workflow.return_type, ran)

    @classmethod
    async def start_workflow_async(cls, func: Callable, *args: Any, **kwargs: Any
                                   ) -> WorkflowHandleAsync:
        """``start_workflow`` for async code: an async workflow runs as a task of the running
        event loop, a sync one on the thread pool."""
        workflow, args = _workflow_of(func, args)
        executor = _launched()
        start = await _run_plan_async(executor.start_plan(workflow, args, kwargs))
        if start.run:
            if workflow.is_async:
                executor.submit_task(workflow, start.workflow, start.fresh)
            else:
                executor.submit(workflow, start.workflow, start.fresh)
        return WorkflowHandleAsync(start.workflow.workflow_id, workflow.return_type)

    @classmethod
    def retrieve_workflow(cls, workflow_id: str, existing_workflow: bool = True
                          ) -> WorkflowHandle:
        """A handle on a workflow by id (DBOSNonExistentWorkflowError if there is none and
        ``existing_workflow`` is true)."""
        _refuse_running_loop("retrieve_workflow")
        try:
            return WorkflowHandle(workflow_id, _looking().return_type(workflow_id))
        except DBOSNonExistentWorkflowError:
            if existing_workflow:
                raise
            return WorkflowHandle(workflow_id)

    @classmethod
    async def retrieve_workflow_async(cls, workflow_id: str, existing_workflow: bool = True
                                      ) -> WorkflowHandleAsync:
        """``DBOS.retrieve_workflow`` for async code."""
        return _async_handle(await _in_journal_thread(cls.retrieve_workflow, workflow_id,
                                                      existing_workflow))

    @classmethod
    def get_result(cls, workflow_id: str) -> Any:
        """Wait for a workflow by id; its return value, or its error raised (as
        ``DBOS.retrieve_workflow(workflow_id).get_result()``). Inside a workflow the result is
        recorded (``DBOS.getResult``). DBOSNonExistentWorkflowError if there is no such
        workflow (DBOS Transact waits for ever)."""
        _refuse_running_loop("get_result")
        return _launched().get_result(workflow_id, None)

    @classmethod
    async def get_result_async(cls, workflow_id: str) -> Any:
        """``DBOS.get_result`` for async code."""
        return await _run_plan_async(_launched().get_result_plan(workflow_id, None))

    @classmethod
    def wait_first(cls, handles: list[WorkflowHandle], *,
                   polling_interval_sec: float = 1.0) -> WorkflowHandle:
        """Wait until one of the handles' workflows has finished (succeeded, failed, was
        cancelled...); that handle, the first in the list's order if several have. Inside a
        workflow the choice is recorded (``DBOS.waitFirst``), so a replay returns the same
        handle. ValueError for an empty list or a repeated id; DBOSNonExistentWorkflowError
        if, while none has finished, one of them does not exist. A finish wakes the wait at
        once: ``polling_interval_sec`` is accepted for DBOS Transact's signature."""
        _refuse_running_loop("wait_first")
        by_id = _handles_by_id(handles)
        return by_id[_run_plan(_launched().wait_first_plan(list(by_id)))]

    @classmethod
    async def wait_first_async(cls, handles: list[WorkflowHandleAsync], *,
                               polling_interval_sec: float = 1.0) -> WorkflowHandleAsync:
        """``DBOS.wait_first`` for async code, on WorkflowHandleAsync handles."""
        by_id = _handles_by_id(handles)
        return by_id[await _run_plan_async(_launched().wait_first_plan(list(by_id)))]

    @classmethod
    def get_workflow_status(cls, workflow_id: str) -> WorkflowStatus | None:
        """The workflow's status, or None if there is no such workflow."""
        _refuse_running_loop("get_workflow_status")
        return _looking().get_workflow_status(workflow_id)

    @classmethod
    async def get_workflow_status_async(cls, workflow_id: str) -> WorkflowStatus | None:
        """``DBOS.get_workflow_status`` for async code."""
        return await _in_journal_thread(cls.get_workflow_status, workflow_id)

    @classmethod
    def list_workflows(
        cls, *, workflow_ids: list[str] | None = None, status: str | list[str] | None = None,
        start_time: Any = None, end_time: Any = None, name: str | list[str] | None = None,
        app_version: str | None = None, executor_id: str | None = None,
        workflow_id_prefix: str | None = None, parent_workflow_id: str | None = None,
        queue_name: str | None = None, forked_from: str | None = None,
        limit: int | None = None, offset: int | None = None, sort_desc: bool = False,
        load_input: bool = True, load_output: bool = True, completed_after: Any = None,
        completed_before: Any = None, dequeued_after: Any = None, dequeued_before: Any = None,
        has_parent: bool | None = None, is_fork: bool | None = None,
        was_forked_from: bool | None = None, queues_only: bool = False,
        schedule_name: str | list[str] | None = None,
    ) -> list[WorkflowStatus]:
        """Workflows matching every filter given, oldest first (``sort_desc`` for newest first).
        Times are ISO 8601 strings, datetimes or epoch ms: ``start_time``/``end_time`` bound
        ``created_at``, ``completed_after``/``completed_before`` ``completed_at`` (so they list
        finished workflows only), ``dequeued_after``/``dequeued_before`` ``dequeued_at``.
        ``has_parent``: children only (True) or none (False); ``is_fork``: forks only, or none;
        ``was_forked_from``: the workflows some fork was made from, or the others;
        ``queues_only``: as ``list_queued_workflows``; ``schedule_name``: the runs of these
        schedules."""
        _refuse_running_loop("list_workflows")
        query = _workflow_filter(
            workflow_ids=workflow_ids, status=status, start_time=start_time, end_time=end_time,
            name=name, app_version=app_version, executor_id=executor_id,
            workflow_id_prefix=workflow_id_prefix, parent_workflow_id=parent_workflow_id,
            queue_name=queue_name, forked_from=forked_from, limit=limit, offset=offset,
            sort_desc=sort_desc, queued_only=queues_only, completed_after=completed_after,
            completed_before=completed_before, dequeued_after=dequeued_after,
            dequeued_before=dequeued_before, has_parent=has_parent, is_fork=is_fork,
            was_forked_from=was_forked_from, schedule_name=schedule_name)
        return _looking().list_workflows(query, load_input, load_output)

    @classmethod
    async def list_workflows_async(cls, **filters: Any) -> list[WorkflowStatus]:
        """``DBOS.list_workflows`` for async code."""
        return await _in_journal_thread(cls.list_workflows, **filters)

    @classmethod
    def list_workflow_steps(cls, workflow_id: str) -> list[StepInfo]:
        """The recorded operations of a workflow, in order (empty if it has none)."""
        _refuse_running_loop("list_workflow_steps")
        return _looking().list_workflow_steps(workflow_id)

    @classmethod
    async def list_workflow_steps_async(cls, workflow_id: str) -> list[StepInfo]:
        """``DBOS.list_workflow_steps`` for async code."""
        return await _in_journal_thread(cls.list_workflow_steps, workflow_id)

    @classmethod
    def backup(cls, path: str) -> None:
        """Copy the journal to a new file ``path`` while workflows run: a consistent snapshot
        of one moment, in a single self-contained file (no -wal beside it). A dbos_lite extra:
        copying the live ``.sqlite`` file alone can miss what its -wal file still holds."""
        _looking().backup(path)

    # -- durable coordination --

    @classmethod
    def sleep(cls, seconds: float) -> None:
        """Sleep durably: the wake-up time is recorded, so a workflow killed mid-sleep and
        restarted wakes at the original time. Only in a workflow, not in a step."""
        _refuse_running_loop("sleep")
        _run_plan(_launched().sleep_plan(seconds))

    @classmethod
    async def sleep_async(cls, seconds: float) -> None:
        """``DBOS.sleep`` for async workflows."""
        await _run_plan_async(_launched().sleep_plan(seconds))

    @classmethod
    def send(cls, destination_id: str, message: Any, topic: str | None = None, *,
             idempotency_key: str | None = None) -> None:
        """Send a message to a workflow, for its ``DBOS.recv(topic)``. From a workflow the send
        is recorded and happens once, even across a crash; elsewhere an ``idempotency_key``
        makes repeated sends of one message a no-op. DBOSNonExistentWorkflowError if there is
        no such workflow."""
        _refuse_running_loop("send")
        records = _message_records([SendMessage(destination_id, message, topic, idempotency_key)])
        _run_plan(_launched().send_plan(records))

    @classmethod
    async def send_async(cls, destination_id: str, message: Any, topic: str | None = None, *,
                         idempotency_key: str | None = None) -> None:
        """``DBOS.send`` for async code."""
        records = _message_records([SendMessage(destination_id, message, topic, idempotency_key)])
        await _run_plan_async(_launched().send_plan(records))

    @classmethod
    def send_bulk(cls, messages: list[SendMessage]) -> None:
        """Send many messages (SendMessage: ``destination_id``, ``message``, ``topic``,
        ``idempotency_key``) in one transaction: all are sent, or none. From a workflow they
        are recorded as one operation (``DBOS.send_bulk``) and sent once, even across a crash.
        DBOSNonExistentWorkflowError names every destination not in the journal; an
        idempotency key given twice in one call is refused."""
        _refuse_running_loop("send_bulk")
        _run_plan(_launched().send_plan(_message_records(messages), "DBOS.send_bulk"))

    @classmethod
    async def send_bulk_async(cls, messages: list[SendMessage]) -> None:
        """``DBOS.send_bulk`` for async code."""
        await _run_plan_async(_launched().send_plan(_message_records(messages),
                                                    "DBOS.send_bulk"))

    @classmethod
    def recv(cls, topic: str | None = None, timeout_seconds: float | None = 60) -> Any:
        """Receive the oldest message of ``topic`` sent to this workflow, waiting up to
        ``timeout_seconds`` (None on timeout). Only in a workflow, not in a step. A message is
        consumed exactly once, even across a crash."""
        _refuse_running_loop("recv")
        return _run_plan(_launched().recv_plan(topic, timeout_seconds))

    @classmethod
    async def recv_async(cls, topic: str | None = None,
                         timeout_seconds: float | None = 60) -> Any:
        """``DBOS.recv`` for async workflows."""
        return await _run_plan_async(_launched().recv_plan(topic, timeout_seconds))

    @classmethod
    def set_event(cls, key: str, value: Any) -> None:
        """Publish ``value`` under ``key`` for this workflow (the latest value wins); others
        read it with ``DBOS.get_event``. In a workflow or a step."""
        _refuse_running_loop("set_event")
        _run_plan(_launched().set_event_plan(key, value))

    @classmethod
    async def set_event_async(cls, key: str, value: Any) -> None:
        """``DBOS.set_event`` for async code."""
        await _run_plan_async(_launched().set_event_plan(key, value))

    @classmethod
    def get_event(cls, workflow_id: str, key: str, timeout_seconds: float | None = 60) -> Any:
        """The value a workflow published under ``key``, waiting up to ``timeout_seconds`` for
        it (None on timeout). Inside a workflow the value read is recorded."""
        _refuse_running_loop("get_event")
        return _run_plan(_launched().get_event_plan(workflow_id, key, timeout_seconds))

    @classmethod
    async def get_event_async(cls, workflow_id: str, key: str,
                              timeout_seconds: float | None = 60) -> Any:
        """``DBOS.get_event`` for async code."""
        return await _run_plan_async(
            _launched().get_event_plan(workflow_id, key, timeout_seconds))

    @classmethod
    def get_all_events(cls, workflow_id: str) -> dict[str, Any]:
        """Every key a workflow published, with its latest value."""
        _refuse_running_loop("get_all_events")
        return _run_plan(_launched().get_all_events_plan(workflow_id))

    @classmethod
    async def get_all_events_async(cls, workflow_id: str) -> dict[str, Any]:
        """``DBOS.get_all_events`` for async code."""
        return await _run_plan_async(_launched().get_all_events_plan(workflow_id))

    @classmethod
    def write_stream(cls, key: str, value: Any) -> None:
        """Append ``value`` to this workflow's stream ``key``; readers get values in order."""
        _refuse_running_loop("write_stream")
        _run_plan(_launched().write_stream_plan(key, value))

    @classmethod
    async def write_stream_async(cls, key: str, value: Any) -> None:
        """``DBOS.write_stream`` for async code."""
        await _run_plan_async(_launched().write_stream_plan(key, value))

    @classmethod
    def close_stream(cls, key: str) -> None:
        """Close this workflow's stream ``key``: its readers stop after the last value."""
        _refuse_running_loop("close_stream")
        _run_plan(_launched().write_stream_plan(key, None, True))

    @classmethod
    async def close_stream_async(cls, key: str) -> None:
        """``DBOS.close_stream`` for async code."""
        await _run_plan_async(_launched().write_stream_plan(key, None, True))

    @classmethod
    def read_stream(cls, workflow_id: str, key: str, *, offset: int = 0,
                    polling_interval_sec: float | None = None,
                    timeout_seconds: float | None = None) -> Iterator[Any]:
        """Yield the values of a workflow's stream in order from ``offset``, waiting for new
        ones; ends when the stream is closed or the workflow has finished. With
        ``timeout_seconds``, waiting longer than that for one value raises
        DBOSStreamTimeoutError. DBOSNonExistentWorkflowError if there is no such workflow.
        A commit wakes the wait: ``polling_interval_sec`` is checked and otherwise unused."""
        _refuse_running_loop("read_stream")
        offset, timeout = _stream_reading(offset, polling_interval_sec, timeout_seconds)
        executor = _launched()
        while True:
            value = _run_plan(executor.read_stream_plan(workflow_id, key, offset, timeout))
            if value is _STREAM_END:
                return
            yield _decode_value(value)
            offset += 1

    @classmethod
    async def read_stream_async(cls, workflow_id: str, key: str, *, offset: int = 0,
                                polling_interval_sec: float | None = None,
                                timeout_seconds: float | None = None
                                ) -> typing.AsyncIterator[Any]:
        """``DBOS.read_stream`` for async code: an async generator."""
        offset, timeout = _stream_reading(offset, polling_interval_sec, timeout_seconds)
        executor = _launched()
        while True:
            value = await _run_plan_async(executor.read_stream_plan(workflow_id, key, offset,
                                                                    timeout))
            if value is _STREAM_END:
                return
            yield _decode_value(value)
            offset += 1

    @classmethod
    def read_stream_offset(cls, workflow_id: str, key: str, offset: int, *,
                           polling_interval_sec: float | None = None,
                           timeout_seconds: float | None = None) -> Any:
        """The value at ``offset`` of a workflow's stream, waiting for it to be written (for
        ever by default). DBOSStreamTimeoutError if ``timeout_seconds`` pass first, or if the
        stream ends before ``offset``. Inside a workflow the value read is recorded
        (``DBOS.readStreamOffset``)."""
        _refuse_running_loop("read_stream_offset")
        offset, timeout = _stream_reading(offset, polling_interval_sec, timeout_seconds)
        return _stream_value(workflow_id, key, _run_plan(_launched().read_stream_plan(
            workflow_id, key, offset, timeout, "DBOS.readStreamOffset")))

    @classmethod
    async def read_stream_offset_async(cls, workflow_id: str, key: str, offset: int, *,
                                       polling_interval_sec: float | None = None,
                                       timeout_seconds: float | None = None) -> Any:
        """``DBOS.read_stream_offset`` for async code."""
        offset, timeout = _stream_reading(offset, polling_interval_sec, timeout_seconds)
        return _stream_value(workflow_id, key, await _run_plan_async(_launched().read_stream_plan(
            workflow_id, key, offset, timeout, "DBOS.readStreamOffset")))

    # -- queues --

    @classmethod
    def register_queue(cls, name: str, *, worker_concurrency: int | None = None,
                       global_concurrency: int | None = None,
                       partition_concurrency: int | None = None,
                       partition_worker_concurrency: int | None = None,
                       partition_limiter: QueueRateLimit | None = None,
                       limiter: QueueRateLimit | None = None,
                       polling_interval_sec: float = 1.0,
                       on_conflict: str = "update_if_latest_version",
                       concurrency: int | None = None) -> Queue:
        """Declare a queue, or change its settings; its ``Queue``. The settings live in the
        journal, so every process on it (and a client) sees one queue: ``global_concurrency``
        workflows at most run at once across processes, ``worker_concurrency`` in each one,
        ``limiter`` ``{"limit": N, "period": seconds}`` starts at most N in any period;
        ``partition_*`` are the same per partition key. ``on_conflict="never_update"`` keeps
        settings already stored. May be called before ``DBOS.launch()`` (stored at launch)."""
        _refuse_running_loop("register_queue")
        if on_conflict not in ("update_if_latest_version", "always_update", "never_update"):
            raise _InvalidArgument(
                f"on_conflict must be 'update_if_latest_version', 'always_update' or "
                f"'never_update', not {on_conflict!r}.")
        queue = _queue_record(
            name, worker_concurrency=worker_concurrency, global_concurrency=global_concurrency,
            partition_concurrency=partition_concurrency,
            partition_worker_concurrency=partition_worker_concurrency,
            partition_limiter=partition_limiter, limiter=limiter,
            polling_interval_sec=polling_interval_sec, concurrency=concurrency)
        replace = on_conflict != "never_update"
        executor = _process_executor
        if executor is not None and executor.journal is not None:
            executor.journal.put_queue(queue, replace)
            executor.dispatcher.wake()
        _declared_queues[name] = (queue, replace)
        return Queue(name, _token=_QUEUE_TOKEN)

    @classmethod
    async def register_queue_async(cls, name: str, **settings: Any) -> Queue:
        """``DBOS.register_queue`` for async code."""
        return await _in_journal_thread(cls.register_queue, name, **settings)

    @classmethod
    def retrieve_queue(cls, name: str) -> Queue | None:
        """The queue named ``name``, or None if there is none."""
        _refuse_running_loop("retrieve_queue")
        return Queue(name, _token=_QUEUE_TOKEN) if _queue_settings(name) is not None else None

    @classmethod
    async def retrieve_queue_async(cls, name: str) -> Queue | None:
        """``DBOS.retrieve_queue`` for async code."""
        return await _in_journal_thread(cls.retrieve_queue, name)

    @classmethod
    def list_queues(cls) -> list[Queue]:
        """Every queue in the journal (before launch: those declared in this process)."""
        _refuse_running_loop("list_queues")
        executor = _process_executor
        if executor is not None and executor.journal is not None:
            names = [queue.name for queue in executor.journal.list_queues()
                     if not queue.name.startswith("_dbos_")]
        else:
            names = list(_declared_queues)
        return [Queue(name, _token=_QUEUE_TOKEN) for name in names]

    @classmethod
    async def list_queues_async(cls) -> list[Queue]:
        """``DBOS.list_queues`` for async code."""
        return await _in_journal_thread(cls.list_queues)

    @classmethod
    def delete_queue(cls, name: str) -> None:
        """Delete a queue's settings (no error if there is none). Workflows still on it stay
        ENQUEUED until a queue of that name is registered again."""
        _refuse_running_loop("delete_queue")
        _declared_queues.pop(name, None)
        executor = _process_executor
        if executor is not None and executor.journal is not None:
            executor.journal.delete_queue(name)

    @classmethod
    async def delete_queue_async(cls, name: str) -> None:
        """``DBOS.delete_queue`` for async code."""
        await _in_journal_thread(cls.delete_queue, name)

    @classmethod
    def listen_queues(cls, queues: list[Any]) -> None:
        """Before ``DBOS.launch()``: this process works only these queues (names or Queue
        objects; ``[]`` for none). It may still enqueue onto any queue."""
        executor = _process_executor
        if executor is None:
            raise DBOSException("DBOS.listen_queues() needs DBOS(config=...) first.")
        if executor.journal is not None:
            raise DBOSException("listen_queues called after DBOS is launched")
        if executor.listened is not None:
            raise DBOSException("listen_queues called more than once")
        executor.listened = {queue.name if isinstance(queue, Queue) else queue
                             for queue in queues}

    @classmethod
    def enqueue_workflow(cls, queue_name: str, func: Callable, *args: Any, **kwargs: Any
                         ) -> WorkflowHandle:
        """Enqueue a workflow onto the queue named ``queue_name`` (as ``Queue.enqueue``)."""
        return Queue(queue_name, _token=_QUEUE_TOKEN).enqueue(func, *args, **kwargs)

    @classmethod
    async def enqueue_workflow_async(cls, queue_name: str, func: Callable, *args: Any,
                                     **kwargs: Any) -> WorkflowHandleAsync:
        """``DBOS.enqueue_workflow`` for async code."""
        return await Queue(queue_name, _token=_QUEUE_TOKEN).enqueue_async(func, *args,
                                                                          **kwargs)

    @classmethod
    def enqueue_workflow_with_options(cls, options: EnqueueOptions, *args: Any, **kwargs: Any
                                      ) -> WorkflowHandle:
        """Enqueue a registered workflow by name, with ``options`` as ``DBOSClient.enqueue``
        takes them (``workflow_name``, ``queue_name``, ``workflow_id``, ``priority``...)."""
        workflow, queue_name, settings = _enqueue_options(options)
        executor = _launched()
        with _options_context(options):
            workflow_id = _run_plan(executor.enqueue_plan(workflow, args, kwargs, queue_name,
                                                          settings))
        return WorkflowHandle(workflow_id, workflow.return_type)

    @classmethod
    async def enqueue_workflow_with_options_async(cls, options: EnqueueOptions, *args: Any,
                                                  **kwargs: Any) -> WorkflowHandleAsync:
        """``DBOS.enqueue_workflow_with_options`` for async code."""
        workflow, queue_name, settings = _enqueue_options(options)
        executor = _launched()
        with _options_context(options):
            workflow_id = await _run_plan_async(executor.enqueue_plan(
                workflow, args, kwargs, queue_name, settings))
        return WorkflowHandleAsync(workflow_id, workflow.return_type)

    @classmethod
    def list_queued_workflows(
        cls, *, workflow_ids: list[str] | None = None, status: str | list[str] | None = None,
        start_time: Any = None, end_time: Any = None, name: str | list[str] | None = None,
        app_version: str | None = None, executor_id: str | None = None,
        workflow_id_prefix: str | None = None, parent_workflow_id: str | None = None,
        queue_name: str | None = None, forked_from: str | None = None,
        limit: int | None = None, offset: int | None = None, sort_desc: bool = False,
        load_input: bool = True, load_output: bool = True, completed_after: Any = None,
        completed_before: Any = None, dequeued_after: Any = None, dequeued_before: Any = None,
        has_parent: bool | None = None, is_fork: bool | None = None,
    ) -> list[WorkflowStatus]:
        """The workflows on queues, with ``list_workflows``' filters; without ``status``,
        those not finished (ENQUEUED, DELAYED, PENDING)."""
        _refuse_running_loop("list_queued_workflows")
        query = _workflow_filter(
            workflow_ids=workflow_ids, status=status, start_time=start_time, end_time=end_time,
            name=name, app_version=app_version, executor_id=executor_id,
            workflow_id_prefix=workflow_id_prefix, parent_workflow_id=parent_workflow_id,
            queue_name=queue_name, forked_from=forked_from, limit=limit, offset=offset,
            sort_desc=sort_desc, queued_only=True, completed_after=completed_after,
            completed_before=completed_before, dequeued_after=dequeued_after,
            dequeued_before=dequeued_before, has_parent=has_parent, is_fork=is_fork)
        return _looking().list_workflows(query, load_input, load_output)

    @classmethod
    async def list_queued_workflows_async(cls, **filters: Any) -> list[WorkflowStatus]:
        """``DBOS.list_queued_workflows`` for async code."""
        return await _in_journal_thread(cls.list_queued_workflows, **filters)

    # -- schedules --

    @classmethod
    def create_schedule(cls, *, schedule_name: str, workflow_fn: Callable[..., Any],
                        schedule: str, context: Any = None, automatic_backfill: bool = False,
                        cron_timezone: str | None = None, queue_name: str | None = None,
                        shard_key: str | None = None) -> None:
        """Run ``workflow_fn(scheduled_time, context)`` at each time of the cron string
        ``schedule`` (5 fields, or 6 with seconds first), read in ``cron_timezone`` (UTC if
        None); ``scheduled_time`` is timezone-aware. Each time runs once, as workflow
        ``sched-<schedule_name>-<scheduled_time.isoformat()>`` on ``queue_name`` (the
        internal queue if None), however many processes share the journal. Times missed while
        no process ran are skipped, or with ``automatic_backfill`` run at the next launch.
        Inside a workflow this is a recorded operation."""
        executor = _launched()
        if queue_name is not None and queue_name != _INTERNAL_QUEUE_NAME \
                and isinstance(queue_name, str) and _queue_settings(queue_name) is None:
            raise DBOSException(f"Queue '{queue_name}' is not declared. Please create the "
                                "queue before using it in a schedule.")
        workflow = _scheduled_workflow(workflow_fn)
        record = _schedule_record(schedule_name, workflow.name, workflow.class_name, schedule,
                                  context, automatic_backfill, cron_timezone, queue_name,
                                  shard_key)
        executor.scheduler.start()
        _run_plan(executor.put_schedules_plan([record], replace=False))

    @classmethod
    async def create_schedule_async(cls, **settings: Any) -> None:
        """``DBOS.create_schedule`` for async code."""
        await _in_journal_thread(cls.create_schedule, **settings)

    @classmethod
    def apply_schedules(cls, schedules: list[ScheduleInput]) -> None:
        """Create or change several schedules at once (all or none): one of that name that
        exists takes the new definition, keeping its status and last fired time; schedules
        not in the list stay as they are. Not inside a workflow."""
        if _recording_context() is not None or _current_step.get() is not None:
            raise DBOSException("DBOS.apply_schedules cannot be called from within a workflow")
        executor = _launched()
        records = []
        for entry in _schedule_entries(schedules, "ScheduleInput", "workflow_fn"):
            workflow = _scheduled_workflow(entry["workflow_fn"])
            records.append(_schedule_record(
                entry["schedule_name"], workflow.name, workflow.class_name, entry["schedule"],
                entry.get("context"), entry.get("automatic_backfill", False),
                entry.get("cron_timezone"), entry.get("queue_name"), entry.get("shard_key")))
        if records:
            executor.scheduler.start()
            _run_plan(executor.put_schedules_plan(records, replace=True))

    @classmethod
    async def apply_schedules_async(cls, schedules: list[ScheduleInput]) -> None:
        """``DBOS.apply_schedules`` for async code."""
        await _in_journal_thread(cls.apply_schedules, schedules)

    @classmethod
    def list_schedules(cls, *, status: str | list[str] | None = None,
                       workflow_name: str | list[str] | None = None,
                       schedule_name_prefix: str | list[str] | None = None,
                       application_name: str | list[str] | None = None
                       ) -> list[WorkflowSchedule]:
        """The schedules, oldest first, filtered by status (``"ACTIVE"``, ``"PAUSED"``),
        workflow name and name prefix (each one value or a list). Inside a workflow, a
        recorded operation."""
        management = _looking()
        return _run_plan(_launched().schedule_read_plan(
            "DBOS.listSchedules", lambda: management.list_schedules(
                status, workflow_name, schedule_name_prefix, application_name)))

    @classmethod
    async def list_schedules_async(cls, **filters: Any) -> list[WorkflowSchedule]:
        """``DBOS.list_schedules`` for async code."""
        return await _in_journal_thread(cls.list_schedules, **filters)

    @classmethod
    def get_schedule(cls, name: str) -> WorkflowSchedule | None:
        """The schedule named ``name``, or None. Inside a workflow, a recorded operation."""
        management = _looking()
        return _run_plan(_launched().schedule_read_plan(
            "DBOS.getSchedule", lambda: management.get_schedule(name)))

    @classmethod
    async def get_schedule_async(cls, name: str) -> WorkflowSchedule | None:
        """``DBOS.get_schedule`` for async code."""
        return await _in_journal_thread(cls.get_schedule, name)

    @classmethod
    def pause_schedule(cls, name: str) -> None:
        """Stop firing a schedule until ``resume_schedule`` (nothing if there is none of that
        name). Inside a workflow, a recorded operation."""
        executor = _launched()
        _run_plan(executor.schedule_status_plan(name, "PAUSED"))

    @classmethod
    def resume_schedule(cls, name: str) -> None:
        """Fire a paused schedule again; with ``automatic_backfill``, the times it missed
        while paused run first. Nothing if there is none of that name. Inside a workflow, a
        recorded operation."""
        executor = _launched()
        _run_plan(executor.schedule_status_plan(name, "ACTIVE"))

    @classmethod
    def delete_schedule(cls, name: str) -> None:
        """Delete a schedule; its runs stay. Nothing if there is none of that name. Inside a
        workflow, a recorded operation."""
        executor = _launched()
        _run_plan(executor.delete_schedule_plan(name))

    @classmethod
    async def delete_schedule_async(cls, name: str) -> None:
        """``DBOS.delete_schedule`` for async code."""
        await _in_journal_thread(cls.delete_schedule, name)

    @classmethod
    def trigger_schedule(cls, schedule_name: str) -> WorkflowHandle:
        """Run a schedule's workflow now (also when it is paused), as workflow
        ``sched-<name>-trigger-<now in UTC, ISO>``; its handle. Not inside a workflow."""
        if _recording_context() is not None or _current_step.get() is not None:
            raise DBOSException("DBOS.trigger_schedule cannot be called from within a "
                                "workflow")
        executor = _launched()
        schedule = _looking().schedule(schedule_name)
        fire = _trigger_fire(schedule, executor.application_version)
        executor.fire_now([fire])
        return WorkflowHandle(fire.workflow.workflow_id, None)

    @classmethod
    def backfill_schedule(cls, schedule_name: str, start: Any, end: Any
                          ) -> list[WorkflowHandle]:
        """Run a schedule's times strictly between ``start`` and ``end`` (naive datetimes
        are UTC) that have not run: each has the id the scheduler gives it, so a time that
        ran (or a second backfill of the window) runs nothing again. The handles of all the
        times in the window, in order. Not inside a workflow."""
        if _recording_context() is not None or _current_step.get() is not None:
            raise DBOSException("DBOS.backfill_schedule cannot be called from within a "
                                "workflow")
        executor = _launched()
        schedule = _looking().schedule(schedule_name)
        ids = []
        for batch in _batched(_backfill_fires(schedule, start, end,
                                              executor.application_version), 500):
            executor.fire_now(batch)
            ids.extend(fire.workflow.workflow_id for fire in batch)
        return [WorkflowHandle(workflow_id, None) for workflow_id in ids]

    # -- managing workflows --

    @classmethod
    def cancel_workflow(cls, workflow_id: str, *, cancel_children: bool = False) -> None:
        """Cancel a workflow that has not finished: it becomes CANCELLED and stops at its next
        durable operation (nothing more is recorded); awaiting it raises
        DBOSAwaitedWorkflowCancelledError. ``DBOS.resume_workflow`` continues it."""
        _refuse_running_loop("cancel_workflow")
        _launched().cancel([workflow_id], cancel_children)

    @classmethod
    async def cancel_workflow_async(cls, workflow_id: str, *,
                                    cancel_children: bool = False) -> None:
        """``DBOS.cancel_workflow`` for async code."""
        await _in_journal_thread(cls.cancel_workflow, workflow_id,
                                 cancel_children=cancel_children)

    @classmethod
    def cancel_workflows(cls, workflow_ids: list[str], *, cancel_children: bool = False
                         ) -> None:
        """``DBOS.cancel_workflow`` for several workflows, in one transaction; ids not in the
        journal, and workflows that have finished, are left as they are."""
        _refuse_running_loop("cancel_workflows")
        _launched().cancel(_workflow_ids(workflow_ids), cancel_children)

    @classmethod
    async def cancel_workflows_async(cls, workflow_ids: list[str], *,
                                     cancel_children: bool = False) -> None:
        """``DBOS.cancel_workflows`` for async code."""
        await _in_journal_thread(cls.cancel_workflows, workflow_ids,
                                 cancel_children=cancel_children)

    @classmethod
    def resume_workflow(cls, workflow_id: str, *, queue_name: str | None = None
                        ) -> WorkflowHandle:
        """Continue a cancelled or dead-lettered workflow from its last completed step (its
        recovery attempts and deadline are reset), here, or ENQUEUED on ``queue_name`` (a
        queue of the journal) if given. A finished workflow is left as it is;
        DBOSNonExistentWorkflowError for an unknown id."""
        _refuse_running_loop("resume_workflow")
        _launched().resume([workflow_id], queue_name)
        return cls.retrieve_workflow(workflow_id)

    @classmethod
    async def resume_workflow_async(cls, workflow_id: str, *, queue_name: str | None = None
                                    ) -> WorkflowHandleAsync:
        """``DBOS.resume_workflow`` for async code."""
        return _async_handle(await _in_journal_thread(cls.resume_workflow, workflow_id,
                                                      queue_name=queue_name))

    @classmethod
    def resume_workflows(cls, workflow_ids: list[str], *, queue_name: str | None = None
                         ) -> list[WorkflowHandle]:
        """``DBOS.resume_workflow`` for several workflows; their handles, in order. If one is
        not in the journal: DBOSNonExistentWorkflowError naming all those absent, and none is
        resumed."""
        _refuse_running_loop("resume_workflows")
        workflow_ids = _workflow_ids(workflow_ids)
        _launched().resume(workflow_ids, queue_name)
        return [cls.retrieve_workflow(w) for w in workflow_ids]

    @classmethod
    async def resume_workflows_async(cls, workflow_ids: list[str], *,
                                     queue_name: str | None = None
                                     ) -> list[WorkflowHandleAsync]:
        """``DBOS.resume_workflows`` for async code."""
        handles = await _in_journal_thread(cls.resume_workflows, workflow_ids,
                                           queue_name=queue_name)
        return [_async_handle(handle) for handle in handles]

    @classmethod
    def fork_workflow(cls, workflow_id: str, start_step: int, *,
                      application_version: str | None = None, queue_name: str | None = None,
                      queue_partition_key: str | None = None,
                      timeout_seconds: float | None = None) -> WorkflowHandle:
        """Start a new workflow (id from SetWorkflowID, or new) with the original's inputs; the
        outcomes recorded before operation ``start_step`` are reused, the rest runs again. It
        runs here at once, or, with ``queue_name`` (a queue of the journal) or
        ``queue_partition_key``, goes ENQUEUED onto that queue (DBOS Transact's internal one
        without a name). ``timeout_seconds``: its own timeout (from its dequeue if queued)."""
        _refuse_running_loop("fork_workflow")
        timeout = _duration(timeout_seconds, "timeout_seconds", positive=True, optional=True)
        timeout_ms = None if timeout is None else int(timeout * 1000)
        executor = _launched()
        if queue_name is None and queue_partition_key is None:
            new_id = executor.fork(workflow_id, start_step, application_version, timeout_ms)
        else:
            new_id = _Steering(executor._journal()).fork(
                workflow_id, start_step, application_version, queue_name, queue_partition_key,
                timeout_ms)
            executor.dispatcher.wake()
        return cls.retrieve_workflow(new_id)

    @classmethod
    async def fork_workflow_async(cls, workflow_id: str, start_step: int, *,
                                  application_version: str | None = None,
                                  queue_name: str | None = None,
                                  queue_partition_key: str | None = None,
                                  timeout_seconds: float | None = None
                                  ) -> WorkflowHandleAsync:
        """``DBOS.fork_workflow`` for async code."""
        return _async_handle(await _in_journal_thread(
            cls.fork_workflow, workflow_id, start_step, application_version=application_version,
            queue_name=queue_name, queue_partition_key=queue_partition_key,
            timeout_seconds=timeout_seconds))

    @classmethod
    def delete_workflow(cls, workflow_id: str, *, delete_children: bool = False) -> None:
        """Delete a workflow from the journal, with its operations, messages, events and
        streams (and its descendants' with ``delete_children``)."""
        _refuse_running_loop("delete_workflow")
        _launched().delete([workflow_id], delete_children)

    @classmethod
    async def delete_workflow_async(cls, workflow_id: str, *,
                                    delete_children: bool = False) -> None:
        """``DBOS.delete_workflow`` for async code."""
        await _in_journal_thread(cls.delete_workflow, workflow_id,
                                 delete_children=delete_children)

    @classmethod
    def delete_workflows(cls, workflow_ids: list[str], *, delete_children: bool = False
                         ) -> None:
        """``DBOS.delete_workflow`` for several workflows, in one transaction; ids not in the
        journal are skipped."""
        _refuse_running_loop("delete_workflows")
        _launched().delete(_workflow_ids(workflow_ids), delete_children)

    @classmethod
    async def delete_workflows_async(cls, workflow_ids: list[str], *,
                                     delete_children: bool = False) -> None:
        """``DBOS.delete_workflows`` for async code."""
        await _in_journal_thread(cls.delete_workflows, workflow_ids,
                                 delete_children=delete_children)

    @classmethod
    def patch(cls, patch_name: str) -> bool:
        """True if this workflow runs the patched code: it started after the patch, or had not
        reached this point when the patch was deployed. Old workflows get False."""
        _refuse_running_loop("patch")
        return _run_plan(_launched().patch_plan(patch_name, False))

    @classmethod
    async def patch_async(cls, patch_name: str) -> bool:
        """``DBOS.patch`` for async workflows."""
        return await _run_plan_async(_launched().patch_plan(patch_name, False))

    @classmethod
    def deprecate_patch(cls, patch_name: str) -> bool:
        """Replaces ``DBOS.patch(name)`` once no workflow needs the old path: always True,
        and still replays workflows that recorded the patch."""
        _refuse_running_loop("deprecate_patch")
        return _run_plan(_launched().patch_plan(patch_name, True))

    @classmethod
    async def deprecate_patch_async(cls, patch_name: str) -> bool:
        """``DBOS.deprecate_patch`` for async workflows."""
        return await _run_plan_async(_launched().patch_plan(patch_name, True))

    # -- where the code runs --

    @_classproperty
    def workflow_id(cls) -> str | None:
        """The id of the workflow the calling code runs in (also inside its steps), or None."""
        context = _current_workflow.get()
        return context.workflow_id if context is not None else None

    @_classproperty
    def step_id(cls) -> int | None:
        """The operation id of the running step, or None outside a step."""
        status = _current_step.get()
        return status.step_id if status is not None else None

    @_classproperty
    def step_status(cls) -> StepStatus | None:
        """The running step's id, attempt and maximum attempts, or None outside a step."""
        return _current_step.get()

    @_classproperty
    def logger(cls) -> Any:
        """dbos_lite's logger (``logging.getLogger("dbos_lite")``)."""
        import logging

        return logging.getLogger("dbos_lite")

    @_classproperty
    def executor_id(cls) -> str | None:
        """This process's executor id (unique to the process unless configured)."""
        return _process_executor.executor_id if _process_executor is not None else None

    @_classproperty
    def application_version(cls) -> str | None:
        """The application version recorded with the workflows this process starts."""
        return (_process_executor.application_version if _process_executor is not None
                else None)


class DBOSConfiguredInstance:
    """Base class of a class (registered with ``@DBOS.dbos_class()``) whose instance methods
    are workflows: ``config_name`` names the instance in the journal, and recovery calls an
    interrupted workflow on the instance created with the same class and ``config_name``.
    Create every instance before ``DBOS.launch()``, as DBOS Transact requires; two instances
    of a class with one ``config_name`` are refused (DBOSException)."""

    def __init__(self, config_name: str) -> None:
        self.config_name = config_name
        _register_instance(self)
        executor = _process_executor
        if executor is not None and executor.journal is not None:
            _logger.warning(
                "Configured instance %s of class %s was created after DBOS.launch(). dbos_lite "
                "recovers its workflows at its next heartbeat, but DBOS Transact recovers only "
                "at launch: create configured instances before DBOS.launch().", config_name,
                _class_name_of(type(self)) or type(self).__qualname__)


_QUEUE_TOKEN = object()


def _queue_settings(name: str) -> _QueueRecord | None:
    """A queue's settings: from the journal once launched, else as declared here."""
    executor = _process_executor
    if executor is not None and executor.journal is not None:
        return executor.journal.get_queue(name)
    declared = _declared_queues.get(name)
    return None if declared is None else declared[0]


def _queue_property(field: str, doc: str) -> property:
    def get(self: Queue) -> Any:
        return getattr(self._settings(), field)

    return property(get, doc=doc)


def _limiter_property(prefix: str, doc: str) -> property:
    def get(self: Queue) -> QueueRateLimit | None:
        settings = self._settings()
        limit = getattr(settings, f"{prefix}_limit")
        if limit is None:
            return None
        return QueueRateLimit(limit=limit, period=getattr(settings, f"{prefix}_period_ms") / 1000)

    return property(get, doc=doc)


def _queue_setter(field: str) -> Callable[[Queue, Any], None]:
    def set_value(self: Queue, value: Any) -> None:
        """Change this setting of the queue (for every process: it is in the journal)."""
        if field in ("limiter", "partition_limiter"):
            limit, period = _rate_limit(value, field)
            self._change({f"{field}_limit": limit, f"{field}_period_ms": period})
        elif field == "polling_interval_sec":
            self._change({field: _duration(value, field, positive=True)})
        else:
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise _InvalidArgument(f"{field} must be at least 1 (or None for no limit), "
                                       f"not {value!r}")
            self._change({"global_concurrency" if field == "concurrency" else field: value})

    return set_value


def _async_twin(method: Callable[..., Any]) -> Callable[..., Any]:
    async def twin(self: Queue, *args: Any) -> Any:
        return await _in_journal_thread(method, self, *args)

    twin.__doc__ = "The same as the method without ``_async``, for async code."
    return twin


class Queue:
    """A durable queue, from ``DBOS.register_queue`` or ``DBOS.retrieve_queue``. Its settings
    are read from the journal each time (another process may change them) and changed with
    the ``set_*`` methods; ``enqueue`` puts a workflow on it."""

    def __init__(self, name: str, *_: Any, _token: Any = None, _client: Any = None, **__: Any):
        if _token is not _QUEUE_TOKEN:
            raise DBOSException(
                "Queue objects cannot be constructed directly. Declare a queue with "
                "DBOS.register_queue(name, ...) and look one up with DBOS.retrieve_queue(name).")
        self.name = name
        self.database_backed_queue = True
        self._client = _client  # a DBOSClient's queue: read and changed through its journal

    def __repr__(self) -> str:
        return f"Queue({self.name!r})"

    def _settings(self) -> _QueueRecord:
        settings = _queue_settings(self.name) if self._client is None \
            else self._client._looking().journal.get_queue(self.name)
        if settings is None:
            raise DBOSException(f"Queue {self.name} not found in the database")
        return settings

    def _change(self, changes: dict[str, Any]) -> None:
        if self._client is not None:
            journal = self._client._steering().journal
            if journal.change_queue(self.name, changes, _check_queue) is None:
                raise DBOSException(f"Queue {self.name} not found in the database")
            return
        executor = _process_executor
        if executor is not None and executor.journal is not None:
            if executor.journal.change_queue(self.name, changes, _check_queue) is None:
                raise DBOSException(f"Queue {self.name} not found in the database")
            executor.dispatcher.wake()
        declared = _declared_queues.get(self.name)
        if declared is not None:
            changed = msgspec.structs.replace(declared[0], **changes)
            _check_queue(changed)
            _declared_queues[self.name] = (changed, declared[1])
        elif executor is None or executor.journal is None:
            raise DBOSException(f"Queue {self.name} not found in the database")

    worker_concurrency = _queue_property(
        "worker_concurrency", "At most this many of its workflows run at once in each process.")
    global_concurrency = _queue_property(
        "global_concurrency", "At most this many of its workflows run at once in all processes.")
    concurrency = _queue_property("global_concurrency", "``global_concurrency`` (deprecated).")
    partition_concurrency = _queue_property(
        "partition_concurrency", "``global_concurrency`` for each partition key.")
    partition_worker_concurrency = _queue_property(
        "partition_worker_concurrency", "``worker_concurrency`` for each partition key.")
    polling_interval_sec = _queue_property(
        "polling_interval_sec", "How often other processes look for its workflows.")
    limiter = _limiter_property(
        "limiter", "``{'limit': N, 'period': seconds}``: at most N starts in any period.")
    partition_limiter = _limiter_property("partition_limiter", "``limiter`` per partition key.")

    set_worker_concurrency = _queue_setter("worker_concurrency")
    set_global_concurrency = _queue_setter("global_concurrency")
    set_concurrency = _queue_setter("concurrency")
    set_partition_concurrency = _queue_setter("partition_concurrency")
    set_partition_worker_concurrency = _queue_setter("partition_worker_concurrency")
    set_polling_interval_sec = _queue_setter("polling_interval_sec")
    set_limiter = _queue_setter("limiter")
    set_partition_limiter = _queue_setter("partition_limiter")

    get_worker_concurrency_async = _async_twin(worker_concurrency.fget)
    get_global_concurrency_async = _async_twin(global_concurrency.fget)
    get_concurrency_async = _async_twin(concurrency.fget)
    get_partition_concurrency_async = _async_twin(partition_concurrency.fget)
    get_partition_worker_concurrency_async = _async_twin(partition_worker_concurrency.fget)
    get_polling_interval_sec_async = _async_twin(polling_interval_sec.fget)
    get_limiter_async = _async_twin(limiter.fget)
    get_partition_limiter_async = _async_twin(partition_limiter.fget)
    set_worker_concurrency_async = _async_twin(set_worker_concurrency)
    set_global_concurrency_async = _async_twin(set_global_concurrency)
    set_concurrency_async = _async_twin(set_concurrency)
    set_partition_concurrency_async = _async_twin(set_partition_concurrency)
    set_partition_worker_concurrency_async = _async_twin(set_partition_worker_concurrency)
    set_polling_interval_sec_async = _async_twin(set_polling_interval_sec)
    set_limiter_async = _async_twin(set_limiter)
    set_partition_limiter_async = _async_twin(set_partition_limiter)

    def enqueue(self, func: Callable, *args: Any, **kwargs: Any) -> WorkflowHandle:
        """Put a workflow on this queue; its handle at once. It is ENQUEUED (DELAYED, with
        SetEnqueueOptions(delay_seconds=...)) until a process that works the queue takes it;
        in the enqueuing process, at once if the queue's limits allow."""
        self._refuse_client()
        workflow, args = _workflow_of(func, args)
        executor = _launched()
        workflow_id = _run_plan(executor.enqueue_plan(workflow, args, kwargs, self.name))
        return WorkflowHandle(workflow_id, workflow.return_type)

    async def enqueue_async(self, func: Callable, *args: Any, **kwargs: Any
                            ) -> WorkflowHandleAsync:
        """``enqueue`` for async code."""
        self._refuse_client()
        workflow, args = _workflow_of(func, args)
        executor = _launched()
        workflow_id = await _run_plan_async(executor.enqueue_plan(workflow, args, kwargs,
                                                                  self.name))
        return WorkflowHandleAsync(workflow_id, workflow.return_type)


    def _refuse_client(self) -> None:
        if self._client is not None:
            raise DBOSException(f"Cannot enqueue on queue {self.name} from a client-bound Queue "
                                "object. Use DBOSClient.enqueue instead.")


class Debouncer:
    """Debounced starts of one workflow: ``debounce(key, period, *args)`` calls with one key
    less than ``period`` seconds apart share one workflow, which starts once the calls stop
    for ``period`` (or ``debounce_timeout_sec`` after the first call), with the arguments of
    the last call. Made with ``Debouncer.create(workflow, queue=...)``."""

    def __init__(self, workflow_name: str, *, debounce_timeout_sec: float | None = None,
                 queue: Queue | str | None = None):
        if workflow_name not in _workflows:
            raise DBOSException(f"Invalid workflow name provided to debouncer: {workflow_name}")
        self.workflow_name = workflow_name
        self.debounce_timeout_sec = _duration(debounce_timeout_sec, "debounce_timeout_sec",
                                              positive=True, optional=True)
        self.queue_name = queue.name if isinstance(queue, Queue) else queue

    @classmethod
    def create(cls, workflow: Callable, *, debounce_timeout_sec: float | None = None,
               queue: Queue | str | None = None) -> Debouncer:
        """A Debouncer of a registered workflow function."""
        import types

        if isinstance(workflow, types.MethodType):
            raise TypeError("Only workflow functions may be debounced, not methods")
        function, _ = _workflow_of(workflow, ())
        return cls(function.name, debounce_timeout_sec=debounce_timeout_sec, queue=queue)

    @classmethod
    def create_async(cls, workflow: Callable, *, debounce_timeout_sec: float | None = None,
                     queue: Queue | str | None = None) -> Debouncer:
        """``create``, for an async workflow function."""
        return cls.create(workflow, debounce_timeout_sec=debounce_timeout_sec, queue=queue)

    def _plan(self, debounce_key: str, debounce_period_sec: float, args: tuple,
              kwargs: dict) -> _Plan[str]:
        period = _duration(debounce_period_sec, "debounce_period_sec")
        assert period is not None
        return _launched().debounce_plan(_workflows[self.workflow_name], args, kwargs,
                                         self.queue_name, str(debounce_key), period,
                                         self.debounce_timeout_sec)

    def debounce(self, debounce_key: str, debounce_period_sec: float, *args: Any,
                 **kwargs: Any) -> WorkflowHandle:
        """Start (or push back) the key's workflow with these arguments; its handle."""
        workflow_id = _run_plan(self._plan(debounce_key, debounce_period_sec, args, kwargs))
        return WorkflowHandle(workflow_id, _workflows[self.workflow_name].return_type)

    async def debounce_async(self, debounce_key: str, debounce_period_sec: float, *args: Any,
                             **kwargs: Any) -> WorkflowHandleAsync:
        """``debounce`` for async code."""
        workflow_id = await _run_plan_async(self._plan(debounce_key, debounce_period_sec,
                                                       args, kwargs))
        return WorkflowHandleAsync(workflow_id, _workflows[self.workflow_name].return_type)


def _enqueue_options(options: Any) -> tuple[_WorkflowFunction, str, _EnqueueSettings]:
    """The registered workflow, the queue and the settings an EnqueueOptions names."""
    name, queue_name, settings = _enqueue_by_name(options)
    workflow = _workflows.get(name)
    if workflow is None:
        raise DBOSException(f"Workflow function {name!r} is not registered in this process; "
                            "decorate it with @DBOS.workflow().")
    return workflow, queue_name, settings


def _scheduled_workflow(workflow_fn: Any) -> _WorkflowFunction:
    """The registered workflow a schedule runs (a function, a staticmethod or a classmethod;
    DBOS Transact's messages)."""
    try:
        workflow, _ = _workflow_of(workflow_fn, ())
    except DBOSException:
        raise DBOSException(
            f"Workflow function '{_qualname(workflow_fn)}' is not registered: a schedule runs "
            "a function decorated with @DBOS.workflow() (not a step)") from None
    if workflow.config_name is not None:
        raise DBOSException("Configured instance methods cannot be used as scheduled workflows")
    return workflow


def _batched(items: Iterator[_T] | list[_T], size: int) -> Iterator[list[_T]]:
    batch: list[_T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _options_context(options: EnqueueOptions) -> contextlib.ExitStack:
    """The SetWorkflowID and SetWorkflowTimeout an EnqueueOptions asks for."""
    stack = contextlib.ExitStack()
    if options.get("workflow_id") is not None:
        stack.enter_context(SetWorkflowID(options["workflow_id"]))
    if "workflow_timeout" in options:
        stack.enter_context(SetWorkflowTimeout(options["workflow_timeout"]))
    return stack


# ==== DBOSClient: working on a journal from another process ====


class DBOSClient:
    """A journal opened from outside the program that runs its workflows: a monitoring
    script, a second terminal, a command-line tool (DBOS Transact's DBOSClient). It needs
    none of the workflow functions and never recovers, claims, runs or migrates anything.
    Reads use a read-only connection, so looking leaves the journal unchanged; a call that
    writes (send, enqueue, cancel, resume, fork, delete, a queue's or a schedule's change,
    a trigger, a backfill) opens a writing connection at its first use and writes only what
    it asks. A missing file is refused, never created; a journal ``DBOS.launch()`` would
    refuse is refused too. Waiting calls (a handle's
    ``get_result``, ``get_event``, ``read_stream``, ``wait_first``) wake at the next commit
    (``PRAGMA data_version``), not at a poll of a second. Values are decoded as the program
    decodes them: a client that imports the workflow's module gets its annotated types."""

    def __init__(self, system_database_url: str | None = None, **_: Any):
        if system_database_url is None:
            raise DBOSInitializationError(
                "DBOSClient needs system_database_url, the 'sqlite:///PATH' of the journal.")
        self._path = os.path.abspath(_journal_path(system_database_url))
        self._journal: _Journal | None = _Journal(self._path, read_only=True)
        self._writer: _Journal | None = None
        self._writer_lock = threading.Lock()

    def _looking(self) -> _Management:
        if self._journal is None:
            raise DBOSException("This DBOSClient was destroyed; make a new one to go on.")
        return _Management(self._journal)

    def _steering(self) -> _Steering:
        """The write side, on a connection opened at the first write (never migrating)."""
        self._looking()  # refused once destroyed
        with self._writer_lock:
            if self._writer is None:
                self._writer = _Journal(self._path, migrate=False)
            return _Steering(self._writer)

    def destroy(self) -> None:
        """Close the journal; the client refuses calls from then on."""
        for journal in (self._journal, self._writer):
            if journal is not None:
                journal.close("This DBOSClient was destroyed.")
        self._journal = self._writer = None

    # -- looking --

    def retrieve_workflow(self, workflow_id: str) -> _ClientHandle:
        """A handle on an existing workflow (DBOSNonExistentWorkflowError if there is none)."""
        management = self._looking()
        return _ClientHandle(self, workflow_id, management.return_type(workflow_id))

    def list_workflows(self, *, load_input: bool = True, load_output: bool = True,
                       **filters: Any) -> list[WorkflowStatus]:
        """As ``DBOS.list_workflows``, with the same filters."""
        return self._looking().list_workflows(_workflow_filter(**filters), load_input,
                                              load_output)

    def list_queued_workflows(self, *, load_input: bool = True, load_output: bool = True,
                              **filters: Any) -> list[WorkflowStatus]:
        """As ``DBOS.list_queued_workflows``: workflows on queues; without ``status``, those
        not finished."""
        return self._looking().list_workflows(_workflow_filter(**filters, queued_only=True),
                                              load_input, load_output)

    def list_workflow_steps(self, workflow_id: str, *, load_output: bool = True,
                            limit: int | None = None, offset: int | None = None
                            ) -> list[StepInfo]:
        """As ``DBOS.list_workflow_steps`` (``limit``/``offset`` page through them)."""
        steps = self._looking().list_workflow_steps(workflow_id)
        steps = steps[offset or 0:None if limit is None else (offset or 0) + limit]
        if not load_output:
            for step in steps:
                step["output"] = None
        return steps

    def get_event(self, workflow_id: str, key: str, timeout_seconds: float | None = 60) -> Any:
        """The value a workflow published under ``key``, waiting up to ``timeout_seconds``
        for it (None on timeout)."""
        timeout = _duration(timeout_seconds, "timeout_seconds", optional=True)
        journal = self._looking().journal

        def value() -> Any:
            found = journal.get_event(workflow_id, key)
            return _NOT_YET if found is None else found

        found = _wait_on_commits(journal, value, timeout)
        return None if found is _NOT_YET else _decode_value(found)

    def read_stream(self, workflow_id: str, key: str, *, offset: int = 0,
                    polling_interval_sec: float | None = None,
                    timeout_seconds: float | None = None) -> Iterator[Any]:
        """Yield the values of a workflow's stream in order from ``offset``, waiting for new
        ones, as ``DBOS.read_stream``; commits are looked for every ``polling_interval_sec``
        (default 0.01)."""
        offset, timeout = _stream_reading(offset, polling_interval_sec, timeout_seconds)
        while True:
            value = self._stream_value_at(workflow_id, key, offset, timeout,
                                          polling_interval_sec)
            if value is _STREAM_END:
                return
            yield _decode_value(value)
            offset += 1

    def read_stream_offset(self, workflow_id: str, key: str, offset: int, *,
                           polling_interval_sec: float | None = None,
                           timeout_seconds: float | None = None) -> Any:
        """The value at ``offset`` of a workflow's stream, waiting for it, as
        ``DBOS.read_stream_offset``."""
        offset, timeout = _stream_reading(offset, polling_interval_sec, timeout_seconds)
        return _stream_value(workflow_id, key, self._stream_value_at(
            workflow_id, key, offset, timeout, polling_interval_sec))

    def _stream_value_at(self, workflow_id: str, key: str, offset: int,
                         timeout: float | None, interval: float | None) -> Any:
        journal = self._looking().journal
        value = _wait_on_commits(journal, functools.partial(
            _next_stream_value, journal, workflow_id, key, offset), timeout, interval or 0.01)
        if value is _NOT_YET:
            raise DBOSStreamTimeoutError(workflow_id, key, timeout)
        return value

    def wait_first(self, handles: list[_ClientHandle], *,
                   polling_interval_sec: float = 1.0) -> _ClientHandle:
        """The first of ``handles`` (in their order) whose workflow has finished, waiting for
        one (woken by commits; ``polling_interval_sec`` is accepted for DBOS Transact's
        signature). ValueError for an empty list or a repeated id; DBOSNonExistentWorkflowError
        if, while none has finished, one of them does not exist."""
        by_id = _handles_by_id(handles)
        journal = self._looking().journal
        ids = list(by_id)

        def first_finished() -> Any:
            statuses = journal.statuses_of(ids)
            for workflow_id, status in zip(ids, statuses):
                if status in _FINISHED:
                    return workflow_id
            for workflow_id, status in zip(ids, statuses):
                if status is None:
                    raise DBOSNonExistentWorkflowError(workflow_id)
            return _NOT_YET

        return by_id[_wait_on_commits(journal, first_finished)]

    # -- steering --

    def send(self, destination_id: str, message: Any, topic: str | None = None,
             idempotency_key: str | None = None) -> None:
        """Send a message to a workflow, for its ``DBOS.recv(topic)``; a repeated
        ``idempotency_key`` sends nothing more. DBOSNonExistentWorkflowError if there is no
        such workflow."""
        self._steering().send([SendMessage(destination_id, message, topic, idempotency_key)])

    def send_bulk(self, messages: list[SendMessage]) -> None:
        """Send many messages in one transaction, all or none, as ``DBOS.send_bulk``."""
        self._steering().send(messages)

    def enqueue(self, options: EnqueueOptions, *args: Any, **kwargs: Any) -> _ClientHandle:
        """Enqueue a workflow by name onto a queue of the journal; its handle. ``options``:
        ``workflow_name`` and ``queue_name`` (required), ``workflow_id``, ``app_version``,
        ``workflow_timeout``, ``deduplication_id``, ``duplication_policy``, ``priority``,
        ``delay_seconds``, ``queue_partition_key``, ``class_name``, ``instance_name``. It
        waits ENQUEUED until a process that registers the workflow and works the queue takes
        it (``python -m dbos_lite workflow show ID`` says when none does)."""
        workflow_id = self._steering().enqueue(options, args, kwargs)
        return _ClientHandle(self, workflow_id, _return_type_of(options["workflow_name"]))

    def cancel_workflow(self, workflow_id: str, *, cancel_children: bool = False) -> None:
        """Cancel a workflow that has not finished (a no-op for an unknown id); its process
        stops it at its next durable operation."""
        self._steering().cancel([workflow_id], cancel_children)

    def cancel_workflows(self, workflow_ids: list[str], *,
                         cancel_children: bool = False) -> None:
        """``cancel_workflow`` for several workflows."""
        self._steering().cancel(_workflow_ids(workflow_ids), cancel_children)

    def resume_workflow(self, workflow_id: str, *, queue_name: str | None = None
                        ) -> _ClientHandle:
        """Continue a cancelled, dead-lettered or orphaned workflow from its last completed
        step: it goes ENQUEUED onto ``queue_name`` (DBOS Transact's internal queue by default)
        for a process that can run it. A finished or running workflow is left as it is;
        DBOSNonExistentWorkflowError for an unknown id."""
        self._steering().resume([workflow_id], queue_name)
        return self.retrieve_workflow(workflow_id)

    def resume_workflows(self, workflow_ids: list[str], *, queue_name: str | None = None
                         ) -> list[_ClientHandle]:
        """``resume_workflow`` for several workflows; if one is not in the journal,
        DBOSNonExistentWorkflowError naming all those absent, and none is resumed."""
        workflow_ids = _workflow_ids(workflow_ids)
        self._steering().resume(workflow_ids, queue_name)
        return [self.retrieve_workflow(w) for w in workflow_ids]

    def fork_workflow(self, workflow_id: str, start_step: int, *,
                      application_version: str | None = None,
                      queue_name: str | None = None, queue_partition_key: str | None = None,
                      timeout_seconds: float | None = None) -> _ClientHandle:
        """A new workflow (id from SetWorkflowID, or new) with the original's inputs, reusing
        the outcomes recorded before operation ``start_step``; ENQUEUED for a process that can
        run it (of ``application_version``, if given), with a timeout of its own if given."""
        timeout = _duration(timeout_seconds, "timeout_seconds", positive=True, optional=True)
        new_id = self._steering().fork(workflow_id, start_step, application_version,
                                       queue_name, queue_partition_key,
                                       None if timeout is None else int(timeout * 1000))
        return self.retrieve_workflow(new_id)

    def delete_workflow(self, workflow_id: str, *, delete_children: bool = False) -> None:
        """Delete a workflow with its operations, messages, events and streams (a no-op for
        an unknown id)."""
        self._steering().delete([workflow_id], delete_children)

    def delete_workflows(self, workflow_ids: list[str], *,
                         delete_children: bool = False) -> None:
        """``delete_workflow`` for several workflows."""
        self._steering().delete(_workflow_ids(workflow_ids), delete_children)

    # -- queues --

    def register_queue(self, name: str, *, on_conflict: str = "always_update",
                       **settings: Any) -> Queue:
        """Declare a queue in the journal, or change its settings, as ``DBOS.register_queue``
        (the same settings); ``on_conflict="never_update"`` keeps settings already stored.
        A client has no application version, so ``"update_if_latest_version"`` is refused."""
        if on_conflict == "update_if_latest_version":
            raise DBOSException(
                "DBOSClient.register_queue does not support on_conflict='update_if_latest_"
                "version' because clients are not associated with an application version. "
                "Use 'always_update' or 'never_update'.")
        if on_conflict not in ("always_update", "never_update"):
            raise _InvalidArgument(f"on_conflict must be 'always_update' or 'never_update', "
                                   f"not {on_conflict!r}.")
        settings.pop("application_name", None)
        queue = _queue_record(name, **settings)
        self._steering().journal.put_queue(queue, on_conflict == "always_update")
        return Queue(name, _token=_QUEUE_TOKEN, _client=self)

    def retrieve_queue(self, name: str) -> Queue | None:
        """The queue named ``name`` (read and changed through this client), or None."""
        if self._looking().journal.get_queue(name) is None:
            return None
        return Queue(name, _token=_QUEUE_TOKEN, _client=self)

    def list_queues(self, *, application_name: str | None = None) -> list[Queue]:
        """Every queue in the journal (not DBOS Transact's internal ones)."""
        return [Queue(queue.name, _token=_QUEUE_TOKEN, _client=self)
                for queue in self._looking().journal.list_queues()
                if not queue.name.startswith("_dbos_")]

    def delete_queue(self, name: str) -> None:
        """Delete a queue's settings (no error if there is none); workflows still on it stay
        ENQUEUED until a queue of that name is registered again."""
        self._steering().journal.delete_queue(name)

    # -- schedules --

    def create_schedule(self, *, schedule_name: str, workflow_name: str, schedule: str,
                        context: Any = None, workflow_class_name: str | None = None,
                        automatic_backfill: bool = False, cron_timezone: str | None = None,
                        queue_name: str | None = None, application_name: str | None = None,
                        shard_key: str | None = None) -> None:
        """Create a cron schedule, as ``DBOS.create_schedule`` does (the same checks of the
        cron string, the time zone and the queue; "Schedule 'x' already exists" for a name
        in use), with the workflow named: it need not be registered here. Every program on
        the journal fires it; a run of a workflow no live process registers waits ENQUEUED,
        and ``python -m dbos_lite schedule list`` and ``workflow list`` say so."""
        record = self._schedule_record(schedule_name, workflow_name, workflow_class_name,
                                       schedule, context, automatic_backfill, cron_timezone,
                                       queue_name, application_name, shard_key)
        self._steering().journal.put_schedules([record], False, None, None)

    def apply_schedules(self, schedules: list[ClientScheduleInput]) -> None:
        """Create or change several schedules at once (all or none), as
        ``DBOS.apply_schedules``: one of that name that exists takes the new definition and
        keeps its status and last fired time; schedules not in the list stay as they are."""
        records = []
        for entry in _schedule_entries(schedules, "ClientScheduleInput", "workflow_name"):
            records.append(self._schedule_record(
                entry["schedule_name"], entry["workflow_name"],
                entry.get("workflow_class_name"), entry["schedule"], entry.get("context"),
                entry.get("automatic_backfill", False), entry.get("cron_timezone"),
                entry.get("queue_name"), entry.get("application_name"),
                entry.get("shard_key")))
        if records:
            self._steering().journal.put_schedules(records, True, None, None)

    def _schedule_record(self, schedule_name: Any, workflow_name: Any,
                         workflow_class_name: Any, schedule: Any, context: Any,
                         automatic_backfill: Any, cron_timezone: Any, queue_name: Any,
                         application_name: Any, shard_key: Any) -> _ScheduleRecord:
        if not isinstance(workflow_name, str) or not workflow_name.strip():
            raise _InvalidArgument(f"workflow_name must name a workflow function, not "
                                   f"{workflow_name!r}.")
        if workflow_class_name is not None and not isinstance(workflow_class_name, str):
            raise _InvalidArgument(f"workflow_class_name must be a class's name or None, not "
                                   f"{workflow_class_name!r}.")
        owner = self._looking().journal.application_name()
        if application_name is not None and application_name != owner:
            raise _InvalidArgument(
                f"This journal belongs to application {owner!r}: a schedule of application "
                f"{application_name!r} would never fire here. Leave application_name None.")
        return _schedule_record(schedule_name, workflow_name, workflow_class_name, schedule,
                                context, automatic_backfill, cron_timezone, queue_name,
                                shard_key)

    def list_schedules(self, *, status: str | list[str] | None = None,
                       workflow_name: str | list[str] | None = None,
                       schedule_name_prefix: str | list[str] | None = None,
                       application_name: str | list[str] | None = None
                       ) -> list[WorkflowSchedule]:
        """The schedules, oldest first, filtered as ``DBOS.list_schedules`` filters them."""
        return self._looking().list_schedules(status, workflow_name, schedule_name_prefix,
                                              application_name)

    def get_schedule(self, name: str) -> WorkflowSchedule | None:
        """The schedule named ``name``, or None."""
        return self._looking().get_schedule(name)

    def pause_schedule(self, name: str) -> None:
        """Stop firing a schedule until ``resume_schedule`` (nothing if there is none of that
        name, as in DBOS Transact); the programs stop at their next look, at once."""
        self._steering().journal.set_schedule_status(name, "PAUSED", None, None)

    def resume_schedule(self, name: str) -> None:
        """Fire a paused schedule again (with ``automatic_backfill``, the times it missed
        while paused run first). Nothing if there is none of that name."""
        self._steering().journal.set_schedule_status(name, "ACTIVE", None, None)

    def delete_schedule(self, name: str) -> None:
        """Delete a schedule; its runs stay. Nothing if there is none of that name."""
        self._steering().journal.delete_schedule(name, None, None)

    def trigger_schedule(self, schedule_name: str) -> _ClientHandle:
        """Put a run of a schedule's workflow on its queue now (also when it is paused), as
        workflow ``sched-<name>-trigger-<now in UTC, ISO>``, for a program to run; its
        handle. DBOSException if there is no such schedule."""
        schedule = self._looking().schedule(schedule_name)
        fire = _trigger_fire(schedule, None)
        self._fire_schedule([fire])
        return _ClientHandle(self, fire.workflow.workflow_id)

    def backfill_schedule(self, schedule_name: str, start: Any, end: Any
                          ) -> list[_ClientHandle]:
        """Put on its queue each time of a schedule strictly between ``start`` and ``end``
        (naive datetimes are UTC) that has not run, with the id the scheduler gives it, for a
        program to run; the handles of all the times in the window, in order (a time that
        ran, or a second backfill of the window, runs nothing again). DBOSException if there
        is no such schedule."""
        ids, _ = self._backfill(schedule_name, start, end)
        return [_ClientHandle(self, workflow_id) for workflow_id in ids]

    def _backfill(self, schedule_name: str, start: Any, end: Any
                  ) -> tuple[list[str], list[str]]:
        """The ids of the times in the window, and those of the runs it created."""
        schedule = self._looking().schedule(schedule_name)
        ids: list[str] = []
        created: list[str] = []
        for batch in _batched(_backfill_fires(schedule, start, end, None), 500):
            created += self._fire_schedule(batch)
            ids += [fire.workflow.workflow_id for fire in batch]
        return ids, created

    def _fire_schedule(self, fires: list[_Fire]) -> list[str]:
        """Put runs on their queue (those whose id exists excepted), claiming nothing; the
        ids of the runs created."""
        fired = self._steering().journal.fire_schedules(fires, False, None, [])
        if fired.unqueued:
            raise DBOSException(
                f"Schedule {fired.unqueued[0]!r} cannot run: its queue "
                f"{fires[0].entry.queue_name!r} is not in the journal. Register the queue "
                "again, or give the schedule another queue with apply_schedules.")
        return fired.created

    # -- for async code: the same calls, run off the event loop --

    async def create_schedule_async(self, **settings: Any) -> None:
        """``create_schedule`` for async code."""
        await _off_loop(self.create_schedule, **settings)

    async def apply_schedules_async(self, schedules: list[ClientScheduleInput]) -> None:
        """``apply_schedules`` for async code."""
        await _off_loop(self.apply_schedules, schedules)

    async def list_schedules_async(self, **filters: Any) -> list[WorkflowSchedule]:
        """``list_schedules`` for async code."""
        return await _off_loop(self.list_schedules, **filters)

    async def get_schedule_async(self, name: str) -> WorkflowSchedule | None:
        """``get_schedule`` for async code."""
        return await _off_loop(self.get_schedule, name)

    async def delete_schedule_async(self, name: str) -> None:
        """``delete_schedule`` for async code."""
        await _off_loop(self.delete_schedule, name)

    async def register_queue_async(self, name: str, **settings: Any) -> Queue:
        """``register_queue`` for async code."""
        return await _off_loop(self.register_queue, name, **settings)

    async def retrieve_queue_async(self, name: str) -> Queue | None:
        """``retrieve_queue`` for async code."""
        return await _off_loop(self.retrieve_queue, name)

    async def list_queues_async(self, **options: Any) -> list[Queue]:
        """``list_queues`` for async code."""
        return await _off_loop(self.list_queues, **options)

    async def delete_queue_async(self, name: str) -> None:
        """``delete_queue`` for async code."""
        await _off_loop(self.delete_queue, name)

    async def retrieve_workflow_async(self, workflow_id: str) -> _ClientHandleAsync:
        """``retrieve_workflow`` for async code."""
        return _ClientHandleAsync(await _off_loop(self.retrieve_workflow, workflow_id))

    async def list_workflows_async(self, **filters: Any) -> list[WorkflowStatus]:
        """``list_workflows`` for async code."""
        return await _off_loop(self.list_workflows, **filters)

    async def list_queued_workflows_async(self, **filters: Any) -> list[WorkflowStatus]:
        """``list_queued_workflows`` for async code."""
        return await _off_loop(self.list_queued_workflows, **filters)

    async def list_workflow_steps_async(self, workflow_id: str, **options: Any
                                        ) -> list[StepInfo]:
        """``list_workflow_steps`` for async code."""
        return await _off_loop(self.list_workflow_steps, workflow_id, **options)

    async def get_event_async(self, workflow_id: str, key: str,
                              timeout_seconds: float | None = 60) -> Any:
        """``get_event`` for async code."""
        return await _off_loop(self.get_event, workflow_id, key, timeout_seconds)

    async def read_stream_async(self, workflow_id: str, key: str, *, offset: int = 0,
                                polling_interval_sec: float | None = None,
                                timeout_seconds: float | None = None
                                ) -> typing.AsyncIterator[Any]:
        """``read_stream`` for async code: an async generator."""
        values = self.read_stream(workflow_id, key, offset=offset,
                                  polling_interval_sec=polling_interval_sec,
                                  timeout_seconds=timeout_seconds)
        while True:
            value = await _off_loop(next, values, _STREAM_END)
            if value is _STREAM_END:
                return
            yield value

    async def read_stream_offset_async(self, workflow_id: str, key: str, offset: int, *,
                                       polling_interval_sec: float | None = None,
                                       timeout_seconds: float | None = None) -> Any:
        """``read_stream_offset`` for async code."""
        return await _off_loop(self.read_stream_offset, workflow_id, key, offset,
                               polling_interval_sec=polling_interval_sec,
                               timeout_seconds=timeout_seconds)

    async def wait_first_async(self, handles: list[_ClientHandleAsync], *,
                               polling_interval_sec: float = 1.0) -> _ClientHandleAsync:
        """``wait_first`` for async code, on async handles."""
        by_id = _handles_by_id(handles)
        first = await _off_loop(self.wait_first, [h._handle for h in handles])
        return by_id[first.workflow_id]

    async def send_async(self, destination_id: str, message: Any, topic: str | None = None,
                         idempotency_key: str | None = None) -> None:
        """``send`` for async code."""
        await _off_loop(self.send, destination_id, message, topic, idempotency_key)

    async def send_bulk_async(self, messages: list[SendMessage]) -> None:
        """``send_bulk`` for async code."""
        await _off_loop(self.send_bulk, messages)

    async def enqueue_async(self, options: EnqueueOptions, *args: Any, **kwargs: Any
                            ) -> _ClientHandleAsync:
        """``enqueue`` for async code."""
        return _ClientHandleAsync(await _off_loop(self.enqueue, options, *args, **kwargs))

    async def cancel_workflow_async(self, workflow_id: str, *,
                                    cancel_children: bool = False) -> None:
        """``cancel_workflow`` for async code."""
        await _off_loop(self.cancel_workflow, workflow_id, cancel_children=cancel_children)

    async def cancel_workflows_async(self, workflow_ids: list[str], *,
                                     cancel_children: bool = False) -> None:
        """``cancel_workflows`` for async code."""
        await _off_loop(self.cancel_workflows, workflow_ids, cancel_children=cancel_children)

    async def resume_workflow_async(self, workflow_id: str, *, queue_name: str | None = None
                                    ) -> _ClientHandleAsync:
        """``resume_workflow`` for async code."""
        return _ClientHandleAsync(await _off_loop(self.resume_workflow, workflow_id,
                                                  queue_name=queue_name))

    async def resume_workflows_async(self, workflow_ids: list[str], *,
                                     queue_name: str | None = None
                                     ) -> list[_ClientHandleAsync]:
        """``resume_workflows`` for async code."""
        handles = await _off_loop(self.resume_workflows, workflow_ids, queue_name=queue_name)
        return [_ClientHandleAsync(handle) for handle in handles]

    async def fork_workflow_async(self, workflow_id: str, start_step: int, *,
                                  application_version: str | None = None,
                                  queue_name: str | None = None,
                                  queue_partition_key: str | None = None,
                                  timeout_seconds: float | None = None) -> _ClientHandleAsync:
        """``fork_workflow`` for async code."""
        return _ClientHandleAsync(await _off_loop(
            self.fork_workflow, workflow_id, start_step,
            application_version=application_version, queue_name=queue_name,
            queue_partition_key=queue_partition_key, timeout_seconds=timeout_seconds))

    async def delete_workflow_async(self, workflow_id: str, *,
                                    delete_children: bool = False) -> None:
        """``delete_workflow`` for async code."""
        await _off_loop(self.delete_workflow, workflow_id, delete_children=delete_children)

    async def delete_workflows_async(self, workflow_ids: list[str], *,
                                     delete_children: bool = False) -> None:
        """``delete_workflows`` for async code."""
        await _off_loop(self.delete_workflows, workflow_ids, delete_children=delete_children)


async def _off_loop(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a client call in a worker thread of the running event loop."""
    import asyncio

    return await asyncio.get_running_loop().run_in_executor(
        None, functools.partial(function, *args, **kwargs))


class _ClientHandle(_Handle):
    """A workflow seen by a DBOSClient: its status, and its result once another process has
    recorded it (noticed through ``PRAGMA data_version``, which changes at every commit)."""

    def __init__(self, client: DBOSClient, workflow_id: str, return_type: Any = Any):
        super().__init__(workflow_id, return_type)
        self._client = client

    def get_status(self) -> WorkflowStatus:
        """The workflow's current status; DBOSNonExistentWorkflowError if it is not there."""
        status = self._client._looking().get_workflow_status(self.workflow_id)
        if status is None:
            raise DBOSNonExistentWorkflowError(self.workflow_id)
        return status

    def get_result(self, *, polling_interval_sec: float = 0.01) -> Any:
        """Wait for the workflow to finish; its return value, or its error raised. Woken by
        the journal's commits, looked at every ``polling_interval_sec``."""
        interval = _duration(polling_interval_sec, "polling_interval_sec", positive=True)
        journal = self._client._looking().journal

        def finished() -> Any:
            workflow = journal.get_workflow(self.workflow_id)
            if workflow is None:
                raise DBOSNonExistentWorkflowError(self.workflow_id)
            return workflow if workflow.status in _FINISHED else _NOT_YET

        workflow = _wait_on_commits(journal, finished, None, min(interval, 0.05))
        return _workflow_result(workflow, self._return_type)


class _ClientHandleAsync(_Handle):
    """A DBOSClient's handle for async code: the same, with awaitables."""

    def __init__(self, handle: _ClientHandle):
        super().__init__(handle.workflow_id, handle._return_type)
        self._handle = handle

    async def get_status(self) -> WorkflowStatus:
        """The workflow's current status; DBOSNonExistentWorkflowError if it is not there."""
        return await _off_loop(self._handle.get_status)

    async def get_result(self, *, polling_interval_sec: float = 0.01) -> Any:
        """Wait (without blocking the event loop) for the workflow's result or error."""
        return await _off_loop(self._handle.get_result,
                               polling_interval_sec=polling_interval_sec)


class DebouncerClient:
    """Debounced starts from another process (DBOS Transact's DebouncerClient): as
    ``Debouncer``, with the workflow named by ``workflow_options`` (an EnqueueOptions), run on
    ``queue`` if given, else on the options' queue. The workflow need not be registered in
    the client's process. ``application_name`` is accepted and unused: a journal belongs to
    one application."""

    def __init__(self, client: DBOSClient, workflow_options: EnqueueOptions, *,
                 debounce_timeout_sec: float | None = None, queue: Queue | str | None = None,
                 application_name: str | None = None):
        _enqueue_by_name(workflow_options)  # checked now, not at the first debounce
        self.client = client
        self.workflow_options = workflow_options
        self.debounce_timeout_sec = _duration(debounce_timeout_sec, "debounce_timeout_sec",
                                              positive=True, optional=True)
        self.queue_name = queue.name if isinstance(queue, Queue) else queue

    def debounce(self, debounce_key: str, debounce_period_sec: float, *args: Any,
                 **kwargs: Any) -> _ClientHandle:
        """Start (or push back) the key's workflow with these arguments; its handle."""
        period = _duration(debounce_period_sec, "debounce_period_sec")
        assert period is not None
        workflow_id = self.client._steering().debounce(
            self.workflow_options, self.queue_name, str(debounce_key), period,
            self.debounce_timeout_sec, args, kwargs)
        return _ClientHandle(self.client, workflow_id,
                             _return_type_of(self.workflow_options["workflow_name"]))

    async def debounce_async(self, debounce_key: str, debounce_period_sec: float, *args: Any,
                             **kwargs: Any) -> _ClientHandleAsync:
        """``debounce`` for async code."""
        return _ClientHandleAsync(await _off_loop(self.debounce, debounce_key,
                                                  debounce_period_sec, *args, **kwargs))


# ==== Live page: the workflows in a browser, read-only ====
#
# For teaching, and for devices without a cloud console: the list of a journal's workflows and
# one workflow's timeline, in a browser, kept up to date as programs work. It is the stdlib's
# HTTP server (imported only when the page is served), bound to 127.0.0.1 unless told
# otherwise, answering GET only; the journal is opened read-only, as DBOSClient opens it.
#
# The server renders each page as HTML, escaping every text that comes from the journal (a
# workflow's id, name, output or error is anyone's text), and sends a strict Content-Security-
# Policy so that no script but the page's own can run. That script keeps the page live: /events
# tells it whenever ``PRAGMA data_version`` moves (a commit by any process), and it fetches its
# page's content again and swaps it in. An idle journal costs one PRAGMA per open page every
# tenth of a second; no table is read and nothing is sent but a comment every 15 s.

_LIVE_POLL_SEC = 0.1  # how often /events asks the journal's data_version
_LIVE_KEEPALIVE_SEC = 15.0  # a comment on a quiet /events, which notices a closed page
_LIVE_LIST_LIMIT = 200  # the newest workflows the list shows


def _serve_live_page(journal_path: str, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve the live page of the journal at ``journal_path`` on http://host:port/ until
    Ctrl-C. DBOSInitializationError if there is no readable journal there; OSError if the
    address cannot be bound (the port is taken, say)."""
    page = _LivePage(journal_path, host, port)
    print(f"The live page of {page.journal.path} is at {page.url} (Ctrl-C stops it).",
          flush=True)
    try:
        page.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        page.close()


class _LivePage:
    """The live page's server over one journal, bound at once: ``serve_forever()`` (or
    ``start()``, which serves in a background thread), then ``close()``. Port 0 binds a free
    port; ``url`` says which."""

    def __init__(self, journal_path: str, host: str = "127.0.0.1", port: int = 8080):
        import http.server

        self.journal = _Journal(os.path.abspath(journal_path), read_only=True)
        self.management = _Management(self.journal)
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._loopback = host in ("localhost", "::1") or host.startswith("127.")
        try:
            self.server = http.server.ThreadingHTTPServer((host, port), _live_page_handler(self))
        except BaseException:
            self.journal.close("The live page could not be served.")
            raise
        bound_host, bound_port = self.server.server_address[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{shown}:{bound_port}/"

    def serve_forever(self) -> None:
        self.server.serve_forever(poll_interval=0.2)

    def start(self) -> _LivePage:
        self._thread = threading.Thread(target=self.serve_forever, name="dbos_lite live page",
                                        daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving (open /events streams end within a poll) and close the journal."""
        self._closing.set()
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join()
        self.server.server_close()
        self.journal.close("The live page was closed.")

    def addressed_to_us(self, host_header: str | None) -> bool:
        """A page bound to loopback answers only requests addressed to a loopback name: a
        web site that points its own name at 127.0.0.1 (DNS rebinding) cannot read it."""
        if not self._loopback or not host_header:
            return True
        name = host_header.lower()
        if not name.endswith("]"):
            name = name.rpartition(":")[0] or name
        return name in ("localhost", "[::1]") or name.startswith("127.")

    def respond(self, path: str, query: str) -> tuple[int, str, bytes]:
        """The status, content type and body of GET ``path?query`` (all but /events)."""
        import urllib.parse

        params = {key: values[-1] for key, values in urllib.parse.parse_qs(query).items()}
        try:
            if path in _LIVE_ASSETS:
                return 200, *_LIVE_ASSETS[path]
            version = self.journal.data_version()  # before reading: no change is missed
            if path == "/api/workflows":
                return 200, "application/json", msgspec.json.encode(self.workflows(params))
            if path == "/api/workflow":
                return 200, "application/json", msgspec.json.encode(self.timeline(params))
            if path == "/":
                view = self.workflows(params)
                title, top, main = "Workflows", _list_filters(params), _list_html(view)
            elif path == "/workflow":
                view = self.timeline(params)
                title, top, main = f"Workflow {view.workflow_id}", "", _timeline_html(view)
            else:
                return _live_problem(404, f"There is no page at {path}. The live page has the "
                                          "workflow list at / and a workflow's timeline at "
                                          "/workflow?id=ID.")
        except _NoSuchWorkflow as exc:
            return _live_problem(404, str(exc))
        except _InvalidArgument as exc:
            return _live_problem(400, str(exc))
        except (DBOSException, _OwnershipLost) as exc:
            return _live_problem(503, f"The journal cannot be read now: {exc}")
        if params.get("part") == "main":
            return 200, "text/html; charset=utf-8", main.encode()
        return 200, "text/html; charset=utf-8", _live_html(
            title, self.journal.path, version, top, main).encode()

    def changes(self) -> Iterator[bytes]:
        """What /events sends: the journal's data_version, at once and whenever it changes,
        and a comment when quiet; it ends when the page closes or the journal fails."""
        version, quiet = None, 0.0
        yield b"retry: 1000\n\n"
        while not self._closing.is_set():
            try:
                current = self.journal.data_version()
            except (DBOSException, _OwnershipLost):
                return
            if current != version:
                version, quiet = current, 0.0
                yield b"data: %d\n\n" % current
            elif quiet >= _LIVE_KEEPALIVE_SEC:
                quiet = 0.0
                yield b": quiet\n\n"
            self._closing.wait(_LIVE_POLL_SEC)
            quiet += _LIVE_POLL_SEC

    def workflows(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """The list page's data: the newest workflows, filtered by status and name."""
        status = params.get("status") or None
        if status is not None and status not in _STATUSES:
            raise _InvalidArgument(f"status {status!r} is not a workflow status; use one of "
                                   f"{', '.join(_STATUSES)}, or none for all.")
        query = _workflow_filter(status=status, name=params.get("name") or None,
                                 limit=_LIVE_LIST_LIMIT, sort_desc=True)
        return [_workflow_view(w) for w in self.management.list_workflows(query, False, False)]

    def timeline(self, params: dict[str, str]) -> _Timeline:
        """The timeline page's data: the story ``workflow show`` tells (its steps with their
        failed attempts, its children, what it waits for)."""
        workflow_id = params.get("id", "")
        timeline = self.management.timeline(workflow_id)
        if timeline is None:
            raise _NoSuchWorkflow(f"There is no workflow {workflow_id!r} in this journal; the "
                                  "list at / shows the workflows it has.")
        return timeline


class _NoSuchWorkflow(DBOSException):
    """The live page was asked for a workflow the journal does not have."""


_STATUSES = tuple(v for k, v in vars(WorkflowStatusString).items() if not k.startswith("_"))


def _workflow_view(status: WorkflowStatus) -> dict[str, Any]:
    return {
        "workflow_id": status.workflow_id, "name": status.name, "status": status.status,
        "created_at": status.created_at, "updated_at": status.updated_at,
        "executor_id": status.executor_id, "queue_name": status.queue_name,
        "parent_workflow_id": status.parent_workflow_id,
        "recovery_attempts": status.recovery_attempts,
    }


def _live_page_handler(page: _LivePage) -> type:
    """The request handler class of ``page``'s server: GET only, every other method 405."""
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "dbos_lite-live-page"

        def do_GET(self) -> None:
            if not page.addressed_to_us(self.headers.get("Host")):
                self._send(*_live_problem(403, "This page answers requests to localhost only."))
                return
            path, _, query = self.path.partition("?")
            if path != "/events":
                self._send(*page.respond(path, query))
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            with contextlib.suppress(OSError):  # the page was closed or left
                for chunk in page.changes():
                    self.wfile.write(chunk)
                    self.wfile.flush()

        def __getattr__(self, name: str) -> Any:
            if name.startswith("do_"):  # POST, PUT, DELETE, HEAD and any other method
                return self._refuse
            raise AttributeError(name)

        def _refuse(self) -> None:
            self._send(*_live_problem(405, f"The live page only shows the journal: it answers "
                                           f"GET, not {self.command}."), allow="GET")

        def _send(self, code: int, content_type: str, body: bytes, allow: str = "") -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", _LIVE_POLICY)
            if allow:
                self.send_header("Allow", allow)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            _logger.debug("live page: " + format, *args)

    return Handler


_LIVE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def _live_problem(code: int, message: str) -> tuple[int, str, bytes]:
    return code, "text/plain; charset=utf-8", (message + "\n").encode()


def _escape(value: Any) -> str:
    import html

    return html.escape(str(value), quote=True)


def _workflow_link(workflow_id: str) -> str:
    import urllib.parse

    href = "/workflow?id=" + urllib.parse.quote(workflow_id, safe="")
    return f'<a class="id" href="{_escape(href)}">{_escape(workflow_id)}</a>'


def _status_badge(status: str) -> str:
    known = status if status in _STATUSES else "other"
    return f'<span class="status s-{known}">{_escape(status)}</span>'


def _time_html(epoch_ms: int, now_ms: int) -> str:
    """A moment as "5 s ago", kept current by the page's script; the date in its tooltip."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch_ms / 1000))
    return f'<time data-ms="{epoch_ms}" title="{when}">{_page_ago(epoch_ms, now_ms)}</time>'


def _page_ago(epoch_ms: int, now_ms: int) -> str:
    """As ``ago`` in the page's script, which redraws it every second."""
    seconds = (now_ms - epoch_ms) / 1000
    ahead, seconds = seconds < 0, abs(seconds)
    if seconds < 1:
        return "in under 1 s" if ahead else "just now"
    size, unit = next((size, unit) for size, unit in _AGO_UNITS if seconds >= size)
    amount = f"{int(seconds // size)} {unit}"
    return f"in {amount}" if ahead else f"{amount} ago"


_AGO_UNITS = ((86400, "d"), (3600, "h"), (60, "min"), (1, "s"))


def _span_text(ms: int) -> str:
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(ms // 1000, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    return f"{minutes // 60} h {minutes % 60} min"


def _live_html(title: str, journal_path: str, version: int, top: str, main: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_escape(title)} · dbos_lite</title>"
        '<link rel="stylesheet" href="/live.css"><script src="/live.js" defer></script>'
        f'</head><body data-version="{version}"><header><a href="/">dbos_lite</a>'
        f'<span class="journal">{_escape(_shown_path(journal_path))}</span>'
        '<span id="state">loading</span></header>'
        f'{top}<main id="live">{main}</main></body></html>'
    )


def _shown_path(path: str) -> str:
    """A journal's path as a person in this directory would write it (relative below it)."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _list_filters(params: dict[str, str]) -> str:
    """The list page's filter form; outside the part that is redrawn, so typing survives."""
    chosen = params.get("status", "")
    options = "".join(
        f'<option value="{_escape(value)}"{" selected" if value == chosen else ""}>'
        f"{_escape(value or 'any status')}</option>" for value in ("", *_STATUSES))
    return (
        '<form class="filters" method="get" action="/">'
        f'<select name="status">{options}</select>'
        f'<input name="name" placeholder="workflow name" value="{_escape(params.get("name", ""))}">'
        '<button>Filter</button></form>'
    )


def _list_html(workflows: list[dict[str, Any]]) -> str:
    if not workflows:
        return '<p class="muted">No workflow matches.</p>'
    now = _now_ms()
    rows = "".join(
        f"<tr><td>{_workflow_link(w['workflow_id'])}</td><td>{_escape(w['name'])}</td>"
        f"<td>{_status_badge(w['status'])}</td><td>{_time_html(w['created_at'], now)}</td>"
        f"<td>{_time_html(w['updated_at'], now)}</td>"
        f"<td>{_escape(w['executor_id'] or '')}</td><td>{_escape(w['queue_name'] or '')}</td>"
        "</tr>" for w in workflows)
    more = (f'<p class="muted">The newest {_LIVE_LIST_LIMIT} are shown; filter to see others.'
            "</p>" if len(workflows) == _LIVE_LIST_LIMIT else "")
    return ('<table class="workflows"><thead><tr><th>Workflow</th><th>Name</th><th>Status</th>'
            "<th>Created</th><th>Updated</th><th>Executor</th><th>Queue</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>{more}")


def _timeline_html(view: _Timeline) -> str:
    now = view.now_ms
    start = view.created_at_ms
    end = view.ended_at_ms if view.ended_at_ms is not None else max(now, view.updated_at_ms)
    span = max(end - start, 1)
    facts = [_status_badge(view.status), f"<b>{_escape(view.name)}</b>",
             f"started {_time_html(start, now)}",
             ("took " if view.ended_at_ms is not None else "running for ") + _span_text(span)]
    if view.executor_id:
        facts.append(f"executor <code>{_escape(view.executor_id)}</code>")
    if view.owner is not None and view.ended_at_ms is None:
        where = f"pid {view.owner.pid}" if view.owner.pid is not None else "a process"
        facts.append(f"run by {_escape(where)} ({'alive' if view.owner.alive else 'gone'})")
    if view.recovery_attempts > 1:
        facts.append(f"{view.recovery_attempts} attempts (recovered after crashes)")
    if view.parent_workflow_id:
        facts.append(f"child of {_workflow_link(view.parent_workflow_id)}")
    if view.forked_from:
        facts.append(f"forked from {_workflow_link(view.forked_from)}")
    if view.queue_name:
        facts.append(f"queue <code>{_escape(view.queue_name)}</code>")
    html = [f"<h1>{_escape(view.workflow_id)}</h1><p class=\"facts\">{' · '.join(facts)}</p>"]
    if view.error is not None:
        html.append(f'<p class="error">Error: <code>{_escape(view.error)}</code></p>')
    elif view.output is not None and view.ended_at_ms is not None:
        html.append(f'<p>Output: <code>{_escape(view.output)}</code></p>')
    if view.waiting:
        items = "".join(f"<li>{_escape(wait.text)}</li>" for wait in view.waiting)
        html.append(f'<div class="waiting"><b>Waiting for</b><ul>{items}</ul></div>')
    html.append(_steps_html(view.steps, start, span))
    if view.children:
        html.append(f"<h2>Children</h2>{_children_html(view.children)}")
    return "".join(html)


def _bar_html(began: int, ended: int, start: int, span: int) -> str:
    """A step's bar, placed and scaled on the workflow's span (1000 units wide)."""
    x = min(max((began - start) * 1000 // span, 0), 999)
    width = min(max((ended - began) * 1000 // span, 3), 1000 - x)
    return (f'<svg class="bar" viewBox="0 0 1000 10" preserveAspectRatio="none">'
            f'<rect x="{x}" y="0" width="{width}" height="10"></rect></svg>')


def _steps_html(steps: list[_TimelineStep], start: int, span: int) -> str:
    if not steps:
        return '<p class="muted">No step recorded yet.</p>'
    rows = []
    for step in steps:
        for attempt in step.attempts:  # a row for each failed attempt, before the outcome
            retry = "" if attempt.retry_at_ms is None \
                else f" · retried {_span_text(attempt.retry_at_ms - attempt.failed_at_ms)} later"
            rows.append(
                f'<tr class="attempt failed"><td></td><td>↳ attempt {attempt.attempt + 1} '
                f"failed</td><td>+{_span_text(attempt.started_at_ms - start)}</td>"
                f"<td>{_span_text(attempt.failed_at_ms - attempt.started_at_ms)}</td>"
                f'<td class="track">'
                f"{_bar_html(attempt.started_at_ms, attempt.failed_at_ms, start, span)}</td>"
                f'<td class="error">{_escape(attempt.error)}{retry}</td></tr>')
        began, ended = step.started_at_ms, step.completed_at_ms
        timing, bar = "<td></td><td></td>", ""
        if began is not None and ended is not None:
            timing = f"<td>+{_span_text(began - start)}</td><td>{_span_text(ended - began)}</td>"
            bar = _bar_html(began, ended, start, span)
        elif began is not None:
            timing = f"<td>+{_span_text(began - start)}</td><td>…</td>"
        if step.outcome == "error":
            outcome = f'<td class="error">{_escape(step.summary)}</td>'
        elif step.child_workflow_id is not None:
            badge = _status_badge(step.child_status) if step.child_status else ""
            outcome = f"<td>child {_workflow_link(step.child_workflow_id)} {badge}</td>"
        elif step.outcome == "ok":
            outcome = f"<td><code>{_escape(step.summary)}</code></td>"
        else:
            outcome = f'<td class="muted">{_escape(step.outcome)}: {_escape(step.summary)}</td>'
        failed = ' class="failed"' if step.outcome == "error" else ""
        rows.append(f"<tr{failed}><td>{step.function_id}</td>"
                    f"<td>{_escape(step.name)}</td>{timing}"
                    f'<td class="track">{bar}</td>{outcome}</tr>')
    return ('<table class="steps"><thead><tr><th>#</th><th>Step</th><th>Start</th>'
            '<th>Duration</th><th class="track">Timeline</th><th>Outcome</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _children_html(children: list[_TimelineChild]) -> str:
    """The children as a tree, each with its status."""
    items = "".join(f"<li>{_workflow_link(child.workflow_id)} {_escape(child.name)} "
                    f"{_status_badge(child.status)}"
                    f"{_children_html(child.children) if child.children else ''}</li>"
                    for child in children)
    return f'<ul class="children">{items}</ul>'


_LIVE_SCRIPT = r"""'use strict';
// Redraws the page's content whenever /events says the journal changed (no reload).
const main = document.getElementById('live');
const state = document.getElementById('state');
let version = document.body.dataset.version, busy = false, again = false;

async function redraw() {
  if (busy) { again = true; return; }
  busy = true;
  try {
    const url = new URL(location.href);
    url.searchParams.set('part', 'main');
    const response = await fetch(url, {cache: 'no-store'});
    main.innerHTML = response.ok ? await response.text()
      : '<p class="error">' + response.status + ' ' + response.statusText + '</p>';
    tick();
  } finally {
    busy = false;
    if (again) { again = false; redraw(); }
  }
}

function ago(ms) {  // as _page_ago in dbos_lite.py
  let seconds = (Date.now() - ms) / 1000;
  const ahead = seconds < 0;
  seconds = Math.abs(seconds);
  if (seconds < 1) return ahead ? 'in under 1 s' : 'just now';
  for (const [size, unit] of [[86400, 'd'], [3600, 'h'], [60, 'min'], [1, 's']]) {
    if (seconds >= size) {
      const amount = Math.floor(seconds / size) + ' ' + unit;
      return ahead ? 'in ' + amount : amount + ' ago';
    }
  }
}

function tick() {
  for (const t of document.querySelectorAll('time[data-ms]')) t.textContent = ago(+t.dataset.ms);
}

const events = new EventSource('/events');
events.onopen = () => { state.textContent = 'live'; state.className = 'live'; };
events.onerror = () => { state.textContent = 'reconnecting'; state.className = 'off'; };
events.onmessage = (event) => {
  if (event.data !== version) { version = event.data; redraw(); }
};
document.addEventListener('change', (event) => {
  if (event.target.form && event.target.tagName === 'SELECT') event.target.form.submit();
});
setInterval(tick, 1000);
"""

_LIVE_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
header { display: flex; gap: 1em; align-items: baseline; padding: .6em 1.2em;
         background: #1d2330; color: #fff; }
header a { color: #fff; font-weight: 600; text-decoration: none; }
header .journal { color: #aab; font-family: ui-monospace, monospace; font-size: 12px; }
#state { margin-left: auto; font-size: 12px; color: #aab; }
#state.live::before { content: "● "; color: #4caf50; }
#state.off::before { content: "● "; color: #e53935; }
main, form.filters { padding: 0 1.2em; }
form.filters { margin: .8em 0; display: flex; gap: .6em; }
h1 { font-size: 18px; font-family: ui-monospace, monospace; margin: .8em 0 .2em; }
h2 { font-size: 15px; margin: 1.2em 0 .3em; }
table { border-collapse: collapse; width: 100%; background: #fff; margin-top: .6em; }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #e3e5ea;
         vertical-align: middle; }
th { font-weight: 600; color: #556; font-size: 12px; }
code, .id { font-family: ui-monospace, monospace; font-size: 13px; }
a { color: #1565c0; }
.status { display: inline-block; padding: 0 .5em; border-radius: 3px; font-size: 12px;
          font-weight: 600; color: #fff; background: #778; }
.s-SUCCESS { background: #2e7d32; } .s-ERROR { background: #c62828; }
.s-PENDING { background: #1565c0; } .s-ENQUEUED, .s-DELAYED { background: #8d6e00; }
.s-CANCELLED { background: #616161; } .s-MAX_RECOVERY_ATTEMPTS_EXCEEDED { background: #6a1b9a; }
td.track, th.track { width: 35%; }
svg.bar { display: block; width: 100%; height: 10px; background: #eef0f4; }
svg.bar rect { fill: #1565c0; }
tr.failed svg.bar rect { fill: #c62828; }
tr.attempt td { color: #8a4b4b; font-size: 13px; border-bottom-style: dashed; }
table.steps td:nth-child(-n+4) { white-space: nowrap; }
.waiting ul { margin: .2em 0; padding-left: 1.2em; }
.error { color: #c62828; }
.muted { color: #778; }
.waiting { background: #e3f0ff; border-left: 3px solid #1565c0; padding: .4em .8em; }
ul.children { padding-left: 1.2em; }
"""

_LIVE_ASSETS = {
    "/live.js": ("text/javascript; charset=utf-8", _LIVE_SCRIPT.encode()),
    "/live.css": ("text/css; charset=utf-8", _LIVE_STYLE.encode()),
}


# ==== Command line: python -m dbos_lite, the dbos-lite command ====
#
# DBOS Transact's ``dbos workflow ...`` commands and flags, and what it lacks (delete, show,
# queues, schedules, events, streams, send, backup, a live page), over a DBOSClient: reading
# commands write nothing. Tables for people (relative times; colours only on a terminal),
# --json in DBOS Transact's shape for scripts. An error is one line on stderr and exit
# status 1.

_CLI = "dbos-lite"
_CLI_STATUSES = ("PENDING", "SUCCESS", "ERROR", "ENQUEUED", "DELAYED", "CANCELLED",
                 "MAX_RECOVERY_ATTEMPTS_EXCEEDED")


class _CommandError(Exception):
    """A command cannot do what it was asked: its message is the one line the user sees."""


def _main(argv: list[str] | None = None) -> int:
    """Run a command (``python -m dbos_lite --help`` lists them); the exit status."""
    args = _command_parser().parse_args(argv)
    if not hasattr(args, "run"):
        _command_parser().print_help()
        return 0
    try:
        return args.run(args) or 0
    except BrokenPipeError:  # a reader such as head(1) stopped reading: so do we, quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (DBOSException, _CommandError, OSError, ValueError, TypeError) as exc:
        print(f"{_CLI}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _command_parser() -> Any:
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> typing.NoReturn:  # one line, no usage block
            self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")

    common = Parser(add_help=False)
    where = common.add_argument_group("journal (else $DBOS_SYSTEM_DATABASE_URL, else the one "
                                      "*.sqlite journal in this directory)")
    where.add_argument("-s", "--sys-db-url", default=argparse.SUPPRESS,
                       help="the journal's URL, sqlite:///PATH")
    where.add_argument("--journal", default=argparse.SUPPRESS, metavar="PATH",
                       help="the journal's file")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print JSON (DBOS Transact's shape) instead of a table")
    parser = Parser(prog=_CLI, parents=[common], description=(
        "Look at and steer the workflows of a dbos_lite journal, from outside the program "
        "that runs them. Commands that only look never write."))
    groups = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(group: Any, name: str, run: Callable[[Any], int | None], text: str) -> Any:
        sub = group.add_parser(name, parents=[common], help=text, description=text)
        sub.set_defaults(run=run)
        return sub

    def listing_filters(sub: Any, limit: int | None) -> None:
        sub.add_argument("-l", "--limit", type=int, default=limit,
                         help=f"at most this many (default {limit or 'all'})")
        sub.add_argument("-o", "--offset", type=int, default=None, help="skip this many first")
        sub.add_argument("-S", "--status", choices=_CLI_STATUSES, default=None,
                         help="only workflows with this status")
        sub.add_argument("-n", "--name", default=None, help="only this workflow function")
        sub.add_argument("-t", "--start-time", default=None,
                         help="only workflows created at or after this ISO 8601 time")
        sub.add_argument("-e", "--end-time", default=None,
                         help="only workflows created at or before this ISO 8601 time")
        sub.add_argument("-d", "--sort-desc", action="store_true", help="newest first")
        sub.add_argument("-v", "--application-version", default=None,
                         help="only workflows of this application version")

    workflow = groups.add_parser("workflow", help="list, show and steer workflows")
    workflows = workflow.add_subparsers(title="workflow commands", metavar="COMMAND")
    sub = command(workflows, "list", _cli_list, "list workflows, oldest first")
    listing_filters(sub, 10)
    sub.add_argument("-q", "--queue", default=None, help="only workflows of this queue")
    for name, run, text in (
            ("get", _cli_get, "a workflow's status"),
            ("steps", _cli_steps, "a workflow's recorded operations"),
            ("cancel", _cli_cancel, "cancel a workflow (it stops at its next operation)"),
            ("resume", _cli_resume, "resume a cancelled or dead-lettered workflow"),
            ("delete", _cli_delete, "delete a workflow from the journal")):
        sub = command(workflows, name, run, text)
        sub.add_argument("workflow_id", metavar="WORKFLOW_ID")
        if name in ("cancel", "delete"):
            sub.add_argument("--children", action="store_true",
                             help="also its children, their children...")
    sub = command(workflows, "fork", _cli_fork,
                  "start a new workflow from a workflow's inputs and first operations")
    sub.add_argument("workflow_id", metavar="WORKFLOW_ID")
    sub.add_argument("-S", "--step", type=int, default=1,
                     help="run again from this operation (default 1: all)")
    sub.add_argument("-f", "--forked-workflow-id", default=None, help="the new workflow's id")
    sub.add_argument("-v", "--application-version", default=None,
                     help="run it on processes of this application version")
    sub = command(workflows, "show", _cli_show,
                  "a workflow's timeline: steps, retries, children, what it waits for")
    sub.add_argument("workflow_id", metavar="WORKFLOW_ID")
    sub.add_argument("--follow", action="store_true",
                     help="redraw as the journal changes, until the workflow ends")
    queued = workflows.add_parser("queue", help="workflows on queues").add_subparsers(
        title="queue commands", metavar="COMMAND")
    sub = command(queued, "list", _cli_queued, "workflows on queues (unfinished by default)")
    listing_filters(sub, None)
    sub.add_argument("-q", "--queue-name", default=None, help="only this queue")

    queues = groups.add_parser("queue", help="queues").add_subparsers(
        title="queue commands", metavar="COMMAND")
    command(queues, "list", _cli_queues, "the queues, their settings and what is on them")
    schedules = groups.add_parser("schedule", help="cron schedules").add_subparsers(
        title="schedule commands", metavar="COMMAND")
    sub = command(schedules, "list", _cli_schedules,
                  "the schedules: cron, zone, status, when each fired and fires next")
    sub.add_argument("-S", "--status", choices=("ACTIVE", "PAUSED"), default=None,
                     help="only schedules with this status")
    sub.add_argument("-n", "--name", default=None,
                     help="only schedules of this workflow function")
    sub.add_argument("-p", "--prefix", default=None,
                     help="only schedules whose name starts with this")
    for name, run, text in (
            ("get", _cli_schedule_get, "a schedule's definition and next time"),
            ("pause", _cli_schedule_pause, "stop firing a schedule until it is resumed"),
            ("resume", _cli_schedule_resume, "fire a paused schedule again"),
            ("trigger", _cli_schedule_trigger,
             "run a schedule's workflow now (also when paused); prints the new workflow"),
            ("backfill", _cli_schedule_backfill,
             "run the times of a schedule strictly between START and END that have not run"),
            ("delete", _cli_schedule_delete, "delete a schedule (its runs stay)")):
        sub = command(schedules, name, run, text)
        sub.add_argument("schedule_name", metavar="SCHEDULE_NAME")
        if name == "backfill":
            sub.add_argument("start", metavar="START", help="ISO 8601 time (no offset: UTC)")
            sub.add_argument("end", metavar="END", help="ISO 8601 time (no offset: UTC)")
    sub = command(groups, "events", _cli_events, "the events a workflow published")
    sub.add_argument("workflow_id", metavar="WORKFLOW_ID")
    sub = command(groups, "stream", _cli_stream,
                  "the values of a workflow's stream, as they come, until it is closed")
    sub.add_argument("workflow_id", metavar="WORKFLOW_ID")
    sub.add_argument("key", metavar="KEY")
    sub = command(groups, "send", _cli_send, "send a message to a workflow's DBOS.recv")
    sub.add_argument("workflow_id", metavar="WORKFLOW_ID")
    sub.add_argument("message", metavar="MESSAGE", help="JSON, or else taken as a string")
    sub.add_argument("--topic", default=None)
    sub.add_argument("--idempotency-key", default=None)
    sub = command(groups, "backup", _cli_backup, "copy the journal, consistent, while it runs")
    sub.add_argument("path", metavar="PATH", help="a new file")
    sub = command(groups, "ui", _cli_ui, "serve a live page of the workflows (read-only)")
    sub.add_argument("--host", default="127.0.0.1")
    sub.add_argument("--port", type=int, default=8000)
    return parser


# -- finding the journal --

def _cli_journal(args: Any) -> str:
    """The journal a command works on: -s/--sys-db-url or --journal, else
    $DBOS_SYSTEM_DATABASE_URL, else the one dbos_lite journal among ./*.sqlite."""
    url = getattr(args, "sys_db_url", None)
    if url is not None:
        return _journal_path(url)
    path = getattr(args, "journal", None)
    if path is not None:
        return path
    url = os.environ.get("DBOS_SYSTEM_DATABASE_URL")
    if url:
        return _journal_path(url)
    found = sorted(name for name in os.listdir(".")
                   if name.endswith(".sqlite") and _is_journal_file(name))
    if len(found) == 1:
        return found[0]
    if not found:
        raise _CommandError("no journal found: pass --journal PATH or -s sqlite:///PATH, set "
                            "DBOS_SYSTEM_DATABASE_URL, or run this where the *.sqlite is.")
    raise _CommandError(f"several journals here ({', '.join(found)}): choose one with "
                        "--journal PATH.")


def _is_journal_file(path: str) -> bool:
    """Whether a file is a dbos_lite journal: a look through a read-only connection (its
    header on disk may lag behind what its -wal file holds)."""
    try:
        with open(path, "rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                return False
        existed = _side_files(path)
        conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    except (OSError, apsw.Error):
        return False
    try:
        return _check_journal_header(conn, path) > 0
    except (DBOSInitializationError, apsw.Error):
        return False
    finally:
        conn.close()
        _remove_side_files(path, existed)


def _cli_client(args: Any) -> DBOSClient:
    return DBOSClient(system_database_url="sqlite:///" + os.path.abspath(_cli_journal(args)))


def _cli_existing(client: DBOSClient, workflow_id: str) -> _WorkflowRecord:
    workflow = client._looking().journal.get_workflow(workflow_id)
    if workflow is None:
        raise DBOSNonExistentWorkflowError(workflow_id)
    return workflow


def _wants_json(args: Any) -> bool:
    return bool(getattr(args, "json", False))


# -- workflows --

def _cli_list(args: Any, queued: bool = False) -> None:
    client = _cli_client(args)
    try:
        status = [args.status] if args.status else (list(_ACTIVE_STATUSES) if queued else None)
        query = _workflow_filter(
            status=status, name=args.name, start_time=_cli_time(args.start_time, "start-time"),
            end_time=_cli_time(args.end_time, "end-time"), limit=args.limit,
            offset=args.offset, sort_desc=args.sort_desc,
            app_version=args.application_version,
            queue_name=args.queue_name if queued else args.queue, queued_only=queued)
        journal = client._looking().journal
        records = journal.list_workflows(query)
        if _wants_json(args):
            _print_json(_statuses_json(journal, records))
            return
        now = _now_ms()
        live = [p for p in journal.list_processes() if _process_is_alive(p, now)]
        rows = [[w.workflow_id, w.name, _cli_status(w, live),
                 _ago(w.created_at, now),
                 _span(w.created_at, w.updated_at) if w.status in _FINISHED else "-",
                 w.queue_name or ""] for w in records]
        _print_table(["WORKFLOW ID", "NAME", "STATUS", "CREATED", "TOOK", "QUEUE"], rows,
                     status_column=2)
        if not rows:
            print("No workflow matches.")
    finally:
        client.destroy()


def _cli_queued(args: Any) -> None:
    _cli_list(args, queued=True)


def _cli_status(workflow: _WorkflowRecord, live: list[_ProcessRecord]) -> str:
    """A status for a table, saying when no live process will run the workflow."""
    waiting = workflow.status in (WorkflowStatusString.ENQUEUED, WorkflowStatusString.DELAYED)
    orphan = workflow.status == WorkflowStatusString.PENDING and \
        workflow.owner not in {p.process_id for p in live}
    if waiting or orphan:
        nobody = _nobody_runs(workflow.name, live, workflow.queue_name if waiting else None)
        if nobody:
            return f"{workflow.status} ({nobody})"
    return workflow.status


def _cli_time(text: str | None, flag: str) -> int | None:
    import datetime

    if text is None:
        return None
    try:
        return int(datetime.datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        raise _CommandError(f"--{flag} {text!r} is not an ISO 8601 time; write it as, for "
                            "example, 2026-01-31 or 2026-01-31T12:00:00.") from None


def _cli_get(args: Any) -> None:
    client = _cli_client(args)
    try:
        workflow = _cli_existing(client, args.workflow_id)
        status = _statuses_json(client._looking().journal, [workflow])[0]
        if _wants_json(args):
            _print_json(status)
            return
        for key, value in status.items():
            if value is not None and value != "" and value is not False:
                if key in ("created_at", "updated_at", "completed_at", "dequeued_at"):
                    value = f"{_clock(value)} ({_ago(value, _now_ms())})"
                print(f"{key + ':':<28} {_colour_status(value) if key == 'status' else value}")
    finally:
        client.destroy()


def _cli_steps(args: Any) -> None:
    client = _cli_client(args)
    try:
        _cli_existing(client, args.workflow_id)
        steps = client.list_workflow_steps(args.workflow_id)
        if _wants_json(args):
            _print_json([_step_json(step) for step in steps])
            return
        rows = []
        for step in steps:
            started, ended = step["started_at_epoch_ms"], step["completed_at_epoch_ms"]
            outcome = _one_line(f"{type(step['error']).__name__}: {step['error']}") \
                if step["error"] is not None else _one_line(repr(step["output"]))
            rows.append([str(step["function_id"]), step["function_name"], _clock(started),
                         _span(started, ended) if started and ended else "-",
                         step["child_workflow_id"] or "", outcome])
        _print_table(["#", "OPERATION", "STARTED", "TOOK", "CHILD", "OUTPUT / ERROR"], rows)
        if not rows:
            print(f"Workflow {args.workflow_id} has recorded no operation yet.")
    finally:
        client.destroy()


def _cli_cancel(args: Any) -> None:
    client = _cli_client(args)
    try:
        _cli_existing(client, args.workflow_id)
        client.cancel_workflow(args.workflow_id, cancel_children=args.children)
        _cli_said(args, f"Cancelled workflow {args.workflow_id}; its process stops it at its "
                        "next operation (resume it with: workflow resume ID).")
    finally:
        client.destroy()


def _cli_resume(args: Any) -> None:
    client = _cli_client(args)
    try:
        before = _cli_existing(client, args.workflow_id)
        client.resume_workflow(args.workflow_id)
        after = _cli_existing(client, args.workflow_id)
        if after.status == WorkflowStatusString.ENQUEUED:
            said = (f"Resumed workflow {args.workflow_id}: ENQUEUED on {after.queue_name}, a "
                    f"process that registers {after.name!r} continues it from its last "
                    "completed step.")
        elif before.status != after.status or after.updated_at != before.updated_at:
            said = (f"Resumed workflow {args.workflow_id}: {after.status}, continuing from its "
                    "last completed step.")
        else:
            said = f"Workflow {args.workflow_id} is {after.status}: left as it is."
        _cli_said(args, said)
    finally:
        client.destroy()


def _cli_fork(args: Any) -> None:
    client = _cli_client(args)
    try:
        _cli_existing(client, args.workflow_id)
        with contextlib.ExitStack() as stack:
            if args.forked_workflow_id is not None:
                stack.enter_context(SetWorkflowID(args.forked_workflow_id))
            handle = client.fork_workflow(args.workflow_id, args.step,
                                          application_version=args.application_version)
        if _wants_json(args):
            journal = client._looking().journal
            _print_json(_statuses_json(journal, [_cli_existing(client, handle.workflow_id)])[0])
        else:
            print(f"Forked {args.workflow_id} from operation {args.step} as "
                  f"{handle.workflow_id} (ENQUEUED for a process that registers it).")
    finally:
        client.destroy()


def _cli_delete(args: Any) -> None:
    client = _cli_client(args)
    try:
        _cli_existing(client, args.workflow_id)
        client.delete_workflow(args.workflow_id, delete_children=args.children)
        _cli_said(args, f"Deleted workflow {args.workflow_id}.")
    finally:
        client.destroy()


def _cli_said(args: Any, text: str) -> None:
    if not _wants_json(args):  # as DBOS Transact's, these commands print nothing for scripts
        print(text)


# -- the timeline --

def _cli_show(args: Any) -> None:
    client = _cli_client(args)
    try:
        management = client._looking()
        timeline = management.timeline(args.workflow_id)
        if timeline is None:
            raise DBOSNonExistentWorkflowError(args.workflow_id)
        colour = _colours_on()
        if not args.follow:
            _print_timeline(timeline, args)
            return
        journal = management.journal
        while True:
            if colour:
                sys.stdout.write("\x1b[H\x1b[2J")  # clear the terminal, redraw from the top
            _print_timeline(timeline, args)
            if timeline.status in _FINISHED:
                return
            if not colour:
                print("-" * 40)
            sys.stdout.flush()
            version = journal.data_version()
            ends = time.monotonic() + 1.0  # at least once a second: relative times move
            while journal.data_version() == version and time.monotonic() < ends:
                time.sleep(0.05)
            timeline = management.timeline(args.workflow_id)
            if timeline is None:
                raise _CommandError(f"Workflow {args.workflow_id!r} was deleted.")
    finally:
        client.destroy()


def _print_timeline(timeline: _Timeline, args: Any) -> None:
    if _wants_json(args):
        _print_json(msgspec.to_builtins(timeline))
        return
    for line in _timeline_lines(timeline):
        print(line)


_BAR_WIDTH = 24


def _timeline_lines(timeline: _Timeline) -> list[str]:
    """The timeline as text for a terminal: a header, one line per operation with a bar
    placed and scaled on the workflow's span, its failed attempts, children, what it waits
    for, and its outcome."""
    now = timeline.now_ms
    begin = timeline.created_at_ms
    end = timeline.ended_at_ms or max([now] + [s.completed_at_ms or 0 for s in timeline.steps])
    span = max(end - begin, 1)
    took = f", took {_span(begin, timeline.ended_at_ms)}" if timeline.ended_at_ms else ""
    lines = [f"Workflow {timeline.workflow_id} ({timeline.name})  "
             f"{_colour_status(timeline.status)}",
             f"  created {_clock(begin)} ({_ago(begin, now)}){took}; recovery attempts "
             f"{timeline.recovery_attempts}; executor {timeline.executor_id or '-'}"]
    owner = timeline.owner
    if owner is not None:
        state = "alive" if owner.alive else "gone"
        lines.append(f"  owner: pid {owner.pid if owner.pid is not None else '?'} "
                     f"({state}), process {owner.process_id[:12]}")
    for label, value in (("queue", timeline.queue_name), ("parent", timeline.parent_workflow_id),
                         ("forked from", timeline.forked_from)):
        if value:
            lines.append(f"  {label}: {value}")
    rows = []
    for step in timeline.steps:
        start = step.started_at_ms
        offset = "" if start is None else f"+{(start - begin) / 1000:.3f}s"
        bar = _bar(start, step.completed_at_ms or (now if step.outcome == "running" else None),
                   begin, span)
        took_ms = "-" if step.duration_ms is None else _span(0, step.duration_ms)
        summary = step.summary
        if step.child_status and step.summary.startswith("started "):
            summary = f"{summary} ({step.child_status})"
        rows.append([str(step.function_id), step.name, offset, took_ms, bar,
                     step.outcome, summary])
        for attempt in step.attempts:
            retry = "" if attempt.retry_at_ms is None \
                else f"; retry at +{(attempt.retry_at_ms - begin) / 1000:.3f}s"
            rows.append(["", f"  attempt {attempt.attempt + 1}",
                         f"+{(attempt.started_at_ms - begin) / 1000:.3f}s",
                         _span(attempt.started_at_ms, attempt.failed_at_ms),
                         _bar(attempt.started_at_ms, attempt.failed_at_ms, begin, span),
                         "failed", attempt.error + retry])
    lines.append("")
    if rows:
        lines += _table_lines(["#", "OPERATION", "START", "TOOK", "|" + "-" * _BAR_WIDTH + "|",
                               "OUTCOME", "OUTPUT / ERROR"], rows)
    else:
        lines.append("  (no operation recorded yet)")
    if timeline.children:
        lines += ["", "Children:"]
        lines += _child_lines(timeline.children, 1)
    if timeline.waiting:
        lines += ["", "Waiting for:"]
        for wait in timeline.waiting:
            when = ""
            if wait.until_ms is not None:
                when = f" ({_ago(wait.until_ms, now)})"
            lines.append(f"  {wait.text}{when}")
    if timeline.output is not None and timeline.status == WorkflowStatusString.SUCCESS:
        lines += ["", f"Output: {timeline.output}"]
    if timeline.error is not None:
        lines += ["", f"Error: {timeline.error}"]
    return lines


def _bar(start: int | None, end: int | None, begin: int, span: int) -> str:
    """Where an operation ran in the workflow's span, as a bar of _BAR_WIDTH cells."""
    if start is None:
        return "|" + " " * _BAR_WIDTH + "|"
    first = min(_BAR_WIDTH - 1, max(0, (start - begin) * _BAR_WIDTH // span))
    last = first if end is None else min(_BAR_WIDTH - 1, max(first, (end - begin) *
                                                              _BAR_WIDTH // span))
    cells = " " * first + "█" * (last - first + 1)
    return "|" + cells.ljust(_BAR_WIDTH) + "|"


def _child_lines(children: list[_TimelineChild], depth: int) -> list[str]:
    lines = []
    for child in children:
        lines.append(f"{'  ' * depth}{child.workflow_id}  {child.name}  "
                     f"{_colour_status(child.status)}")
        lines += _child_lines(child.children, depth + 1)
    return lines


# -- queues, schedules, events, streams, messages, backup, the live page --

def _cli_queues(args: Any) -> None:
    client = _cli_client(args)
    try:
        journal = client._looking().journal
        counts = journal.queue_counts()
        queues = journal.list_queues()
        if _wants_json(args):
            _print_json([{**msgspec.structs.asdict(q), "waiting": counts.get(q.name, (0, 0))[0],
                          "running": counts.get(q.name, (0, 0))[1]} for q in queues])
            return
        rows = []
        for queue in queues:
            limiter = "" if queue.limiter_limit is None \
                else f"{queue.limiter_limit}/{(queue.limiter_period_ms or 0) / 1000:g}s"
            waiting, running = counts.get(queue.name, (0, 0))
            rows.append([queue.name, _or_dash(queue.global_concurrency),
                         _or_dash(queue.worker_concurrency), limiter or "-",
                         "yes" if queue.partitioned else "", str(waiting), str(running)])
        _print_table(["QUEUE", "CONCURRENCY", "PER PROCESS", "RATE", "PARTITIONED", "WAITING",
                      "RUNNING"], rows)
        if not rows:
            print("No queue is registered in this journal.")
    finally:
        client.destroy()


def _or_dash(value: Any) -> str:
    return "-" if value is None else str(value)


def _cli_schedules(args: Any) -> None:
    client = _cli_client(args)
    try:
        schedules = client.list_schedules(status=args.status, workflow_name=args.name,
                                          schedule_name_prefix=args.prefix)
        if _wants_json(args):
            _print_json(schedules)
            return
        journal = client._looking().journal
        now = _now_ms()
        live = [p for p in journal.list_processes() if _process_is_alive(p, now)]
        rows = [[s["schedule_name"], s["workflow_name"], s["schedule"],
                 s["cron_timezone"] or "UTC", _cli_schedule_status(s, live),
                 "never" if s["last_fired_at"] is None
                 else _ago(_iso_epoch_ms(s["last_fired_at"]), now),
                 _cli_next_time(s, now)[1], s["queue_name"] or "-"] for s in schedules]
        _print_table(["SCHEDULE", "WORKFLOW", "CRON", "ZONE", "STATUS", "LAST FIRED", "NEXT",
                      "QUEUE"], rows, status_column=4)
        if not rows:
            print("No schedule matches." if args.status or args.name or args.prefix else
                  "No schedule in this journal (a program creates them with "
                  "DBOS.create_schedule).")
    finally:
        client.destroy()


def _cli_schedule_status(schedule: WorkflowSchedule, live: list[_ProcessRecord]) -> str:
    """A schedule's status for a table, saying when no live process will run its runs."""
    if schedule["status"] != "ACTIVE":
        return schedule["status"]
    nobody = _nobody_runs(schedule["workflow_name"], live, schedule["queue_name"])
    return f"ACTIVE ({nobody})" if nobody else "ACTIVE"


def _iso_epoch_ms(text: str) -> int:
    import datetime

    return int(datetime.datetime.fromisoformat(text).timestamp() * 1000)


def _cli_next_time(schedule: WorkflowSchedule, now_ms: int) -> tuple[str | None, str]:
    """When an ACTIVE schedule fires next: the time in its zone (ISO) and relative to now."""
    import datetime

    if schedule["status"] != "ACTIVE":
        return None, "- (paused)"
    try:
        cron = _parse_cron(schedule["schedule"])
        zone = _schedule_zone(schedule["cron_timezone"])
    except Exception:  # a row another tool wrote: the scheduler logs why it cannot fire
        return None, "- (invalid)"
    now = datetime.datetime.fromtimestamp(now_ms / 1000, datetime.timezone.utc)
    when = cron.next_after(now.astimezone(zone))
    return when.isoformat(), _ago(int(when.timestamp() * 1000), now_ms)


def _cli_schedule_or_fail(client: DBOSClient, schedule_name: str) -> WorkflowSchedule:
    schedule = client.get_schedule(schedule_name)
    if schedule is None:
        raise _CommandError(f"Schedule {schedule_name!r} does not exist in this journal; "
                            f"'{_CLI} schedule list' shows the schedules it has.")
    return schedule


def _cli_schedule_get(args: Any) -> None:
    client = _cli_client(args)
    try:
        schedule = _cli_schedule_or_fail(client, args.schedule_name)
        if _wants_json(args):
            _print_json(schedule)
            return
        now = _now_ms()
        for key, value in schedule.items():
            if key == "context":
                value = _one_line(repr(value))
            elif key == "last_fired_at" and value is not None:
                value = f"{value} ({_ago(_iso_epoch_ms(value), now)})"
            elif value is None:
                value = "-"
            print(f"{key + ':':<22} {value}")
        when, relative = _cli_next_time(schedule, now)
        print(f"{'next time:':<22} {relative if when is None else f'{when} ({relative})'}")
    finally:
        client.destroy()


def _cli_schedule_pause(args: Any) -> None:
    _cli_schedule_set_status(args, "PAUSED")


def _cli_schedule_resume(args: Any) -> None:
    _cli_schedule_set_status(args, "ACTIVE")


def _cli_schedule_set_status(args: Any, status: str) -> None:
    client = _cli_client(args)
    try:
        name = args.schedule_name
        if _cli_schedule_or_fail(client, name)["status"] == status:
            _cli_said(args, f"Schedule {name!r} is {status} already: left as it is.")
            return
        if status == "PAUSED":
            client.pause_schedule(name)
            _cli_said(args, f"Paused schedule {name!r}: no program fires it until "
                            f"'{_CLI} schedule resume {name}'.")
            return
        client.resume_schedule(name)
        schedule = _cli_schedule_or_fail(client, name)
        when, relative = _cli_next_time(schedule, _now_ms())
        missed = " (first the times it missed while paused: automatic_backfill)" \
            if schedule["automatic_backfill"] and schedule["last_fired_at"] else ""
        next_time = f"at {when} ({relative})" if when else relative
        _cli_said(args, f"Resumed schedule {name!r}: it fires next {next_time}{missed}.")
    finally:
        client.destroy()


def _cli_schedule_trigger(args: Any) -> None:
    client = _cli_client(args)
    try:
        schedule = _cli_schedule_or_fail(client, args.schedule_name)
        handle = client.trigger_schedule(args.schedule_name)
        if _wants_json(args):
            journal = client._looking().journal
            _print_json(_statuses_json(journal, [_cli_existing(client, handle.workflow_id)])[0])
            return
        print(f"Triggered schedule {args.schedule_name!r}: workflow {handle.workflow_id} is "
              f"ENQUEUED on {schedule['queue_name'] or _INTERNAL_QUEUE_NAME}, for a program "
              f"that registers {schedule['workflow_name']!r}.")
    finally:
        client.destroy()


def _cli_schedule_backfill(args: Any) -> None:
    start = _cli_utc_time(args.start, "START")
    end = _cli_utc_time(args.end, "END")
    if end <= start:
        raise _CommandError(f"END {args.end!r} is not after START {args.start!r}: the window "
                            "is empty, nothing was enqueued.")
    client = _cli_client(args)
    try:
        name = args.schedule_name
        _cli_schedule_or_fail(client, name)
        ids, created = client._backfill(name, start, end)
        if _wants_json(args):
            made = set(created)
            _print_json({"workflow_ids": ids, "enqueued": created,
                         "existed": [workflow_id for workflow_id in ids
                                     if workflow_id not in made]})
            return
        if not ids:
            print(f"Schedule {name!r} has no time strictly between {start.isoformat()} and "
                  f"{end.isoformat()}: nothing was enqueued.")
            return
        print(f"Backfilled schedule {name!r} between {start.isoformat()} and "
              f"{end.isoformat()}: {len(created)} time{'s' * (len(created) != 1)} enqueued, "
              f"{len(ids) - len(created)} already existed.")
    finally:
        client.destroy()


def _cli_utc_time(text: str, which: str) -> Any:
    """An ISO 8601 time given on the command line, aware (without an offset: UTC)."""
    import datetime

    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise _CommandError(f"{which} {text!r} is not an ISO 8601 time; write it as, for "
                            "example, 2026-01-31 or 2026-01-31T12:00:00+02:00 (a time "
                            "without an offset is UTC).") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def _cli_schedule_delete(args: Any) -> None:
    client = _cli_client(args)
    try:
        _cli_schedule_or_fail(client, args.schedule_name)
        client.delete_schedule(args.schedule_name)
        _cli_said(args, f"Deleted schedule {args.schedule_name!r}; its runs stay in the "
                        "journal.")
    finally:
        client.destroy()


def _cli_events(args: Any) -> None:
    client = _cli_client(args)
    try:
        _cli_existing(client, args.workflow_id)
        events = {key: _decode_value(value) for key, value in
                  client._looking().journal.get_all_events(args.workflow_id).items()}
        if _wants_json(args):
            _print_json(events)
            return
        _print_table(["KEY", "VALUE"], [[key, _one_line(repr(value))]
                                        for key, value in events.items()])
        if not events:
            print(f"Workflow {args.workflow_id} has published no event.")
    finally:
        client.destroy()


def _cli_stream(args: Any) -> None:
    client = _cli_client(args)
    try:
        _cli_existing(client, args.workflow_id)
        for value in client.read_stream(args.workflow_id, args.key):
            print(_json_text(value) if _wants_json(args) else _one_line(repr(value)), flush=True)
    finally:
        client.destroy()


def _cli_send(args: Any) -> None:
    import json

    try:
        message = json.loads(args.message)
    except ValueError:
        message = args.message
    client = _cli_client(args)
    try:
        client.send(args.workflow_id, message, args.topic, args.idempotency_key)
        topic = "with no topic" if args.topic is None else f"on topic {args.topic!r}"
        _cli_said(args, f"Sent {message!r} to workflow {args.workflow_id} {topic}.")
    finally:
        client.destroy()


def _cli_backup(args: Any) -> None:
    client = _cli_client(args)
    try:
        client._looking().backup(args.path)
        _cli_said(args, f"Copied the journal to {args.path}.")
    finally:
        client.destroy()


def _cli_ui(args: Any) -> None:
    serve = globals().get("_serve_live_page")  # the live page, where this version has it
    if serve is None:
        raise _CommandError("the live page (ui) is not available in this version of "
                            "dbos_lite; use 'workflow show ID --follow'.")
    journal = os.path.abspath(_cli_journal(args))
    DBOSClient(system_database_url="sqlite:///" + journal).destroy()  # refuse a bad journal now
    serve(journal, args.host, args.port)


# -- output --

def _statuses_json(journal: _Journal, records: list[_WorkflowRecord]) -> list[dict[str, Any]]:
    """Workflows as DBOS Transact's ``dbos workflow list --json`` prints them (its keys, in
    its order; the fields dbos_lite does not have are null)."""
    application = journal.application_name()
    forked = journal.forked_from_any([w.workflow_id for w in records]) if records else set()
    shaped = []
    for workflow in records:
        status = _status_from_record(workflow)
        shaped.append({
            "workflow_id": status.workflow_id, "status": status.status, "name": status.name,
            "recovery_attempts": status.recovery_attempts, "config_name": status.config_name,
            "class_name": status.class_name, "authenticated_user": None,
            "authenticated_roles": None, "assumed_role": None, "queue_name": status.queue_name,
            "executor_id": status.executor_id, "created_at": status.created_at,
            "updated_at": status.updated_at, "app_version": status.app_version, "app_id": None,
            "workflow_deadline_epoch_ms": status.workflow_deadline_epoch_ms,
            "workflow_timeout_ms": status.workflow_timeout_ms,
            "deduplication_id": status.deduplication_id, "priority": status.priority,
            "queue_partition_key": status.queue_partition_key,
            "forked_from": status.forked_from, "parent_workflow_id": status.parent_workflow_id,
            "dequeued_at": status.dequeued_at,
            "delay_until_epoch_ms": status.delay_until_epoch_ms,
            "was_forked_from": workflow.workflow_id in forked,
            "completed_at": status.completed_at, "attributes": None,
            "schedule_name": status.schedule_name, "application_name": application,
            "shard_key": None, "parent_shard_key": None, "input": status.input,
            "output": status.output,
            "error": None if status.error is None else str(status.error),
        })
    return shaped


def _step_json(step: StepInfo) -> dict[str, Any]:
    """A step as ``dbos workflow steps --json`` prints it."""
    return {"function_id": step["function_id"], "function_name": step["function_name"],
            "output": step["output"],
            "error": None if step["error"] is None else str(step["error"]),
            "child_workflow_id": step["child_workflow_id"], "child_shard_key": None,
            "started_at_epoch_ms": step["started_at_epoch_ms"],
            "completed_at_epoch_ms": step["completed_at_epoch_ms"]}


def _print_json(value: Any) -> None:
    print(_json_text(value))


def _json_text(value: Any) -> str:
    import json

    return json.dumps(value, default=str)  # as DBOS Transact: what JSON lacks, as str()


def _print_table(headers: list[str], rows: list[list[str]], status_column: int = -1) -> None:
    if rows:
        for line in _table_lines(headers, rows, status_column):
            print(line)


def _table_lines(headers: list[str], rows: list[list[str]], status_column: int = -1
                 ) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = []
    for row in [headers, *rows]:
        cells = []
        for index, (cell, width) in enumerate(zip(row, widths)):
            text = str(cell).ljust(width) if index < len(row) - 1 else str(cell)
            if index == status_column and row is not headers:
                text = _colour_status(text)
            cells.append(text)
        lines.append("  ".join(cells).rstrip())
    return lines


_STATUS_COLOURS = {"SUCCESS": "32", "ERROR": "31", "MAX_RECOVERY_ATTEMPTS_EXCEEDED": "31",
                   "PENDING": "33", "ENQUEUED": "36", "DELAYED": "36", "CANCELLED": "90",
                   "ACTIVE": "32", "PAUSED": "90"}


def _colours_on() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _colour_status(text: Any) -> str:
    text = str(text)
    code = _STATUS_COLOURS.get(text.split(" ")[0].strip())
    return f"\x1b[{code}m{text}\x1b[0m" if code and _colours_on() else text


def _ago(epoch_ms: int, now_ms: int) -> str:
    """A time relative to now: "12s ago", "in 3m"."""
    seconds = (now_ms - epoch_ms) / 1000
    later = seconds < 0
    seconds = abs(seconds)
    if seconds < 1:
        return "just now" if not later else "in <1s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            amount = f"{int(seconds // size)}{unit}"
            return f"in {amount}" if later else f"{amount} ago"
    return "just now"


def _span(start_ms: int, end_ms: int | None) -> str:
    """A duration: "850ms", "2.4s", "3m05s"."""
    if end_ms is None:
        return "-"
    ms = max(0, end_ms - start_ms)
    if ms < 1000:
        return f"{ms}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    minutes, seconds = divmod(ms // 1000, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


if __name__ == "__main__":
    sys.exit(_main())
