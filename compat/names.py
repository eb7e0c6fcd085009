"""The names of DBOS Transact's public API, and what dbos_lite does with each.

    python compat/names.py check   fail if compat/dbos_names.txt is not the installed dbos's names
    python compat/names.py write   rewrite compat/dbos_names.txt and compat/support_table.md

Both need an interpreter with dbos (and apsw, msgspec): `make compat` runs `check` in
.venv-compat. compat/dbos_names.txt holds every name in `dbos.__all__`, then every public
attribute of the `DBOS` class as `DBOS.<name>`, one a line. compat/support_table.md is generated
from it, from what dbos_lite.py has today and from the notes below (edit those, not the table):
each name is "supported", "supported, differs: ..." or "not in dbos_lite: ...".
tests/test_dbos_names.py checks the table against the names and dbos_lite, without dbos.
"""

import inspect
import os
import re
import sys
import typing

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NAMES = os.path.join(HERE, "dbos_names.txt")
TABLE = os.path.join(HERE, "support_table.md")
DBOS_VERSION = "3.4.0"

# Arguments that nearly every DBOS call takes, said once above the table instead of on each row.
COMMON_ARGUMENTS = {"shard_key", "serialization_type"}

_NOT_A_STEP = ("inside a workflow it is not recorded as an operation (DBOS records a `{step}` "
               "step, so the operation ids after it differ)")
_NOT_A_STRING = "; a string alone for `workflow_ids` is refused (DBOS fails in SQLAlchemy)"
_RESUME = (_NOT_A_STEP.format(step="DBOS.resumeWorkflow") + "; without `queue_name=` the "
           "workflow continues in this process at once (DBOS puts it on its internal queue); "
           "`queue_name=` must name a queue of the journal (DBOS leaves the workflow ENQUEUED on "
           "a queue nobody works)")

_STREAM_WAIT = ("a write in this process wakes the wait at once, one in another process within "
                "the config's `notification_listener_polling_interval_sec`, so "
                "`polling_interval_sec=` is checked and unused; a negative `offset=` is refused")

_ONE_STRING = ("`app_version`, `executor_id`, `forked_from`, `parent_workflow_id`, `queue_name` "
               "and `workflow_id_prefix` take one string each (DBOS: a string or a list)")

#: What differs, for names dbos_lite has; a note on a name holds for its `_async` twin too.
#: Arguments and fields that DBOS has and dbos_lite lacks are found by inspection and added.
DIFFERS = {
    "WorkflowHandle": "`get_result()` on a running event loop raises RuntimeError naming "
                      "`get_result_async` (DBOS blocks the loop, and can deadlock an async "
                      "workflow on the same loop)",
    "DBOSClient": "reads on a read-only connection, writes on one opened at the first "
                  "write (never migrating); a missing file is refused, not created; resume "
                  "and fork go onto `_dbos_internal_queue` as in DBOS; enqueue refuses a queue "
                  "the journal lacks; its queues are read and changed through it (their "
                  "`enqueue` refuses, as DBOS); its schedule calls check as `DBOS`'s do (cron "
                  "fields, a cron that never fires, the queue; a workflow name is taken as "
                  "given, as DBOS) and refuse an `application_name` not the journal's; no "
                  "transactions or application versions yet; refuses calls after `destroy()`",
    "DBOS": "a second DBOS(config=...) with a different config raises (DBOS keeps the "
            "first silently)",
    "DBOSConfig": "keys `name`, `system_database_url` (`sqlite:///` only), `application_version`, "
                  "`executor_id`, `max_executor_threads`, "
                  "`notification_listener_polling_interval_sec`, `log_level`, and dbos_lite's "
                  "own `sqlite_synchronous` and `busy_timeout_sec` (which DBOS ignores); DBOS's "
                  "other keys are ignored with a warning",
    "SetWorkflowID": "its argument may also be passed as `workflow_id=`, which DBOS refuses "
                     "(DBOS: `wfid=`)",
    "WorkflowHandle": "`get_result()` raises RuntimeError while an event loop is running (DBOS "
                      "allows it); `get_status()` works there (DBOS raises RuntimeError)",
    "WorkflowStatus": "a msgspec Struct; `was_forked_from` is true while a fork of the "
                      "workflow is in the journal (DBOS: from its first fork on, even once that "
                      "fork is deleted); `authenticated_user`, `assumed_role`, "
                      "`authenticated_roles`, `attributes`, `application_name`, `app_id`, "
                      "`shard_key` and `parent_shard_key` are always None",
    "WorkflowStatusString": "a class of `str` constants, not an Enum: "
                            "`WorkflowStatusString.SUCCESS == \"SUCCESS\"` is true here, false on "
                            "DBOS; compare `status.status` with a string to be portable",
    "DBOS.launch": "recovers the PENDING workflows of every dead process sharing the journal; "
                   "DBOS recovers those of its own `executor_id` (by default `\"local\"`, so "
                   "also those of live processes)",
    "DBOS.executor_id": "unique to the process by default (DBOS: `\"local\"`)",
    "DBOS.list_workflows": "lists by creation time, and workflows created in the same "
                           "millisecond by id; " + _ONE_STRING,
    "DBOS.list_queued_workflows": _ONE_STRING,
    "DBOS.recv": "`timeout_seconds=None` waits for ever; DBOS fails with TypeError",
    "DBOS.get_event": "`timeout_seconds=None` waits for ever; DBOS fails with TypeError",
    "DBOS.run_step": "its first parameter is named `options` (DBOS: `dbos_step_options`)",
    "DBOS.reset_system_database": "deletes the journal named in the config",
    "DBOS.dbos_class": "its errors are DBOSException (DBOS: plain Exception); "
                       "`@DBOS.workflow()` stacked above `@classmethod`/`@staticmethod` is "
                       "refused when the class is defined (DBOS fails at the call); a method "
                       "workflow called on an object that is not the instance registered under "
                       "its class and config_name is refused (DBOS runs it, and recovery then "
                       "finds another object or none); recovery leaves a workflow whose "
                       "instance is not created PENDING and untouched, logging why, and takes "
                       "it at a later heartbeat once the instance exists (DBOS counts a "
                       "recovery attempt and logs an error)",
    "DBOSConfiguredInstance": "`config_name` must be a non-empty string; a second instance with "
                              "one class and config_name raises DBOSException (DBOS: plain "
                              "Exception)",
    "DBOS.get_result": "an unknown workflow id raises DBOSNonExistentWorkflowError (DBOS waits "
                       "for ever); a finish wakes the wait at once (DBOS polls every second)",
    "DBOS.register_queue": "also before `DBOS.launch()`; counts and limits must be at least 1 "
                           "and an unknown `on_conflict` is refused (DBOS accepts 0, negative "
                           "numbers and any string); `update_if_latest_version` updates "
                           "always (dbos_lite has no registry of application versions)",
    "Queue": "`global_concurrency` and partition limits hold across processes (counted and "
             "claimed in one transaction); rate limits are rolling windows in milliseconds; "
             "a workflow enqueued by a process that works the queue starts in the enqueuing "
             "transaction; queued workflows of a process that died go back to their queue",
    "DBOS.enqueue_workflow": "enqueuing onto a queue that is not in the journal, or onto a "
                             "partitioned queue without a partition key, raises "
                             "DBOSException and writes nothing (DBOS leaves the workflow "
                             "ENQUEUED for ever)",
    "DBOS.listen_queues": "also takes Queue objects",
    "DBOS.create_schedule": "the error for an invalid cron string names the field and the fix; "
                            "a string that can never fire (`0 0 30 2 *`) or has a seventh "
                            "(year) field is refused (DBOS accepts it, and its scheduler thread "
                            "dies); a time fires when it is due, in every process at once, and "
                            "the journal lets one of them create the run (DBOS: up to 10% of "
                            "the interval, at most 10 s, later); `shard_key` must be None",
    "DBOS.apply_schedules": "as `create_schedule`",
    "DBOS.pause_schedule": "takes effect within a second in every process (DBOS: at its "
                           "scheduler's next poll, up to 30 s later)",
    "DBOS.list_schedules": "`application_name` matches the journal's one application",
    "WorkflowSchedule": "`shard_key` is always None",
    "DebouncerClient": "`application_name` is accepted and unused (a journal belongs to one "
                       "application)",
    "Debouncer": "keeps a DELAYED workflow and changes its inputs and delay in one transaction; "
                 "`Debouncer(workflow_name, ...)` checks the name at once",
    "SetEnqueueOptions": "an invalid priority raises DBOSException that is also a ValueError "
                         "(DBOS: plain Exception)",
    "DBOS.resume_workflow": _RESUME,
    "DBOS.cancel_workflow": _NOT_A_STEP.format(step="DBOS.cancelWorkflow"),
    "DBOS.cancel_workflows": _NOT_A_STEP.format(step="DBOS.cancelWorkflow") + _NOT_A_STRING,
    "DBOS.delete_workflow": _NOT_A_STEP.format(step="DBOS.deleteWorkflow"),
    "DBOS.delete_workflows": _NOT_A_STEP.format(step="DBOS.deleteWorkflow") + _NOT_A_STRING,
    "SendMessage": "a frozen msgspec Struct (DBOS: a dataclass)",
    "DBOS.send_bulk": "DBOSNonExistentWorkflowError names the destinations not in the journal "
                      "(DBOS names every destination of the call)",
    "DBOS.read_stream": _STREAM_WAIT,
    "DBOS.read_stream_offset": _STREAM_WAIT,
    "DBOS.fork_workflow": "without `queue_name=` or `queue_partition_key=` the fork runs in "
                          "this process at once (DBOS puts it on its internal queue); "
                          "`queue_name=` must name a queue of the journal, and a partitioned "
                          "one needs `queue_partition_key=`",
    "DBOS.wait_first": "when several have finished, returns the first of them in the list's "
                       "order (DBOS: any one); raises DBOSNonExistentWorkflowError if, while "
                       "none has finished, one of them does not exist (DBOS waits for ever); a "
                       "finish wakes the wait at once, `polling_interval_sec=` is accepted and "
                       "unused",
}
#: Sync calls that dbos_lite accepts while an event loop is running, where DBOS raises
#: "RuntimeError: NAME() was called while an event loop is running. Use await NAME_async(...)
#: instead." (dbos_lite does the same for `sleep`, `recv`, `get_event`, `read_stream`).
ACCEPTED_IN_EVENT_LOOP: set[str] = set()  # none left: dbos_lite refuses what DBOS refuses
IN_EVENT_LOOP = "works while an event loop is running (DBOS: RuntimeError, use the `_async` twin)"
# The fields of DBOSConfig that dbos_lite lacks are DBOS's Postgres, Conductor, OpenTelemetry...
NO_FIELD_LIST = {"DBOSConfig"}

#: Why a name is missing, for names dbos_lite does not have.
_MISSING_GROUPS = {
    "a type alias of DBOS's (`\"reject\"` or `\"return-existing\"`)": ["DuplicationPolicy"],
    "changing the delay of a DELAYED workflow": ["DBOS.set_workflow_delay"],
    "DBOS's errors module: dbos_lite's errors are top-level names (see below)": ["error"],
    "Kafka consumer workflows": ["KafkaMessage", "DBOS.kafka_consumer"],
    "role-based access control": [
        "DBOSContextSetAuth", "DBOS.set_authentication", "DBOS.authenticated_user",
        "DBOS.authenticated_roles", "DBOS.assumed_role", "DBOS.required_roles",
        "DBOS.default_required_roles"],
    "OpenTelemetry tracing": ["PropagateOtelContext", "DBOS.span", "DBOS.tracer"],
    "transactions in an application database": [
        "SQLAlchemyDatasource", "AsyncSQLAlchemyDatasource"],
    "migrating a Postgres system database (dbos_lite migrates its journal in `launch()`)": [
        "run_dbos_database_migrations", "DBOS.migrate"],
    "pluggable serializers (dbos_lite stores msgspec JSON)": [
        "Serializer", "DBOSPortableJSONSerializer", "PortableWorkflowError",
        "WorkflowSerializationFormat"],
    "sharded system databases": ["SetShardKey", "DBOS.shard_key"],
    "entering a DBOS context explicitly": ["DBOSContextEnsure"],
    "custom workflow attributes": ["SetWorkflowAttributes", "DBOS.update_workflow_attributes"],
    "a type alias of DBOS's (`\"return-existing\"` or `\"reject\"`)": ["WorkflowIDReusePolicy"],
    "reserving a step id to run a step at later": ["StepReservation", "DBOS.reserve_step"],
    "the registry of application versions": [
        "VersionInfo", "DBOS.list_application_versions", "DBOS.get_latest_application_version",
        "DBOS.set_latest_application_version"],
    "argument validation with pydantic": [
        "pydantic_args_validator", "make_pydantic_args_validator"],
    "alerts from DBOS Conductor": ["DBOS.alert_handler"],
    "a durable `asyncio.wait`": ["DBOS.asyncio_wait"],
    "rewinding a workflow to a step": ["DBOS.rewind_workflow"],
}
MISSING = {name: why for why, names in _MISSING_GROUPS.items() for name in names}

#: Names dbos_lite has that DBOS Transact does not, and what to use on DBOS.
LITE_ONLY = {
    "DBOS.register_workflow": "use the `@DBOS.workflow()` decorator",
    "DBOS.register_step": "use the `@DBOS.step()` decorator",
    "StepStatus": "DBOS's `DBOS.step_status` returns an object of the same shape, whose class "
                  "is not exported",
    "DBOSMaxStepRetriesError": "the TypeScript name; DBOS has `error.DBOSMaxStepRetriesExceeded`",
    "DBOSRecordedError": "dbos_lite's stand-in for a recorded error whose class it cannot "
                         "rebuild; DBOS unpickles the original",
    "DBOSJournalError": "dbos_lite's journal failures (disk full, locked, deleted...)",
    "APPLICATION_ID": "the journal's `PRAGMA application_id`, for tools that read the file",
    "SCHEMA_VERSION": "the journal's `PRAGMA user_version`, for tools that read the file",
    "QueueRateLimit": "DBOS has the same TypedDict as `dbos._queue.QueueRateLimit`; a limiter "
                      "is a plain dict `{\"limit\": N, \"period\": seconds}` on both",
    "DBOSQueueDeduplicatedError": "DBOS has it as `dbos.error.DBOSQueueDeduplicatedError`",
    "DBOSWorkflowIDInUseError": "DBOS has it as `dbos.error.DBOSWorkflowIDInUseError`",
    "DBOS.backup": "a consistent copy of the journal while it runs (SQLite's online backup); "
                   "on Postgres, use the database's own backups",
}
ERROR_NOTE = ("on DBOS only as `error.{name}` (`from dbos import error`): "
              "`from dbos import {name}` fails")


def dbos_names():
    """Every name in ``dbos.__all__``, then every public attribute of ``DBOS`` as ``DBOS.x``."""
    import dbos

    return sorted(dbos.__all__) + sorted(f"DBOS.{n}" for n in dir(dbos.DBOS)
                                         if not n.startswith("_"))


def lite_has(lite, name):
    if name.startswith("DBOS."):
        return name[len("DBOS."):] in dir(lite.DBOS)
    return name in lite.__all__ or hasattr(lite, name)


def resolve(module, name):
    """The object a name stands for, without calling a class property."""
    if name.startswith("DBOS."):
        return inspect.getattr_static(module.DBOS, name[len("DBOS."):])
    return getattr(module, name)


def parameters(obj):
    """The names of a callable's parameters (a class's: its constructor's); None for **kwargs."""
    func = getattr(obj, "__func__", obj)
    try:
        found = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return set()
    if any(p.kind is p.VAR_KEYWORD for p in found):
        return None
    return {p.name for p in found}


def fields(obj):
    if not isinstance(obj, type):
        return set()
    try:
        return set(typing.get_type_hints(obj))
    except Exception:
        return set(getattr(obj, "__annotations__", {}))


def lacks(lite_obj, dbos_obj, lite_parameters, explained):
    """What DBOS has there and dbos_lite does not: arguments, and fields of a record (an
    attribute set from a constructor argument of the same name counts as a field)."""
    notes = []
    ignored = COMMON_ARGUMENTS | explained
    if not isinstance(lite_obj, type):
        missing = sorted((parameters(dbos_obj) or set()) - lite_parameters - ignored)
        if missing:
            notes.append("no " + ", ".join(f"`{p}`" for p in missing) + " argument"
                         + "s" * (len(missing) > 1))
    has = fields(lite_obj) | set(dir(lite_obj)) | (parameters(lite_obj) or set())
    missing = sorted(fields(dbos_obj) - has - ignored)
    if missing:
        notes.append("no " + ", ".join(f"`{f}`" for f in missing) + " field"
                     + "s" * (len(missing) > 1))
    return notes


def status(lite, dbos, name):
    base = name.removesuffix("_async")  # an `_async` twin shares its sync name's notes
    if not lite_has(lite, name):
        if base not in MISSING:
            raise SystemExit(f"compat/names.py: say in MISSING why dbos_lite has no {name}")
        return f"not in dbos_lite: {MISSING[base]}"
    notes = [DIFFERS[base]] if base in DIFFERS else []
    if name in ACCEPTED_IN_EVENT_LOOP:
        notes.append(IN_EVENT_LOOP)
    if name not in NO_FIELD_LIST:
        lite_obj = resolve(lite, name)
        lite_parameters = parameters(lite_obj)
        if lite_parameters is None:  # an `_async` twin passing **kwargs on to its sync name
            lite_parameters = parameters(resolve(lite, base)) or set()
        explained = set(re.findall(r"`(\w+)=?`", " ".join(notes)))  # a note names them
        notes += lacks(lite_obj, resolve(dbos, name), lite_parameters, explained)
    return "supported, differs: " + "; ".join(notes) if notes else "supported"


def table(names):
    sys.path.insert(0, ROOT)
    import dbos
    import dbos_lite

    def rows(selected):
        lines = ["| name | in dbos_lite |", "|---|---|"]
        for name in selected:
            lines.append(f"| `{name}` | {status(dbos_lite, dbos, name)} |")
        return lines

    lite_only = sorted(n for n in dbos_lite.__all__ if n not in names)
    lite_only += sorted(f"DBOS.{n}" for n in dir(dbos_lite.DBOS)
                        if not n.startswith("_") and f"DBOS.{n}" not in names)
    out = [
        f"# DBOS Transact {DBOS_VERSION} names in dbos_lite",
        "",
        "Generated by `compat/names.py write` from `compat/dbos_names.txt` and `dbos_lite.py`;",
        "tests/test_dbos_names.py checks it. Everywhere: values must be JSON-like (DBOS pickles",
        "them by default), errors say the same things in other words, and no call takes DBOS's",
        "`shard_key` (sharded system databases) or `serialization_type` (dbos_lite always stores",
        "msgspec JSON).",
        "",
        "## Top-level names (`dbos.__all__`)",
        "",
        *rows([n for n in names if not n.startswith("DBOS.")]),
        "",
        "## The `DBOS` class",
        "",
        *rows([n for n in names if n.startswith("DBOS.")]),
        "",
        "## In dbos_lite, not in DBOS Transact",
        "",
    ]
    for name in lite_only:
        why = LITE_ONLY.get(name) or (ERROR_NOTE.format(name=name) if hasattr(dbos.error, name)
                                      else None)
        if why is None:
            raise SystemExit(f"compat/names.py: say in LITE_ONLY what DBOS has for {name}")
        out.append(f"- `{name}`: {why}")
    return "\n".join(out) + "\n"


def main(command):
    from importlib.metadata import version

    if version("dbos") != DBOS_VERSION:
        print(f"compat/names.py lists DBOS Transact {DBOS_VERSION}; this is {version('dbos')}")
        return 1
    names = dbos_names()
    if command == "check":
        with open(NAMES) as f:
            recorded = f.read().split()
        if recorded != names:
            added = sorted(set(names) - set(recorded))
            gone = sorted(set(recorded) - set(names))
            print(f"compat/dbos_names.txt is stale: the installed dbos adds {added}, drops "
                  f"{gone}. Run `.venv-compat/bin/python compat/names.py write`.")
            return 1
        print(f"compat/dbos_names.txt: the {len(names)} names of the installed dbos")
        return 0
    if command == "write":
        with open(NAMES, "w") as f:
            f.write("\n".join(names) + "\n")
        with open(TABLE, "w") as f:
            f.write(table(names))
        print(f"wrote {NAMES} ({len(names)} names) and {TABLE}")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))
