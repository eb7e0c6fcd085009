"""What a process writes into workflows it does not run (issue 12, item 1): a process that cannot
run a workflow writes nothing into it; a process that exits normally releases its workflows
without using up their recovery attempts (a crash still uses one); a DBOSClient that only looks
at a journal changes none of its files.

Programs run as real subprocesses and are SIGKILLed at known points; steps append a line to a
log for every run, so "ran once" is checked on what really ran."""

import hashlib
import os
import signal

import pytest

from conftest import journal_url
from harness import CrashApps, ScriptApps, journal_rows, row_changes

EXPECTED_JOB_1 = 100000 * 10**5 + 12345  # crash_app.py's pipeline(100000), as mode "run" starts


# ---- 1a: a process that cannot run a workflow writes nothing into it ----

OTHER_APP = """
    # On crash_app.py's journal, without crash_app.py's workflow: MODE "none" registers no
    # workflow, "other" an unrelated one. It launches and exits normally.
    DBOS(config=config("crash-app"))

    if MODE == "other":
        @DBOS.workflow()
        def unrelated(x: int) -> int:
            return x

    DBOS.launch()
    log("-", "launched")
    DBOS.destroy()
"""


@pytest.mark.slow
def test_a_process_without_the_workflow_function_writes_nothing_into_it(tmp_path):
    with CrashApps(tmp_path) as crash, ScriptApps(tmp_path, OTHER_APP, "other_app.py") as other:
        first = crash.start("run", slow_step=3, slow_sec=60)
        crash.wait_for_line(first, "start", 3)
        crash.kill(first)
        before = journal_rows(crash.journal, "job-1")
        assert [row["status"] for row in before["workflow"]] == ["PENDING"]

        for mode in ("none", "other"):
            _, code, _, stderr = other.run(mode)
            assert code == 0, stderr
            after = journal_rows(crash.journal, "job-1")
            assert after == before, (
                f"a process with {mode!r} registered wrote into job-1: "
                f"{row_changes(before, after)}")

        # crash_app.py's code resumes it, as if those processes had never looked at it.
        code, summary, stderr = crash.finish(crash.start("recover"))
        assert code == 0, stderr
        job = summary["job-1"]
        assert job["status"] == "SUCCESS", job
        assert job["output"] == EXPECTED_JOB_1
        assert job["recovery_attempts"] == 2  # one crash, one recovery
        for k in (1, 2, 4, 5):
            assert crash.count("start", k) == crash.count("end", k) == 1, crash.log_text()
        assert crash.count("start", 3) == 2  # interrupted by the kill, then run again
        assert crash.count("end", 3) == 1


# ---- 1b: a clean exit releases a workflow; only a crash uses up a recovery attempt ----

WAITER_APP = """
    DBOS(config=config("waiter-app"))

    @DBOS.step()
    def record(name: str) -> str:
        log(DBOS.workflow_id, "step", name)
        return name

    @DBOS.workflow(max_recovery_attempts=2)
    def waiter() -> str:
        before = record("before")
        log(DBOS.workflow_id, "waiting")
        message = DBOS.recv("go", timeout_seconds=600)
        return f"{before}+{message}+{record('after')}"

    DBOS.launch()
    with SetWorkflowID("job-1"):
        handle = DBOS.start_workflow(waiter)
    # Until the workflow runs here (its body reached the recv in this process), or is finished.
    deadline = time.monotonic() + 20
    while not logged("waiting", pid=os.getpid()) and status_of("job-1")["status"] == "PENDING":
        if time.monotonic() > deadline:
            print_summary({"job-1": status_of("job-1"), "timeout": "job-1 never ran here"})
            sys.exit(3)
        time.sleep(0.02)
    if MODE == "finish" and status_of("job-1")["status"] == "PENDING":
        DBOS.send("job-1", "go", "go")
        try:
            handle.get_result()
        except Exception:
            pass  # in the summary
    print_summary({"job-1": status_of("job-1")})
    if MODE == "wait":  # until the test kills the process
        time.sleep(600)
    elif MODE == "sys.exit":
        sys.exit(0)
    elif MODE == "destroy":
        DBOS.destroy()
    # MODE "end" (and "finish"): the script just ends
"""


@pytest.mark.slow
def test_clean_exits_release_a_workflow_without_using_up_its_recovery_attempts(tmp_path):
    with ScriptApps(tmp_path, WAITER_APP) as apps:
        # Five normal exits while the workflow (max_recovery_attempts=2) waits for a message.
        for mode in ("end", "sys.exit", "destroy", "end", "sys.exit"):
            proc, code, summary, stderr = apps.run(mode)
            assert code == 0, f"exit {code} in mode {mode}\n{summary}\n{stderr}"
            assert summary["job-1"]["status"] == "PENDING", (mode, summary)
            assert apps.count("waiting", "-", "job-1", pid=proc.pid) == 1, apps.log_text()

        proc, code, summary, stderr = apps.run("finish")
        assert code == 0, stderr
        job = summary["job-1"]
        assert job["status"] == "SUCCESS", job
        assert job["output"] == "before+go+after"
        assert apps.count("step", "before", "job-1") == 1, apps.log_text()
        assert apps.count("step", "after", "job-1") == 1
        assert apps.count("step", "after", "job-1", pid=proc.pid) == 1


@pytest.mark.slow
def test_crashes_still_use_up_the_recovery_attempts(tmp_path):
    with ScriptApps(tmp_path, WAITER_APP) as apps:
        for _ in range(3):  # the first run, then max_recovery_attempts (2) recoveries: SIGKILLed
            proc = apps.start("wait")
            apps.wait_for_line(proc, "waiting", "-", "job-1")
            apps.kill(proc)
            assert proc.returncode == -signal.SIGKILL

        _, code, summary, stderr = apps.run("finish")
        assert code == 0, stderr
        assert summary["job-1"]["status"] == "MAX_RECOVERY_ATTEMPTS_EXCEEDED", summary
        assert apps.count("waiting", "-", "job-1") == 3
        assert apps.count("step", "before", "job-1") == 1
        assert apps.count("step", "after", "job-1") == 0


# ---- 1c: a DBOSClient only looks ----


def file_states(journal, suffixes=("", "-wal")):
    """Hash and modification time of the journal's files."""
    states = {}
    for suffix in suffixes:
        path = journal + suffix
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        states[suffix] = (digest, os.stat(path).st_mtime_ns)
    return states


def journal_files(directory):
    return sorted(name for name in os.listdir(directory) if name.startswith("journal.sqlite"))


@pytest.mark.slow
def test_a_client_reads_a_crashed_journal_without_changing_it(tmp_path):
    from dbos_lite import DBOSClient

    with CrashApps(tmp_path) as crash:
        first = crash.start("run", slow_step=3, slow_sec=60)
        crash.wait_for_line(first, "start", 3)
        crash.kill(first)
    journal = crash.journal
    assert os.path.exists(journal + "-wal"), "the killed process left no WAL to look at"
    rows = journal_rows(journal, "job-1")
    files = file_states(journal)

    client = DBOSClient(system_database_url=journal_url(journal))
    try:
        assert [(w.workflow_id, w.status) for w in client.list_workflows()] == [
            ("job-1", "PENDING")]
        assert client.retrieve_workflow("job-1").get_status().status == "PENDING"
        steps = client.list_workflow_steps("job-1")
        assert [(s["function_name"], s["output"]) for s in steps] == [
            ("work", 1000001), ("work", 10000012)]
    finally:
        client.destroy()

    assert file_states(journal) == files, "looking changed the journal's files"
    after = journal_rows(journal, "job-1")
    assert after == rows, row_changes(rows, after)


@pytest.mark.slow
def test_a_client_leaves_a_cleanly_closed_journal_as_it_was(tmp_path):
    from dbos_lite import DBOSClient

    with CrashApps(tmp_path) as crash:
        code, summary, stderr = crash.finish(crash.start("run"))
        assert code == 0, stderr
    journal = crash.journal
    assert journal_files(tmp_path) == ["journal.sqlite"]  # DBOS.destroy() removed the WAL
    files = file_states(journal, ("",))

    client = DBOSClient(system_database_url=journal_url(journal))
    try:
        assert [(w.workflow_id, w.status) for w in client.list_workflows()] == [
            ("job-1", "SUCCESS")]
        assert client.retrieve_workflow("job-1").get_status().output == EXPECTED_JOB_1
        assert [s["function_name"] for s in client.list_workflow_steps("job-1")] == ["work"] * 5
    finally:
        client.destroy()

    # A reader of a WAL database may leave empty -wal/-shm files (SQLite needs them to read;
    # removing them could break a writer that opened the journal meanwhile): the journal's
    # own bytes are what must not change.
    leftovers = [f for f in journal_files(tmp_path) if f != "journal.sqlite"]
    assert all(os.path.getsize(tmp_path / f) == 0 or f.endswith("-shm") for f in leftovers)
    assert file_states(journal, ("",)) == files


def test_a_client_on_a_missing_journal_raises_and_creates_nothing(tmp_path):
    from dbos_lite import DBOSClient, DBOSException

    with pytest.raises(DBOSException):
        client = DBOSClient(system_database_url=journal_url(tmp_path / "missing.sqlite"))
        try:
            client.list_workflows()
        finally:
            client.destroy()
    assert os.listdir(tmp_path) == []
