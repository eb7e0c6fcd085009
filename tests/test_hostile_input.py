"""Hostile input: ids, names, topics and keys with quotes, SQL, NUL bytes, 100,000 characters
or any Unicode; 10 MB payloads; values nested thousands deep; values JSON cannot carry; and a
journal row crafted to name a module whose import has side effects.

The rule for every input: it works end to end (recorded, replayed, listed, filtered), or it is
refused with a clear error (DBOSException, ValueError or TypeError with a message) BEFORE
anything is recorded. Either way no table is damaged: after each test the journal passes
``PRAGMA integrity_check`` and has all its tables. Strings with quotes, SQL and non-ASCII text
have no reason to be refused: they must work. A NUL byte, a lone surrogate and 100,000
characters may be refused.

The journal is read with the stdlib ``sqlite3`` module only after ``DBOS.destroy()``: two SQLite
libraries in one process do not see each other's POSIX locks."""

import hashlib
import math
import os
import sqlite3
import subprocess
import sys
import threading
import uuid

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import dbos_lite
from dbos_lite import DBOS, DBOSException, DBOSRecordedError, SetWorkflowID
from harness import call_with_id, within

TABLES = {"workflow_status", "operation_outputs", "processes", "notifications", "message_keys",
          "workflow_events", "streams"}

HOSTILE = [
    ("quotes", "it's a \"quoted\" 'string' with `backticks` and \\backslashes\\"),
    ("sql", "'; DROP TABLE workflow_status; --"),
    ("sql-double-quote", '"); DELETE FROM operation_outputs; DROP TABLE streams; --'),
    ("non-ascii", "emoji 🎉🧪👩\u200d💻 RTL \u202eمرحبا עברית\u202c combining e\u0301 a\u0308\u0323"
                  " CJK 漢字 zero-width \u200b\ufeff"),
    ("nul", "before\x00after"),
    ("100k-chars", ("long-é-" * 14_286)[:100_000]),
    ("lone-surrogate", "half \ud800 pair"),
]
MAY_REFUSE = {"nul", "100k-chars", "lone-surrogate"}
HOSTILE_PARAMS = [pytest.param(label, text, id=label) for label, text in HOSTILE]


# ---- Helpers --------------------------------------------------------------------------------


def relaunch(config, register):
    """A fresh DBOS on the same journal, as a restarted program."""
    DBOS.destroy(destroy_registry=True)
    DBOS(config=config)
    registered = register()
    DBOS.launch()
    return registered


def assert_clear_refusal(label, exc):
    """``exc`` refused a hostile input clearly, and that input may be refused."""
    journal_error = getattr(dbos_lite, "DBOSJournalError", ())
    assert label in MAY_REFUSE, f"{label!r} input was refused: {type(exc).__name__}: {exc}"
    assert isinstance(exc, (DBOSException, ValueError, TypeError)), \
        f"unclear refusal: {type(exc).__name__}: {exc!r}"
    assert not isinstance(exc, journal_error), f"a refusal is not a journal failure: {exc}"
    assert len(str(exc)) >= 20, f"the refusal does not say why: {exc!r}"


def journal_rows(path) -> dict:
    """Every table's rows, read with the stdlib sqlite3 module (after DBOS.destroy())."""
    conn = sqlite3.connect(path)
    conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type='table'"
                                            " AND name NOT LIKE 'sqlite_%'")]
        return {name: conn.execute(f'SELECT * FROM "{name}"').fetchall() for name in names}
    finally:
        conn.close()


def assert_journal_intact(path) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type='table'")}
        assert TABLES <= tables, f"missing tables: {TABLES - tables}"
    finally:
        conn.close()


def rows_containing(path, text, tables=None) -> list:
    """(table, row) for each row of ``tables`` (all by default) with a text value containing
    ``text``."""
    found = []
    for table, rows in journal_rows(path).items():
        if tables is not None and table not in tables:
            continue
        for row in rows:
            if any(isinstance(v, str) and text in v for v in row):
                found.append((table, row))
    return found


def finish_and_check_journal(path):
    """Close DBOS and check the journal is intact; its rows."""
    DBOS.destroy(destroy_registry=True)
    assert_journal_intact(path)
    return journal_rows(path)


# ---- Hostile workflow ids -------------------------------------------------------------------


def register_id_app(runs):
    @DBOS.step(name="double")
    def double(x: int) -> int:
        runs.append(x)
        return 2 * x

    @DBOS.workflow(name="hostile_id")
    def hostile_id(x: int) -> int:
        DBOS.set_event("e", x)
        DBOS.write_stream("s", x)
        DBOS.close_stream("s")
        extra = DBOS.recv("t", timeout_seconds=20)
        return double(x) + extra

    @DBOS.workflow(name="reader")
    def reader(target: str) -> list:
        return [DBOS.get_event(target, "e", timeout_seconds=5),
                list(DBOS.read_stream(target, "s"))]

    return hostile_id, reader


@pytest.mark.parametrize("label, text", HOSTILE_PARAMS)
def test_hostile_workflow_id_works_end_to_end_or_is_refused_before_recording(
        dbos, config, journal_path, label, text):
    workflow_id = "wf-" + text
    runs = []
    hostile_id, reader = register_id_app(runs)
    DBOS.launch()
    with SetWorkflowID("wf-decoy"):
        decoy = DBOS.start_workflow(hostile_id, 1)
    DBOS.send("wf-decoy", 0, "t")
    assert decoy.get_result() == 2

    try:
        with SetWorkflowID(workflow_id):
            handle = DBOS.start_workflow(hostile_id, 21)
    except Exception as exc:
        assert_clear_refusal(label, exc)
        finish_and_check_journal(journal_path)
        assert rows_containing(journal_path, text) == []
        return
    assert handle.get_workflow_id() == workflow_id
    DBOS.send(workflow_id, 0, "t")
    assert within(20, handle.get_result) == 42

    status = DBOS.get_workflow_status(workflow_id)
    assert status.workflow_id == workflow_id and status.status == "SUCCESS"
    assert status.input == {"args": (21,), "kwargs": {}} and status.output == 42
    assert [s.workflow_id for s in DBOS.list_workflows(workflow_ids=[workflow_id])] == [
        workflow_id]
    by_prefix = {s.workflow_id for s in DBOS.list_workflows(workflow_id_prefix=workflow_id)}
    assert by_prefix == {workflow_id}, "filtering by the id itself as prefix"
    half = "wf-" + text[: max(1, len(text) // 2)]
    assert workflow_id in {s.workflow_id for s in DBOS.list_workflows(workflow_id_prefix=half)}
    steps = DBOS.list_workflow_steps(workflow_id)
    assert {s["function_name"] for s in steps} >= {
        "DBOS.setEvent", "DBOS.writeStream", "DBOS.closeStream", "DBOS.recv", "double"}
    assert DBOS.get_event(workflow_id, "e", timeout_seconds=0) == 21
    assert DBOS.get_all_events(workflow_id) == {"e": 21}
    assert list(DBOS.read_stream(workflow_id, "s")) == [21]
    with SetWorkflowID("reader"):
        assert reader(workflow_id) == [21, [21]]
    assert call_with_id(workflow_id, hostile_id, 21) == 42  # recorded: not run again
    assert DBOS.retrieve_workflow(workflow_id).get_result() == 42
    assert runs == [1, 21]

    hostile_id, reader = relaunch(config, lambda: register_id_app(runs))
    assert call_with_id(workflow_id, hostile_id, 21) == 42
    assert DBOS.get_workflow_status(workflow_id).workflow_id == workflow_id
    assert runs == [1, 21]
    rows = finish_and_check_journal(journal_path)
    assert sorted(r[0] for r in rows["workflow_status"]) == sorted(
        ["wf-decoy", workflow_id, "reader"])


@pytest.mark.parametrize("label, text", HOSTILE_PARAMS)
def test_hostile_executor_id_and_application_version_and_list_filters(config, journal_path,
                                                                      label, text):
    """Hostile strings as configured executor id and application version (recorded with every
    workflow), and as every string filter of list_workflows."""
    DBOS.destroy(destroy_registry=True)
    try:
        DBOS(config={**config, "executor_id": "exec-" + text,
                     "application_version": "v-" + text})

        @DBOS.workflow(name="plain")
        def plain() -> str:
            return "plain"

        DBOS.launch()
        with SetWorkflowID("w"):
            assert plain() == "plain"
    except Exception as exc:
        assert_clear_refusal(label, exc)
        finish_and_check_journal(journal_path)
        assert rows_containing(journal_path, text) == []
        return
    try:
        assert [s.workflow_id for s in DBOS.list_workflows(executor_id="exec-" + text)] == ["w"]
        assert [s.workflow_id for s in DBOS.list_workflows(app_version="v-" + text)] == ["w"]
        status = DBOS.get_workflow_status("w")
        assert status.executor_id == "exec-" + text and status.app_version == "v-" + text
        assert DBOS.executor_id == "exec-" + text
        for name in ("app_version", "executor_id", "parent_workflow_id", "queue_name",
                     "forked_from", "workflow_id_prefix"):
            try:
                found = DBOS.list_workflows(**{name: text})
            except Exception as exc:  # a filter may refuse what cannot be recorded
                assert_clear_refusal(label, exc)
                continue
            assert found == [], name
        for name in ("workflow_ids", "name", "status"):
            try:
                assert DBOS.list_workflows(**{name: [text]}) == [], name
            except Exception as exc:
                assert_clear_refusal(label, exc)
    finally:
        finish_and_check_journal(journal_path)


# ---- Hostile workflow and step names --------------------------------------------------------


class Interrupted(BaseException):
    """Stops a workflow body without an outcome, as a crash would: it stays PENDING."""


def register_named_app(workflow_name, step_name, state):
    @DBOS.step(name=step_name)
    def named_step(x: int) -> int:
        state["step_runs"] += 1
        return x + 1

    @DBOS.workflow(name=workflow_name)
    def named_workflow(x: int) -> int:
        value = named_step(x)
        if state["interrupt"]:
            state["interrupt"] = False
            raise Interrupted()
        return value * 10

    @DBOS.workflow(name="plain")
    def plain() -> str:
        return "plain"

    return named_workflow, plain


@pytest.mark.parametrize("part", ["workflow-name", "step-name"])
@pytest.mark.parametrize("label, text", HOSTILE_PARAMS)
def test_hostile_workflow_and_step_names_work_end_to_end_or_are_refused_before_recording(
        dbos, config, journal_path, label, text, part):
    workflow_name = "wf-" + text if part == "workflow-name" else "named_workflow"
    step_name = "step-" + text if part == "step-name" else "named_step"
    state = {"step_runs": 0, "interrupt": True}

    def register():
        return register_named_app(workflow_name, step_name, state)

    try:
        named_workflow, plain = register()
        DBOS.launch()
        with SetWorkflowID("plain"):
            plain()
        with SetWorkflowID("named"):
            with pytest.raises(Interrupted):
                named_workflow(4)  # the step is recorded, the workflow is left PENDING
    except Exception as exc:
        assert_clear_refusal(label, exc)
        if not os.path.exists(journal_path):
            return  # refused when the function was registered, before anything was opened
        rows = finish_and_check_journal(journal_path)
        assert [r for r in rows["operation_outputs"] if r[2] == step_name] == []
        named = [r for r in rows["workflow_status"] if r[2] == workflow_name]
        if part == "workflow-name":
            assert named == []
        else:  # refused when the step was called: the workflow ended with that error
            assert [r[1] for r in named] in ([], ["ERROR"]), named
        return

    # A new process recovers the PENDING workflow by its (hostile) name and replays the step
    # by its (hostile) name.
    named_workflow, plain = relaunch(config, register)
    handle = DBOS.retrieve_workflow("named")
    assert within(20, handle.get_result) == 50
    assert state["step_runs"] == 1
    status = DBOS.get_workflow_status("named")
    assert status.name == workflow_name and status.status == "SUCCESS"
    assert status.recovery_attempts == 1  # a clean restart: not counted as a crash recovery
    assert [s.workflow_id for s in DBOS.list_workflows(name=workflow_name)] == ["named"]
    assert sorted(s.workflow_id for s in DBOS.list_workflows(name=[workflow_name, "plain"])) == [
        "named", "plain"]
    assert [s["function_name"] for s in DBOS.list_workflow_steps("named")] == [step_name]
    assert call_with_id("named", named_workflow, 4) == 50
    with SetWorkflowID("second"):
        assert named_workflow(1) == 20
    assert state["step_runs"] == 2
    rows = finish_and_check_journal(journal_path)
    assert sorted(r[0] for r in rows["workflow_status"] if r[2] == workflow_name) == [
        "named", "second"]


# ---- Hostile topics, event keys and stream keys ---------------------------------------------


@pytest.mark.parametrize("label, text", HOSTILE_PARAMS)
def test_hostile_topic_and_idempotency_key_work_end_to_end_or_are_refused_before_recording(
        dbos, journal_path, label, text):
    topic = "topic-" + text

    @DBOS.workflow(name="receiver")
    def receiver() -> list:
        first = DBOS.recv(topic, timeout_seconds=20)
        second = DBOS.recv(topic, timeout_seconds=0.3)  # the duplicate send was a no-op
        other = DBOS.recv("other", timeout_seconds=5)
        return [first, second, other]

    @DBOS.workflow(name="sender")
    def sender(destination: str) -> None:
        DBOS.send(destination, "from a workflow", topic)

    @DBOS.workflow(name="receiver2")
    def receiver2() -> str:
        return DBOS.recv(topic, timeout_seconds=20)

    DBOS.launch()
    with SetWorkflowID("receiver"):
        handle = DBOS.start_workflow(receiver)
    try:
        DBOS.send("receiver", "hello", topic, idempotency_key="key-" + text)
    except Exception as exc:
        assert_clear_refusal(label, exc)
        DBOS.cancel_workflow("receiver")
        rows = finish_and_check_journal(journal_path)
        assert rows["notifications"] == [] and rows["message_keys"] == []
        return
    DBOS.send("receiver", "hello again", topic, idempotency_key="key-" + text)  # a no-op
    DBOS.send("receiver", "elsewhere", "other")
    assert within(20, handle.get_result) == ["hello", None, "elsewhere"]
    recv_outputs = [s["output"] for s in DBOS.list_workflow_steps("receiver")
                    if s["function_name"] == "DBOS.recv"]
    assert recv_outputs == ["hello", None, "elsewhere"]

    with SetWorkflowID("receiver2"):
        handle2 = DBOS.start_workflow(receiver2)
    with SetWorkflowID("sender"):
        sender("receiver2")  # a send recorded in a workflow, to the hostile topic
    assert within(20, handle2.get_result) == "from a workflow"
    rows = finish_and_check_journal(journal_path)
    assert rows["notifications"] == []
    assert [r[1] for r in rows["message_keys"]] == ["key-" + text]


@pytest.mark.parametrize("label, text", HOSTILE_PARAMS)
def test_hostile_event_key_works_end_to_end_or_is_refused_before_recording(
        dbos, config, journal_path, label, text):
    key = "key-" + text
    seen = []

    def register():
        @DBOS.workflow(name="publisher")
        def publisher() -> str:
            try:
                DBOS.set_event(key, {"value": 1})
            except Exception as exc:
                seen.append(exc)
                return "refused"
            DBOS.set_event("plain", 2)
            return "published"

        @DBOS.workflow(name="subscriber")
        def subscriber() -> dict:
            return DBOS.get_event("publisher", key, timeout_seconds=5)

        return publisher, subscriber

    publisher, subscriber = register()
    DBOS.launch()
    outcome = call_with_id("publisher", publisher)
    if outcome == "refused":
        assert_clear_refusal(label, seen[0])
        assert DBOS.get_all_events("publisher") == {}
        assert [s["function_name"] for s in DBOS.list_workflow_steps("publisher")] == []
        rows = finish_and_check_journal(journal_path)
        assert rows["workflow_events"] == []
        return
    assert DBOS.get_event("publisher", key, timeout_seconds=0) == {"value": 1}
    assert DBOS.get_all_events("publisher") == {key: {"value": 1}, "plain": 2}
    with SetWorkflowID("subscriber"):
        assert subscriber() == {"value": 1}
    publisher, subscriber = relaunch(config, register)
    with SetWorkflowID("subscriber"):
        assert subscriber() == {"value": 1}  # replayed
    assert DBOS.get_event("publisher", key, timeout_seconds=0) == {"value": 1}
    rows = finish_and_check_journal(journal_path)
    assert sorted(r[1] for r in rows["workflow_events"]) == sorted([key, "plain"])


@pytest.mark.parametrize("label, text", HOSTILE_PARAMS)
def test_hostile_stream_key_works_end_to_end_or_is_refused_before_recording(
        dbos, journal_path, label, text):
    key = "stream-" + text
    seen = []

    @DBOS.workflow(name="writer")
    def writer() -> str:
        try:
            DBOS.write_stream(key, "one")
        except Exception as exc:
            seen.append(exc)
            return "refused"
        DBOS.write_stream(key, {"two": 2})
        DBOS.close_stream(key)
        DBOS.write_stream("plain", "p")
        return "written"

    @DBOS.workflow(name="stream_reader")
    def stream_reader() -> list:
        return list(DBOS.read_stream("writer", key))

    DBOS.launch()
    outcome = call_with_id("writer", writer)
    if outcome == "refused":
        assert_clear_refusal(label, seen[0])
        rows = finish_and_check_journal(journal_path)
        assert rows["streams"] == []
        return
    assert list(DBOS.read_stream("writer", key)) == ["one", {"two": 2}]
    assert list(DBOS.read_stream("writer", "plain")) == ["p"]
    assert list(DBOS.read_stream("writer", "stream-other")) == []
    with SetWorkflowID("stream_reader"):
        assert stream_reader() == ["one", {"two": 2}]
    with SetWorkflowID("stream_reader"):
        assert stream_reader() == ["one", {"two": 2}]  # replayed
    rows = finish_and_check_journal(journal_path)
    assert sorted({r[1] for r in rows["streams"]}) == sorted({key, "plain"})


# ---- 10 MB payloads -------------------------------------------------------------------------

TEN_MB = 10 * 1024 * 1024


def big_text() -> str:
    chunk = 'plain ascii, "quotes", \\backslash\\, new\nline, tab\t, é, 漢, 🎉; '
    return (chunk * (TEN_MB // len(chunk) + 1))[:TEN_MB]


def digest(value) -> str:
    return hashlib.sha256(msgspec.json.encode(value)).hexdigest()


@pytest.mark.parametrize("where", ["step-output", "workflow-input", "message", "bytes-output"])
def test_ten_megabyte_payloads_round_trip(dbos, config, journal_path, where):
    payload = os.urandom(TEN_MB) if where == "bytes-output" else big_text()
    expected = digest(payload)
    runs = []

    def register():
        @DBOS.step(name="produce")
        def produce() -> bytes if where == "bytes-output" else str:
            runs.append("produce")
            return payload

        @DBOS.workflow(name="big")
        def big(data: str) -> str:
            if where in ("step-output", "bytes-output"):
                data = produce()
            elif where == "message":
                data = DBOS.recv("big", timeout_seconds=20)
            return digest(data)

        return big

    big = register()
    DBOS.launch()
    argument = payload if where == "workflow-input" else "small"
    with SetWorkflowID("big"):
        handle = DBOS.start_workflow(big, argument)
    if where == "message":
        DBOS.send("big", payload, "big")
    assert within(30, handle.get_result) == expected

    status = DBOS.get_workflow_status("big")
    if where == "workflow-input":
        assert status.input["args"][0] == payload
    else:
        recorded = DBOS.list_workflow_steps("big")[0]["output"]
        if where == "bytes-output":
            recorded = msgspec.json.decode(msgspec.json.encode(recorded), type=bytes)
        assert recorded == payload

    big = relaunch(config, register)
    assert call_with_id("big", big, argument) == expected  # replayed from the journal
    if where != "workflow-input":
        with SetWorkflowID("big-fork"):
            fork = DBOS.fork_workflow("big", 2)  # reuses the recorded operation 1
        assert within(30, fork.get_result) == expected
    assert runs.count("produce") == (1 if where in ("step-output", "bytes-output") else 0)
    finish_and_check_journal(journal_path)


# ---- Deeply nested values -------------------------------------------------------------------


def nested_list(depth, leaf=None):
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def nested_dict(depth, leaf=None):
    value = leaf
    for _ in range(depth):
        value = {"k": value}
    return value


def depth_and_leaf(value):
    """How deep a nest made by nested_list/nested_dict is, and its leaf (without recursion)."""
    depth = 0
    while isinstance(value, (list, dict)):
        value = value[0] if isinstance(value, list) else value["k"]
        depth += 1
    return depth, value


DEEP = [
    pytest.param(lambda: nested_list(10_000, 1), id="list-10000"),
    pytest.param(lambda: nested_dict(10_000, 1), id="dict-10000"),
]


def assert_deep_equal(got, expected):
    assert type(got) is type(expected)
    assert depth_and_leaf(got) == depth_and_leaf(expected)


@pytest.mark.parametrize("make", DEEP)
@pytest.mark.parametrize("where", ["step-output", "workflow-input", "workflow-output",
                                   "message", "event", "stream"])
def test_deeply_nested_values_round_trip_or_are_refused_with_type_error_before_recording(
        dbos, journal_path, make, where):
    value = make()
    refusals = []

    @DBOS.step(name="deep_step")
    def deep_step():
        return value

    @DBOS.workflow(name="deep")
    def deep(argument) -> str:
        try:
            if where == "step-output":
                return ["got", deep_step()]
            if where == "event":
                DBOS.set_event("deep", value)
            if where == "stream":
                DBOS.write_stream("deep", value)
            if where == "workflow-output":
                return ["got", value]
        except TypeError as exc:
            refusals.append(exc)
            return "refused"
        return "done"

    DBOS.launch()
    if where in ("workflow-input", "message"):
        if where == "message":
            with SetWorkflowID("target"):
                DBOS.start_workflow(deep, "small")
        try:
            if where == "workflow-input":
                with SetWorkflowID("w"):
                    result = deep(value)
            else:
                DBOS.send("target", value, "deep")
        except TypeError as exc:
            assert "cannot be recorded" in str(exc)
            rows = finish_and_check_journal(journal_path)
            assert rows["notifications"] == []
            assert [r[0] for r in rows["workflow_status"]] == (
                ["target"] if where == "message" else [])
            return
        except RecursionError as exc:
            pytest.fail(f"RecursionError leaked instead of a clear TypeError: {exc}")
        if where == "workflow-input":
            assert result == "done"
            assert_deep_equal(DBOS.get_workflow_status("w").input["args"][0], value)
        else:
            assert DBOS.get_workflow_status("target") is not None
        DBOS.destroy(destroy_registry=True)
        return

    try:
        with SetWorkflowID("w"):
            result = deep("small")
    except RecursionError as exc:
        pytest.fail(f"RecursionError leaked instead of a clear TypeError: {exc}")
    except TypeError as exc:  # the return value refused
        assert where == "workflow-output" and "cannot be recorded" in str(exc), exc
        assert DBOS.get_workflow_status("w").status == "ERROR"
        finish_and_check_journal(journal_path)
        return
    if result == "refused":
        assert "cannot be recorded" in str(refusals[0]), refusals[0]
        assert DBOS.list_workflow_steps("w") == []
        rows = finish_and_check_journal(journal_path)
        assert rows["workflow_events"] == [] and rows["streams"] == []
        return
    # It was recorded: it must come back equal, from the journal too.
    if where in ("step-output", "workflow-output"):
        assert_deep_equal(result[1], value)
        with SetWorkflowID("w"):
            assert_deep_equal(deep("small")[1], value)
    elif where == "event":
        assert_deep_equal(DBOS.get_event("w", "deep", timeout_seconds=0), value)
    else:
        assert_deep_equal(list(DBOS.read_stream("w", "deep"))[0], value)
    finish_and_check_journal(journal_path)


def call_at_depth(frames, fn, *args):
    """``fn(*args)`` called under ``frames`` more stack frames, as from inside a framework."""
    if frames == 0:
        return fn(*args)
    return call_at_depth(frames - 1, fn, *args)


@pytest.mark.parametrize("depth", [600, 900, 960])
def test_deep_value_accepted_in_a_background_workflow_reads_back_from_a_deeper_caller(
        dbos, depth):
    """A value a workflow running on the thread pool (a shallow stack) could record must read
    back from a caller 150 frames deep (a web framework's handler), or be refused when
    recorded: a RecursionError must not leak out of a status or a result."""
    value = nested_list(depth, "leaf")

    @DBOS.step(name="produce_deep")
    def produce_deep():
        return value

    @DBOS.workflow(name="background")
    def background():
        try:
            return produce_deep()
        except TypeError:
            return "refused"

    DBOS.launch()
    with SetWorkflowID("bg"):
        handle = DBOS.start_workflow(background)
    try:
        within(20, handle.get_status)  # the result is read below from a deep stack
        result = call_at_depth(150, handle.get_result)
        status = call_at_depth(150, DBOS.get_workflow_status, "bg")
        steps = call_at_depth(150, DBOS.list_workflow_steps, "bg")
    except RecursionError as exc:
        pytest.fail(f"a recorded {depth}-deep value cannot be read back: RecursionError: {exc}")
    if result == "refused":
        assert steps == []
        return
    assert_deep_equal(result, value)
    assert_deep_equal(status.output, value)
    assert_deep_equal(steps[0]["output"], value)


# ---- Errors whose message JSON cannot carry ------------------------------------------------


def test_step_error_whose_message_holds_a_lone_surrogate_is_recorded_and_replayed(dbos,
                                                                                  journal_path):
    """os.fsdecode() of a file name that is not UTF-8 gives lone surrogates, and error messages
    quote file names. Such an error must be recorded (the workflow ends ERROR) and replayed,
    not leave the workflow PENDING with a UnicodeEncodeError instead of the step's error."""
    runs = []

    @DBOS.step(name="parse")
    def parse(raw: bytes) -> str:
        runs.append(raw)
        raise ValueError(f"cannot parse {os.fsdecode(raw)}")

    @DBOS.workflow(name="import_file")
    def import_file(raw: bytes) -> str:
        return parse(raw)

    DBOS.launch()
    with pytest.raises(Exception) as first:
        call_with_id("w", import_file, b"file-\xff.txt")
    assert isinstance(first.value, ValueError) and not isinstance(
        first.value, UnicodeEncodeError), repr(first.value)
    assert "cannot parse file-" in str(first.value)
    status = DBOS.get_workflow_status("w")
    assert status.status == "ERROR", f"left {status.status}"
    assert "cannot parse file-" in str(status.error)
    steps = DBOS.list_workflow_steps("w")
    assert [s["function_name"] for s in steps] == ["parse"]
    assert "cannot parse file-" in str(steps[0]["error"])
    with pytest.raises(Exception) as again:
        within(10, call_with_id, "w", import_file, b"file-\xff.txt")
    assert type(again.value) is type(first.value)
    assert runs == [b"file-\xff.txt"]
    finish_and_check_journal(journal_path)


# ---- Values JSON cannot carry ---------------------------------------------------------------

NON_FINITE = [math.nan, math.inf, -math.inf]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)


def test_non_finite_float_anywhere_in_a_step_result_is_refused_not_recorded_as_null(
        dbos, journal_path):
    """JSON has no NaN or infinity. A step returning one, alone, among other values, or nested
    deep enough that searching for it recurses past Python's limit, gets a TypeError naming the
    step and saying why, and nothing is recorded: it never comes back as null."""
    returned = []

    @DBOS.step(name="measure")
    def measure():
        return returned[-1]

    @DBOS.workflow(name="w")
    def workflow() -> str:
        try:
            got = measure()
        except TypeError as exc:
            return f"refused: {exc}"
        return f"recorded, as {depth_and_leaf(got)!r}"

    DBOS.launch()

    # The value returned is ``value`` inside ``depth`` lists (built here: hypothesis's printing
    # of an example recurses).
    @settings(deadline=None)
    @example(math.nan, 0)
    @example(math.inf, 0)
    @example(-math.inf, 0)
    @example(math.nan, 50)
    @example(math.nan, 400)
    @example(math.nan, 700)
    @given(st.sampled_from(NON_FINITE)
           | st.builds(lambda bad, other: {"other": other, "bad": bad},
                       st.lists(st.sampled_from(NON_FINITE), min_size=1, max_size=3),
                       JSON_VALUES),
           st.sampled_from([0, 1, 50, 400, 700]))
    def check(value, depth):
        returned.append(nested_list(depth, value))
        workflow_id = f"w{len(returned)}"
        try:
            outcome = call_with_id(workflow_id, workflow)
        except RecursionError as exc:
            pytest.fail(f"RecursionError leaked: {exc}")
        assert outcome.startswith("refused: "), outcome
        assert "'measure'" in outcome and "NaN or an infinite float" in outcome, outcome
        assert DBOS.list_workflow_steps(workflow_id) == []

    check()
    finish_and_check_journal(journal_path)


UNRECORDABLE = [
    pytest.param(lambda: float("nan"), id="nan"),
    pytest.param(lambda: {"x": [1.0, float("inf")]}, id="nested-inf"),
    pytest.param(lambda: float("-inf"), id="minus-inf"),
    pytest.param(lambda: object(), id="object"),
]


@pytest.mark.parametrize("make", UNRECORDABLE)
@pytest.mark.parametrize("where", ["send-outside", "send-in-workflow", "event", "stream"])
def test_unrecordable_value_is_refused_with_type_error_before_anything_is_recorded(
        dbos, journal_path, make, where):
    refusals = []

    @DBOS.workflow(name="target")
    def target() -> object:
        return DBOS.recv("t", timeout_seconds=0.2)

    @DBOS.workflow(name="w")
    def workflow() -> str:
        try:
            if where == "send-in-workflow":
                DBOS.send("target", make(), "t")
            elif where == "event":
                DBOS.set_event("k", make())
            elif where == "stream":
                DBOS.write_stream("k", make())
        except TypeError as exc:
            refusals.append(str(exc))
            DBOS.set_event("after", "ok")  # the workflow goes on at the same position
            return "refused"
        return "accepted"

    DBOS.launch()
    with SetWorkflowID("target"):
        handle = DBOS.start_workflow(target)
    if where == "send-outside":
        with pytest.raises(TypeError, match="cannot be recorded"):
            DBOS.send("target", make(), "t")
    else:
        assert call_with_id("w", workflow) == "refused"
        assert "cannot be recorded" in refusals[0]
        assert [s["function_name"] for s in DBOS.list_workflow_steps("w")] == ["DBOS.setEvent"]
        assert DBOS.get_all_events("w") == {"after": "ok"}
    assert within(10, handle.get_result) is None  # no message arrived
    rows = finish_and_check_journal(journal_path)
    assert rows["notifications"] == [] and rows["streams"] == []
    assert [r[1] for r in rows["workflow_events"]] == ([] if where == "send-outside"
                                                        else ["after"])


# ---- A crafted journal row naming a module with import-time side effects --------------------


@pytest.fixture
def evil_module(tmp_path, monkeypatch):
    """A real module on sys.path whose import writes a marker file; (name, marker path)."""
    name = f"evil_module_{uuid.uuid4().hex[:12]}"
    directory = tmp_path / "modules"
    directory.mkdir()
    marker = tmp_path / "evil_module_was_imported"
    (directory / f"{name}.py").write_text(
        f"with open({str(marker)!r}, 'w') as f:\n"
        "    f.write('imported')\n\n\n"
        "class Boom(Exception):\n"
        "    pass\n"
    )
    # The module is importable, and importing it writes the marker (checked in another
    # process, so that this one never imports it).
    check = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=str(directory),
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0 and marker.exists(), check.stderr
    marker.unlink()
    monkeypatch.syspath_prepend(str(directory))
    yield name, marker
    sys.modules.pop(name, None)


def register_crafted_app(state):
    @DBOS.step(name="failing")
    def failing() -> int:
        raise ValueError("original")

    @DBOS.workflow(name="propagates")
    def propagates() -> int:
        return failing()

    @DBOS.workflow(name="catches")
    def catches() -> str:
        try:
            failing()
        except Exception as exc:
            state["caught"].append(exc)
        if state["interrupt"]:
            state["interrupt"] = False
            raise Interrupted()
        return "caught"

    return propagates, catches


def test_crafted_error_row_naming_a_module_with_import_side_effects_is_never_imported(
        dbos, config, journal_path, evil_module):
    name, marker = evil_module
    state = {"caught": [], "interrupt": True}
    propagates, catches = register_crafted_app(state)
    DBOS.launch()
    for workflow_id in ("finished", "flat"):
        with SetWorkflowID(workflow_id):
            with pytest.raises(ValueError):
                propagates()
    with SetWorkflowID("pending"):
        with pytest.raises(Interrupted):
            catches()  # its step error is recorded; the workflow stays PENDING
    DBOS.destroy(destroy_registry=True)

    crafted = msgspec.json.encode({"type": "Boom", "module": name, "message": "crafted",
                                   "args": ["x"], "traceback": "tb"}).decode()
    nested = msgspec.json.encode({
        "type": "DBOSMaxStepRetriesExceeded", "module": "dbos_lite", "message": "retries",
        "args": ["failing", 2],
        "errors": [{"type": "Boom", "module": name, "message": "attempt 1", "args": []},
                   {"type": "Boom.Inner", "module": name, "message": "attempt 2"}]}).decode()
    conn = sqlite3.connect(journal_path)
    with conn:
        conn.execute("UPDATE operation_outputs SET error = ? WHERE workflow_id = 'finished'",
                     (crafted,))
        conn.execute("UPDATE workflow_status SET error = ? WHERE workflow_id = 'finished'",
                     (nested,))
        conn.execute("UPDATE operation_outputs SET error = ? WHERE workflow_id = 'pending'",
                     (crafted,))
        conn.execute("UPDATE operation_outputs SET error = ? WHERE workflow_id = 'flat'",
                     (crafted,))
        conn.execute("UPDATE workflow_status SET error = ? WHERE workflow_id = 'flat'",
                     (crafted,))
    conn.close()

    state["interrupt"] = False
    propagates, catches = relaunch(config, lambda: register_crafted_app(state))
    # Recovery replays the pending workflow's crafted step error.
    assert within(20, DBOS.retrieve_workflow("pending").get_result) == "caught"
    caught = state["caught"][-1]
    status = DBOS.get_workflow_status("finished")
    listed = {s.workflow_id: s for s in DBOS.list_workflows()}
    flat = DBOS.get_workflow_status("flat")
    steps = [DBOS.list_workflow_steps(w)[0] for w in ("finished", "pending", "flat")]
    with SetWorkflowID("finished"):
        with pytest.raises(DBOSException) as replayed:
            propagates()
    with SetWorkflowID("flat"):
        with pytest.raises(DBOSRecordedError) as replayed_flat:
            propagates()
    assert not marker.exists(), "reading the journal imported the module it names"
    assert name not in sys.modules

    for error in (caught, *(step["error"] for step in steps), flat.error,
                  listed["flat"].error, replayed_flat.value):
        assert isinstance(error, DBOSRecordedError), repr(error)
        assert error.type_name == f"{name}.Boom" and error.message == "crafted"
    for error in (status.error, listed["finished"].error, replayed.value):
        assert isinstance(error, dbos_lite.DBOSMaxStepRetriesExceeded), repr(error)
        assert all(isinstance(e, DBOSRecordedError) for e in error.errors), error.errors
        assert [e.type_name for e in error.errors] == [f"{name}.Boom", f"{name}.Boom.Inner"]
    assert not marker.exists() and name not in sys.modules
    finish_and_check_journal(journal_path)


def test_nan_payload_sanity():
    """The helpers above compare nested values without recursion; NaN is not equal to itself,
    which the non-finite tests rely on."""
    assert depth_and_leaf(nested_dict(20_000, 3)) == (20_000, 3)
    assert math.isnan(depth_and_leaf(nested_list(5, float("nan")))[1])
