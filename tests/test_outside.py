"""Seeing and steering workflows from outside their program (issue 15): DBOSClient and the
command line (``python -m dbos_lite``), against a journal that a program running in another
process (tests/outside_app.py) writes, and the timeline of ``workflow show``. Commands run
in this process through dbos_lite._main (the same code as ``python -m dbos_lite``; one test
runs the real module) and never launch DBOS here."""

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time

import apsw
import pytest

import dbos_lite
from conftest import journal_of_schema, wait_until
from dbos_lite import (DBOSClient, DBOSException, DBOSInitializationError,
                       DBOSNonExistentWorkflowError, SetWorkflowID)

HERE = os.path.dirname(os.path.abspath(__file__))

# DBOS Transact 3.4's keys of `dbos workflow list --json`, in its order.
DBOS_STATUS_KEYS = [
    "workflow_id", "status", "name", "recovery_attempts", "config_name", "class_name",
    "authenticated_user", "authenticated_roles", "assumed_role", "queue_name", "executor_id",
    "created_at", "updated_at", "app_version", "app_id", "workflow_deadline_epoch_ms",
    "workflow_timeout_ms", "deduplication_id", "priority", "queue_partition_key", "forked_from",
    "parent_workflow_id", "dequeued_at", "delay_until_epoch_ms", "was_forked_from",
    "completed_at", "attributes", "schedule_name", "application_name", "shard_key",
    "parent_shard_key", "input", "output", "error"]
DBOS_STEP_KEYS = ["function_id", "function_name", "output", "error", "child_workflow_id",
                  "child_shard_key", "started_at_epoch_ms", "completed_at_epoch_ms"]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """outside_app.py running on a fresh journal; its path. Stopped at the end."""
    journal = str(tmp_path_factory.mktemp("outside") / "app.sqlite")
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "outside_app.py"), journal],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.strip() == "READY", proc.stderr.read() if proc.poll() is not None else line
    yield journal
    proc.stdin.close()
    proc.wait(timeout=20)


def cli(capsys, *argv):
    """Run a command; (exit status, stdout, stderr)."""
    code = dbos_lite._main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def cli_json(capsys, *argv):
    code, out, err = cli(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def client(app):
    client = DBOSClient(system_database_url=f"sqlite:///{app}")
    yield client
    client.destroy()


# ---- the command line, on a running program's journal ----

def test_workflow_list_in_dbos_shape_and_with_its_filters(app, capsys):
    listed = cli_json(capsys, "workflow", "list", "--journal", app, "-l", "100")
    assert all(list(row) == DBOS_STATUS_KEYS for row in listed)
    by_id = {row["workflow_id"]: row for row in listed}
    assert by_id["greet-1"]["status"] == "SUCCESS"
    assert by_id["greet-1"]["output"] == "hello ada"
    assert by_id["greet-1"]["input"] == {"args": ["ada"], "kwargs": {}}
    assert by_id["greet-1"]["application_name"] == "outside-app"
    assert "it broke" in by_id["broken-1"]["error"]
    assert by_id["parent-1-1"]["parent_workflow_id"] == "parent-1"
    created = [row["created_at"] for row in listed]
    assert created == sorted(created)  # oldest first, as DBOS Transact

    errors = cli_json(capsys, "workflow", "list", "--journal", app, "-S", "ERROR")
    assert [row["workflow_id"] for row in errors] == ["broken-1"]
    named = cli_json(capsys, "workflow", "list", "--journal", app, "-n", "waiter", "-d")
    assert [row["workflow_id"] for row in named][-1] == "waiter-1"  # newest first
    assert len(cli_json(capsys, "workflow", "list", "--journal", app, "-l", "2")) == 2
    assert cli_json(capsys, "workflow", "list", "--journal", app,
                    "-t", "2999-01-01T00:00:00") == []

    code, table, _ = cli(capsys, "workflow", "list", "--journal", app)
    assert code == 0
    assert table.splitlines()[0].split() == ["WORKFLOW", "ID", "NAME", "STATUS", "CREATED",
                                             "TOOK", "QUEUE"]
    assert "greet-1" in table and "just now" in table
    assert "\x1b[" not in table  # no colour: not a terminal


def test_workflow_get_and_steps(app, capsys):
    status = cli_json(capsys, "workflow", "get", "retried-1", "--journal", app)
    assert list(status) == DBOS_STATUS_KEYS
    assert (status["status"], status["output"]) == ("SUCCESS", 40)
    steps = cli_json(capsys, "workflow", "steps", "retried-1", "--journal", app)
    assert [list(step) for step in steps] == [DBOS_STEP_KEYS]  # failed attempts add nothing
    assert (steps[0]["function_name"], steps[0]["output"]) == ("flaky", 40)
    code, table, _ = cli(capsys, "workflow", "steps", "parent-1", "--journal", app)
    assert code == 0 and "DBOS.getResult" in table and "parent-1-1" in table
    code, text, _ = cli(capsys, "workflow", "get", "broken-1", "--journal", app)
    assert code == 0 and "status:" in text and "ERROR" in text


def test_show_tells_the_story_of_a_workflow(app, capsys):
    code, text, _ = cli(capsys, "workflow", "show", "retried-1", "--journal", app)
    assert code == 0, text
    assert "Workflow retried-1 (retried)  SUCCESS" in text
    assert "attempt 1" in text and "attempt 2" in text and "attempt 3" not in text
    assert "ValueError: flaky failed, 1 failures left; retry at +" in text
    assert "Output: 40" in text

    code, text, _ = cli(capsys, "workflow", "show", "parent-1", "--journal", app)
    assert "PENDING" in text and "owner: pid" in text and "(alive)" in text
    assert "started parent-1-1 (SUCCESS)" in text
    assert "Children:\n  parent-1-1  child  SUCCESS" in text
    assert "Waiting for:\n  DBOS.recv on topic 'go' until " in text

    timeline = cli_json(capsys, "workflow", "show", "broken-1", "--journal", app)
    assert timeline["status"] == "ERROR"
    assert timeline["error"].startswith("RuntimeError: it broke")
    assert [(s["name"], s["outcome"]) for s in timeline["steps"]] == [("explode", "error")]
    assert timeline["steps"][0]["attempts"][0]["error"] == "RuntimeError: it broke"


def test_events_and_streams(app, capsys):
    assert cli_json(capsys, "events", "parent-1", "--journal", app) == {
        "progress": {"done": 1, "of": 2}}
    code, out, _ = cli(capsys, "stream", "parent-1", "out", "--journal", app)
    assert (code, out) == (0, "1\n'two'\n")


def test_send_cancel_resume_fork_and_delete(app, capsys, client):
    code, out, err = cli(capsys, "send", "parent-1", '{"n": [1, 2.5, null]}', "--topic", "go",
                         "--journal", app)
    assert code == 0, err
    assert client.retrieve_workflow("parent-1").get_result() == {"n": [1, 2.5, None]}

    assert cli(capsys, "workflow", "cancel", "waiter-1", "--journal", app)[0] == 0
    assert client.retrieve_workflow("waiter-1").get_status().status == "CANCELLED"
    code, out, _ = cli(capsys, "workflow", "resume", "waiter-1", "--journal", app)
    assert code == 0 and out.startswith("Resumed workflow waiter-1: "), out
    wait_until(lambda: client._looking().journal.list_waits("waiter-1")
               and client.retrieve_workflow("waiter-1").get_status().status == "PENDING",
               "the program taking the resumed workflow up again")
    client.send("waiter-1", "released", "hold")
    assert client.retrieve_workflow("waiter-1").get_result() == "released"

    forked = cli_json(capsys, "workflow", "fork", "greet-1", "-S", "1", "-f", "greet-fork",
                      "--journal", app)
    assert list(forked) == DBOS_STATUS_KEYS
    assert (forked["workflow_id"], forked["forked_from"]) == ("greet-fork", "greet-1")
    assert client.retrieve_workflow("greet-fork").get_result() == "hello ada"
    assert cli_json(capsys, "workflow", "get", "greet-1", "--journal", app)[
        "was_forked_from"] is True

    assert cli(capsys, "workflow", "delete", "greet-fork", "--journal", app)[0] == 0
    assert client.list_workflows(workflow_ids=["greet-fork"]) == []


def test_queues_and_a_workflow_no_process_registers(app, capsys, client):
    handle = client.enqueue({"workflow_name": "double", "queue_name": "jobs"}, 21)
    assert handle.get_result() == 42
    assert handle.get_status().queue_name == "jobs"

    stuck = client.enqueue({"workflow_name": "not_registered", "queue_name": "jobs",
                            "workflow_id": "nobody-1"}, 1)
    time.sleep(0.3)  # the program looks at its queues every 0.05 s: it leaves this one
    assert stuck.get_status().status == "ENQUEUED"
    code, table, _ = cli(capsys, "workflow", "list", "--journal", app, "-q", "jobs", "-l", "50")
    line = next(line for line in table.splitlines() if line.startswith("nobody-1"))
    assert "ENQUEUED (no live process registers workflow 'not_registered')" in line
    code, text, _ = cli(capsys, "workflow", "show", "nobody-1", "--journal", app)
    assert "in queue 'jobs', next in line" in text
    assert "no live process registers workflow 'not_registered'" in text
    queued = cli_json(capsys, "workflow", "queue", "list", "--journal", app)
    assert "nobody-1" in [row["workflow_id"] for row in queued]
    queues = cli_json(capsys, "queue", "list", "--journal", app)
    jobs = next(queue for queue in queues if queue["name"] == "jobs")
    assert jobs["waiting"] >= 1
    client.delete_workflow("nobody-1")


def test_not_found_and_bad_input_are_one_line_and_a_failing_exit(app, capsys, tmp_path):
    for argv in (["workflow", "get", "nope"], ["workflow", "steps", "nope"],
                 ["workflow", "show", "nope"], ["workflow", "cancel", "nope"],
                 ["workflow", "resume", "nope"], ["workflow", "fork", "nope"],
                 ["workflow", "delete", "nope"], ["events", "nope"], ["send", "nope", "1"],
                 ["workflow", "list", "-t", "yesterday"]):
        code, out, err = cli(capsys, *argv, "--journal", app)
        assert code == 1 and out == "", argv
        assert len(err.splitlines()) == 1 and err.startswith("dbos-lite: "), (argv, err)
        assert "Traceback" not in err
    assert "'nope' does not exist" in cli(capsys, "workflow", "get", "nope", "--journal", app)[2]
    with pytest.raises(SystemExit) as exit_:
        dbos_lite._main(["workflow", "list", "-S", "DONE", "--journal", app])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.splitlines()) == 1 and "invalid choice" in err

    missing = tmp_path / "missing.sqlite"
    code, _, err = cli(capsys, "workflow", "list", "--journal", str(missing))
    assert code == 1 and "There is no journal at" in err and not missing.exists()
    not_ours = tmp_path / "other.sqlite"
    apsw.Connection(str(not_ours)).execute("CREATE TABLE t (x)")
    code, _, err = cli(capsys, "workflow", "list", "-s", f"sqlite:///{not_ours}")
    assert code == 1 and "not a dbos_lite journal" in err
    code, _, err = cli(capsys, "workflow", "list", "-s", "postgresql://x/y")
    assert code == 1 and "Postgres" in err


def test_the_journal_is_found_from_the_environment_or_the_directory(app, capsys, tmp_path,
                                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "workflow", "list")
    assert code == 1 and "no journal found" in err
    monkeypatch.setenv("DBOS_SYSTEM_DATABASE_URL", f"sqlite:///{app}")
    assert "greet-1" in cli(capsys, "workflow", "list")[1]
    monkeypatch.delenv("DBOS_SYSTEM_DATABASE_URL")
    monkeypatch.chdir(os.path.dirname(app))
    assert "greet-1" in cli(capsys, "workflow", "list")[1]  # the one *.sqlite journal here


def test_python_dash_m_dbos_lite_is_one_module(app, tmp_path):
    run = subprocess.run([sys.executable, "-m", "dbos_lite", "workflow", "get", "greet-1",
                          "--journal", app, "--json"], capture_output=True, text=True,
                         cwd=os.path.dirname(HERE), timeout=60)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["output"] == "hello ada"
    # (`ui` serves until stopped: tests/test_live_page.py runs it.)
    # Run as __main__, the module registers itself as dbos_lite: `import dbos_lite` in code it
    # loads gets the same module (one registry), not a second copy.
    check = ("import runpy, sys; sys.argv = ['dbos-lite']\n"
             "try:\n    runpy.run_module('dbos_lite', run_name='__main__', alter_sys=True)\n"
             "except SystemExit:\n    pass\n"
             "import dbos_lite; print(dbos_lite.__name__, hasattr(dbos_lite, 'DBOS'))")
    run = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                         cwd=os.path.dirname(HERE), timeout=60)
    assert run.stdout.split()[-2:] == ["__main__", "True"], run.stderr


def test_follow_redraws_until_the_workflow_ends(app, capsys, client):
    import threading

    def release():
        time.sleep(0.4)
        client.send("waiter-2", "go on", "hold")

    sender = threading.Thread(target=release)
    sender.start()
    code, out, _ = cli(capsys, "workflow", "show", "waiter-2", "--follow", "--journal", app)
    sender.join()
    assert code == 0
    frames = out.split("-" * 40 + "\n")
    assert "PENDING" in frames[0] and "DBOS.recv on topic 'hold'" in frames[0]
    assert "SUCCESS" in frames[-1] and "Output: 'go on'" in frames[-1]


# ---- DBOSClient's calls, with DBOS Transact's semantics ----

def test_client_waits_read_and_refuse_as_dbos_does(app, client):
    with pytest.raises(DBOSNonExistentWorkflowError):
        client.retrieve_workflow("nope")
    with pytest.raises(DBOSNonExistentWorkflowError):
        client.resume_workflow("nope")
    with pytest.raises(DBOSNonExistentWorkflowError):
        client.fork_workflow("nope", 1)
    with pytest.raises(DBOSNonExistentWorkflowError):
        client.send("nope", 1)
    client.cancel_workflow("nope")  # no-ops, as in DBOS Transact
    client.delete_workflow("nope")
    assert client.list_workflow_steps("nope") == []
    with pytest.raises(ValueError):
        client.wait_first([])
    started = time.monotonic()
    assert client.get_event("greet-1", "never", timeout_seconds=0.2) is None
    assert 0.15 < time.monotonic() - started < 2
    assert client.get_event("parent-1", "progress") == {"done": 1, "of": 2}
    assert list(client.read_stream("parent-1", "out")) == [1, "two"]
    unrun = client.enqueue({"workflow_name": "not_registered", "queue_name": "jobs"})
    first = client.wait_first([unrun, client.retrieve_workflow("greet-1")])
    assert first.workflow_id == "greet-1"
    client.delete_workflow(unrun.workflow_id)
    with pytest.raises(RuntimeError, match="it broke"):
        client.retrieve_workflow("broken-1").get_result()
    steps = client.list_workflow_steps("parent-1", limit=2, offset=1)
    assert [step["function_id"] for step in steps] == [2, 3]
    with pytest.raises(DBOSException, match="not enqueued: no queue is named 'nope'"):
        client.enqueue({"workflow_name": "double", "queue_name": "nope"}, 1)
    with pytest.raises(ValueError, match="queue_name"):
        client.enqueue({"workflow_name": "double"}, 1)
    with pytest.raises(ValueError, match="Invalid priority 0"):
        client.enqueue({"workflow_name": "double", "queue_name": "jobs", "priority": 0}, 1)
    client.destroy()
    with pytest.raises(DBOSException, match="destroyed"):
        client.list_workflows()


def test_client_values_round_trip_and_results_wake_on_commits(app, client):
    values = [None, True, 3, 2.5, "text", [1, [2]], {"k": {"n": None}}]
    handles = [client.enqueue({"workflow_name": "double", "queue_name": "jobs"}, value)
               for value in ([1, 2], "ab")]
    assert [h.get_result() for h in handles] == [[1, 2, 1, 2], "abab"]
    # A message sent by the client reaches the program's recv with its exact value and types.
    for index, value in enumerate(values):
        handle = client.enqueue({"workflow_name": "waiter", "queue_name": "jobs",
                                 "workflow_id": f"echo-{index}"})
        wait_until(lambda: client._looking().journal.list_waits(handle.workflow_id),
                   "the enqueued waiter blocking in its recv")
        sent = time.monotonic()
        client.send(handle.workflow_id, value, "hold")
        result = handle.get_result()
        assert result == value and type(result) is type(value)
        assert time.monotonic() - sent < 1.0  # woken by the commit, not a poll of seconds


def test_client_async_twins(app, client):
    async def main():
        handle = await client.enqueue_async({"workflow_name": "double", "queue_name": "jobs"},
                                            5)
        assert await handle.get_result() == 10
        assert (await handle.get_status()).status == "SUCCESS"
        assert await client.get_event_async("parent-1", "progress") == {"done": 1, "of": 2}
        assert [v async for v in client.read_stream_async("parent-1", "out")] == [1, "two"]
        first = await client.wait_first_async([await client.retrieve_workflow_async("greet-1")])
        assert first.workflow_id == "greet-1"
        assert len(await client.list_workflows_async(name="greet")) == 1
        assert await client.list_workflow_steps_async("greet-1") == []

    asyncio.run(main())


# ---- looking writes nothing ----

def journal_files(path):
    """The bytes of the journal and of its -wal (the -shm is SQLite's shared memory)."""
    return {suffix: hashlib.sha256(open(path + suffix, "rb").read()).hexdigest()
            for suffix in ("", "-wal") if os.path.exists(path + suffix)}


def test_reading_commands_and_client_calls_write_nothing(app, capsys, tmp_path):
    # A copy of the program's journal, that no program writes (the running one renews its
    # lease every few seconds).
    journal = str(tmp_path / "copy.sqlite")
    assert cli(capsys, "backup", journal, "--journal", app)[0] == 0
    before = journal_files(journal)
    watcher = apsw.Connection(journal, flags=apsw.SQLITE_OPEN_READONLY)
    version = watcher.execute("PRAGMA data_version").fetchall()[0][0]
    for argv in (["workflow", "list"], ["workflow", "list", "--json", "-S", "SUCCESS"],
                 ["workflow", "get", "greet-1"], ["workflow", "steps", "parent-1", "--json"],
                 ["workflow", "show", "parent-1"], ["workflow", "show", "retried-1", "--json"],
                 ["workflow", "queue", "list"], ["queue", "list"], ["events", "parent-1"],
                 ["stream", "parent-1", "out"], ["backup", str(tmp_path / "again.sqlite")],
                 ["schedule", "list"], ["schedule", "list", "--json", "-S", "ACTIVE"],
                 ["schedule", "get", "nightly"], ["schedule", "get", "nightly", "--json"]):
        code, _, err = cli(capsys, *argv, "--journal", journal)
        assert code == 0, (argv, err)
    client = DBOSClient(system_database_url=f"sqlite:///{journal}")
    client.list_workflows()
    client.list_queued_workflows()
    client.list_workflow_steps("parent-1")
    client.retrieve_workflow("greet-1").get_result()
    client.get_event("parent-1", "progress")
    list(client.read_stream("parent-1", "out"))
    assert "nightly" in [s["schedule_name"] for s in client.list_schedules()]
    assert client.get_schedule("nightly")["status"] == "ACTIVE"
    assert client.get_schedule("nope") is None
    assert asyncio.run(client.list_schedules_async(status="PAUSED")) == []
    client.destroy()
    assert watcher.execute("PRAGMA data_version").fetchall()[0][0] == version
    watcher.close()
    assert journal_files(journal) == before


def test_client_queue_calls(app, client):
    queue = client.register_queue("client-made", worker_concurrency=2,
                                  limiter={"limit": 5, "period": 2})
    assert (queue.worker_concurrency, queue.limiter) == (2, {"limit": 5, "period": 2.0})
    queue.set_worker_concurrency(3)
    assert client.retrieve_queue("client-made").worker_concurrency == 3
    assert "client-made" in [q.name for q in client.list_queues()]
    assert "_dbos_internal_queue" not in [q.name for q in client.list_queues()]
    with pytest.raises(DBOSException, match="client-bound Queue"):
        queue.enqueue(print)
    with pytest.raises(DBOSException, match="update_if_latest_version"):
        client.register_queue("client-made", on_conflict="update_if_latest_version")
    kept = client.register_queue("client-made", on_conflict="never_update")
    assert kept.worker_concurrency == 3
    handle = client.enqueue({"workflow_name": "double", "queue_name": "client-made"}, 4)
    assert handle.get_result() == 8  # the program works every queue of its journal
    client.delete_queue("client-made")
    assert client.retrieve_queue("client-made") is None
    assert asyncio.run(client.retrieve_queue_async("jobs")).name == "jobs"


# ---- schedules from outside: DBOSClient's schedule calls and `schedule ...` ----

# DBOS Transact 3.4's keys of a WorkflowSchedule, in its order.
DBOS_SCHEDULE_KEYS = [
    "schedule_id", "schedule_name", "workflow_name", "workflow_class_name", "schedule",
    "status", "context", "last_fired_at", "automatic_backfill", "cron_timezone", "queue_name",
    "application_name", "shard_key"]


def runs_of(client, schedule_name):
    return client.list_workflows(workflow_id_prefix=f"sched-{schedule_name}-")


def test_client_creates_a_schedule_that_the_program_fires(app, client):
    nightly = client.get_schedule("nightly")  # created by the program
    assert list(nightly) == DBOS_SCHEDULE_KEYS
    assert (nightly["workflow_name"], nightly["schedule"], nightly["cron_timezone"],
            nightly["context"], nightly["application_name"], nightly["last_fired_at"]) == (
        "tick", "0 3 * * *", "Europe/Paris", {"report": "daily"}, "outside-app", None)

    client.create_schedule(schedule_name="client-tick", workflow_name="tick",
                           schedule="* * * * * *", context=[1, "x"])
    made = client.get_schedule("client-tick")
    assert (made["status"], made["context"], made["queue_name"], made["cron_timezone"]) == (
        "ACTIVE", [1, "x"], None, None)
    wait_until(lambda: any(r.status == "SUCCESS" for r in runs_of(client, "client-tick")),
               "the program running a time of the schedule the client created")
    run = next(r for r in runs_of(client, "client-tick") if r.status == "SUCCESS")
    assert run.output == f"[1, 'x'] at {run.workflow_id[len('sched-client-tick-'):]}"
    assert run.queue_name == "_dbos_internal_queue" and run.executor_id is not None
    wait_until(lambda: client.get_schedule("client-tick")["last_fired_at"] is not None,
               "last_fired_at advancing")

    client.pause_schedule("client-tick")
    assert client.get_schedule("client-tick")["status"] == "PAUSED"
    count = len(runs_of(client, "client-tick"))  # a fire after the pause is refused
    time.sleep(1.5)
    assert len(runs_of(client, "client-tick")) == count  # paused: no time fires
    client.resume_schedule("client-tick")
    wait_until(lambda: len(runs_of(client, "client-tick")) > count, "a fire after resume")

    client.delete_schedule("client-tick")
    assert client.get_schedule("client-tick") is None
    count = len(runs_of(client, "client-tick"))
    assert count > 0  # the runs stay
    time.sleep(1.2)
    assert len(runs_of(client, "client-tick")) == count  # deleted: no time fires


def test_client_create_refuses_as_dbos_does_and_writes_nothing(app, client):
    before = client.list_schedules()
    refusals = [
        (dict(schedule="not a cron"), "Invalid cron schedule: 'not a cron'"),
        (dict(schedule="0 0 30 2 *"), "Invalid cron schedule: '0 0 30 2 \\*'"),
        (dict(cron_timezone="Mars/Olympus"), "Invalid timezone: 'Mars/Olympus'"),
        (dict(queue_name="nope"), "Queue 'nope' is not declared"),
        (dict(shard_key="s1"), "no shards"),
        (dict(application_name="other-app"), "belongs to application 'outside-app'"),
        (dict(workflow_name=""), "workflow_name must name a workflow"),
        (dict(schedule_name="nightly"), "Schedule 'nightly' already exists"),
    ]
    for change, message in refusals:
        settings = {"schedule_name": "refused", "workflow_name": "tick",
                    "schedule": "* * * * *", **change}
        with pytest.raises(DBOSException, match=message):
            client.create_schedule(**settings)
    assert client.list_schedules() == before
    assert client.get_schedule("refused") is None


def test_client_trigger_backfill_and_unknown_names(app, client):
    handle = client.trigger_schedule("nightly")
    assert handle.workflow_id.startswith("sched-nightly-trigger-")
    assert handle.get_result().startswith("{'report': 'daily'} at ")  # run by the program
    assert handle.get_status().schedule_name == "nightly"
    assert client.get_schedule("nightly")["last_fired_at"] is None  # as DBOS: not a live fire

    import datetime
    start, end = datetime.datetime(2026, 1, 1), datetime.datetime(2026, 1, 4)  # naive: UTC
    handles = client.backfill_schedule("nightly", start, end)
    assert [h.workflow_id for h in handles] == [
        f"sched-nightly-2026-01-0{day}T03:00:00+01:00" for day in (1, 2, 3)]
    assert [h.get_result() for h in handles] == [
        f"{{'report': 'daily'}} at 2026-01-0{day}T03:00:00+01:00" for day in (1, 2, 3)]
    again = client.backfill_schedule("nightly", start, end + datetime.timedelta(days=1))
    assert len(again) == 4 and again[-1].get_result().endswith("2026-01-04T03:00:00+01:00")
    assert len(runs_of(client, "nightly-2026-01")) == 4  # each time once
    assert client.backfill_schedule("nightly", end, start) == []

    for call in (lambda: client.trigger_schedule("nope"),
                 lambda: client.backfill_schedule("nope", start, end)):
        with pytest.raises(DBOSException, match="Schedule 'nope' does not exist"):
            call()
    with pytest.raises(ValueError, match="start must be a datetime"):
        client.backfill_schedule("nightly", "2026-01-01", end)
    client.pause_schedule("nope")  # no-ops, as in DBOS Transact
    client.resume_schedule("nope")
    client.delete_schedule("nope")
    assert client.get_schedule("nope") is None


def test_client_apply_and_list_schedules(app, client):
    nightly = client.get_schedule("nightly")
    client.pause_schedule("nightly")
    with pytest.raises(DBOSException, match="Schedule entry 1 is missing required field "
                                            "'workflow_name'"):
        client.apply_schedules([{"schedule_name": "a1", "workflow_name": "tick",
                                 "schedule": "0 4 * * *"},
                                {"schedule_name": "a2", "schedule": "0 4 * * *"}])
    with pytest.raises(DBOSException, match="Invalid timezone"):  # all or none
        client.apply_schedules([{"schedule_name": "a1", "workflow_name": "tick",
                                 "schedule": "0 4 * * *"},
                                {"schedule_name": "a2", "workflow_name": "tick",
                                 "schedule": "0 4 * * *", "cron_timezone": "Nowhere/Land"}])
    assert client.get_schedule("a1") is None
    client.apply_schedules([
        {"schedule_name": "nightly", "workflow_name": "tick", "schedule": "30 2 * * *",
         "context": "changed", "cron_timezone": "Europe/Paris"},
        {"schedule_name": "apply-new", "workflow_name": "tick", "schedule": "0 4 * * *",
         "queue_name": "jobs", "automatic_backfill": True}])
    changed = client.get_schedule("nightly")
    assert (changed["schedule"], changed["context"]) == ("30 2 * * *", "changed")
    assert (changed["schedule_id"], changed["status"]) == (nightly["schedule_id"], "PAUSED")
    new = client.get_schedule("apply-new")
    assert (new["queue_name"], new["automatic_backfill"], new["status"]) == (
        "jobs", True, "ACTIVE")

    def names(**filters):
        return [s["schedule_name"] for s in client.list_schedules(**filters)]

    assert names(status="PAUSED") == ["nightly"]
    assert "apply-new" in names(status=["ACTIVE"]) and "nightly" not in names(status="ACTIVE")
    assert names(schedule_name_prefix=["apply-", "night"]) == ["nightly", "apply-new"]
    assert names(workflow_name="double") == []
    assert names(application_name="outside-app", schedule_name_prefix="apply") == ["apply-new"]
    assert names(application_name=["other"]) == []
    with pytest.raises(ValueError, match="status must be a string or a list"):
        client.list_schedules(status=3)

    client.apply_schedules([{"schedule_name": "nightly", "workflow_name": "tick",
                             "schedule": "0 3 * * *", "context": {"report": "daily"},
                             "cron_timezone": "Europe/Paris"}])
    client.resume_schedule("nightly")
    client.delete_schedule("apply-new")
    assert client.get_schedule("nightly") == {**nightly, "status": "ACTIVE"}


def test_client_schedule_async_twins(app, client):
    async def main():
        await client.create_schedule_async(schedule_name="async-made", workflow_name="tick",
                                           schedule="0 5 * * *", context=None)
        assert (await client.get_schedule_async("async-made"))["schedule"] == "0 5 * * *"
        await client.apply_schedules_async([{"schedule_name": "async-made",
                                             "workflow_name": "tick", "schedule": "0 6 * * *"}])
        listed = await client.list_schedules_async(schedule_name_prefix="async-")
        assert [s["schedule"] for s in listed] == ["0 6 * * *"]
        await client.delete_schedule_async("async-made")
        assert await client.get_schedule_async("async-made") is None

    asyncio.run(main())


def test_a_schedule_of_a_workflow_no_process_registers_says_so(app, capsys, client):
    client.create_schedule(schedule_name="orphan", workflow_name="not_registered",
                           schedule="* * * * * *")
    wait_until(lambda: runs_of(client, "orphan"), "the program firing the orphan schedule")
    code, table, _ = cli(capsys, "schedule", "list", "--journal", app)
    line = next(line for line in table.splitlines() if line.startswith("orphan"))
    assert "ACTIVE (no live process registers workflow 'not_registered')" in line
    run = runs_of(client, "orphan")[0]
    assert run.status == "ENQUEUED"
    code, table, _ = cli(capsys, "workflow", "list", "--journal", app, "-n", "not_registered")
    line = next(line for line in table.splitlines() if line.startswith(run.workflow_id))
    assert "ENQUEUED (no live process registers workflow 'not_registered')" in line
    code, text, _ = cli(capsys, "workflow", "show", run.workflow_id, "--journal", app)
    assert "no live process registers workflow 'not_registered'" in text
    client.delete_schedule("orphan")  # from its commit on, no process fires it
    client.delete_workflows([r.workflow_id for r in runs_of(client, "orphan")])


def test_schedule_commands(app, capsys, client):
    code, table, _ = cli(capsys, "schedule", "list", "--journal", app)
    assert code == 0
    lines = table.splitlines()
    assert lines[0].split() == ["SCHEDULE", "WORKFLOW", "CRON", "ZONE", "STATUS", "LAST",
                                "FIRED", "NEXT", "QUEUE"]
    nightly = next(line for line in lines if line.startswith("nightly"))
    assert nightly.split()[1:6] == ["tick", "0", "3", "*", "*"]
    assert "Europe/Paris" in nightly and "ACTIVE" in nightly and "never" in nightly
    assert " in " in nightly  # the next time, relative: within a day
    listed = cli_json(capsys, "schedule", "list", "--journal", app)
    assert [list(s) for s in listed if s["schedule_name"] == "nightly"] == [DBOS_SCHEDULE_KEYS]
    assert cli_json(capsys, "schedule", "list", "--journal", app, "-S", "PAUSED") == []
    assert [s["schedule_name"] for s in cli_json(
        capsys, "schedule", "list", "--journal", app, "-p", "night", "-n", "tick")] == [
        "nightly"]
    code, out, _ = cli(capsys, "schedule", "list", "--journal", app, "-p", "zzz")
    assert (code, out) == (0, "No schedule matches.\n")

    code, text, _ = cli(capsys, "schedule", "get", "nightly", "--journal", app)
    assert code == 0 and "context:               {'report': 'daily'}" in text
    assert "next time:             20" in text and "T03:00:00+0" in text
    assert cli_json(capsys, "schedule", "get", "nightly", "--journal", app) == \
        client.get_schedule("nightly")

    code, out, _ = cli(capsys, "schedule", "pause", "nightly", "--journal", app)
    assert (code, out) == (0, "Paused schedule 'nightly': no program fires it until "
                              "'dbos-lite schedule resume nightly'.\n")
    assert client.get_schedule("nightly")["status"] == "PAUSED"
    code, out, _ = cli(capsys, "schedule", "pause", "nightly", "--journal", app)
    assert out == "Schedule 'nightly' is PAUSED already: left as it is.\n"
    code, table, _ = cli(capsys, "schedule", "list", "--journal", app)
    assert "PAUSED" in table and "- (paused)" in table
    code, out, _ = cli(capsys, "schedule", "resume", "nightly", "--journal", app)
    assert code == 0 and out.startswith("Resumed schedule 'nightly': it fires next at 20")
    assert client.get_schedule("nightly")["status"] == "ACTIVE"

    code, out, _ = cli(capsys, "schedule", "trigger", "nightly", "--journal", app)
    assert code == 0 and out.startswith("Triggered schedule 'nightly': workflow "
                                        "sched-nightly-trigger-20")
    workflow_id = out.split()[4]
    assert client.retrieve_workflow(workflow_id).get_result().startswith("{'report'")
    status = cli_json(capsys, "schedule", "trigger", "nightly", "--journal", app)
    assert list(status) == DBOS_STATUS_KEYS and status["schedule_name"] == "nightly"

    code, out, _ = cli(capsys, "schedule", "backfill", "nightly", "2025-03-01",
                       "2025-03-03T12:00:00+01:00", "--journal", app)
    assert out == ("Backfilled schedule 'nightly' between 2025-03-01T00:00:00+00:00 and "
                   "2025-03-03T12:00:00+01:00: 3 times enqueued, 0 already existed.\n")
    done = cli_json(capsys, "schedule", "backfill", "nightly", "2025-03-02",
                    "2025-03-05", "--journal", app)
    assert done["workflow_ids"] == [f"sched-nightly-2025-03-0{d}T03:00:00+01:00"
                                    for d in (2, 3, 4)]
    assert (len(done["enqueued"]), len(done["existed"])) == (1, 2)
    code, out, _ = cli(capsys, "schedule", "backfill", "nightly", "2025-03-01T03:00:00",
                       "2025-03-01T04:00:00", "--journal", app)
    assert code == 0 and "has no time strictly between" in out

    client.create_schedule(schedule_name="to-delete", workflow_name="tick",
                           schedule="0 0 1 1 *")
    code, out, _ = cli(capsys, "schedule", "delete", "to-delete", "--journal", app)
    assert (code, out) == (0, "Deleted schedule 'to-delete'; its runs stay in the journal.\n")
    assert client.get_schedule("to-delete") is None


def test_schedule_commands_not_found_and_bad_input(app, capsys):
    for argv in (["get", "nope"], ["pause", "nope"], ["resume", "nope"], ["trigger", "nope"],
                 ["delete", "nope"], ["backfill", "nope", "2026-01-01", "2026-01-02"]):
        code, out, err = cli(capsys, "schedule", *argv, "--journal", app)
        assert (code, out) == (1, ""), argv
        assert err == ("dbos-lite: Schedule 'nope' does not exist in this journal; "
                       "'dbos-lite schedule list' shows the schedules it has.\n"), argv
    for start, end, message in (
            ("yesterday", "2026-01-02", "START 'yesterday' is not an ISO 8601 time"),
            ("2026-01-01", "2026-13-01", "END '2026-13-01' is not an ISO 8601 time"),
            ("2026-01-02", "2026-01-01", "END '2026-01-01' is not after START '2026-01-02'")):
        code, out, err = cli(capsys, "schedule", "backfill", "nightly", start, end,
                             "--journal", app)
        assert (code, out) == (1, "") and err.startswith(f"dbos-lite: {message}"), err
        assert len(err.splitlines()) == 1 and "Traceback" not in err
    with pytest.raises(SystemExit) as exit_:
        dbos_lite._main(["schedule", "list", "-S", "RUNNING", "--journal", app])
    assert exit_.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_schedules_on_a_journal_older_than_schedules(tmp_path, capsys):
    path = str(tmp_path / "old.sqlite")
    journal_of_schema(path, 6)
    code, out, _ = cli(capsys, "schedule", "list", "--journal", path)
    assert (code, out) == (0, "No schedule in this journal (a program creates them with "
                              "DBOS.create_schedule).\n")
    code, _, err = cli(capsys, "schedule", "get", "x", "--journal", path)
    assert code == 1 and "does not exist" in err
    client = DBOSClient(system_database_url=f"sqlite:///{path}")
    assert client.list_schedules() == [] and client.get_schedule("x") is None
    with pytest.raises(DBOSInitializationError, match="schema 6, older than this dbos_lite"):
        client.create_schedule(schedule_name="x", workflow_name="w", schedule="* * * * *")
    client.destroy()
    assert apsw.Connection(path).execute("PRAGMA user_version").fetchall() == [(6,)]
