"""Cron schedules in one process: creating and managing them, the errors that create nothing,
the time and context a run gets, runs as ordinary workflows, calls inside a workflow as
recorded operations, trigger, backfill, and catching up after downtime or a pause. Several
processes on one journal: tests/test_schedules_multiprocess.py; the cron grammar:
tests/test_cron.py.

Tests marked both_engines run on DBOS Transact too (``make compat``). DBOS fires a time up to
~2 s late (its first fire only after a 1 s poll, then a random delay and a 1 s queue poll), so
those tests wait for runs generously and never for a time; most use backfill or trigger,
which run at once on both."""

import datetime
import threading
import time
import zoneinfo

import pytest

import sqlite_here
from conftest import wait_until
from engine import DBOS, ON_DBOS, DBOSException, SetWorkflowID

both = pytest.mark.both_engines

UTC = datetime.timezone.utc
NEVER_SOON = "0 0 1 1 *"  # midnight on New Year's Day: never fires during a test
EVERY_SECOND = "* * * * * *"


class Runs(list):
    workflow = None


@pytest.fixture
def runs(dbos):
    """A registered workflow ``tick`` that records each run's (workflow id, scheduled time,
    context), and the list it records into."""
    recorded = Runs()

    @DBOS.workflow()
    def tick(scheduled_time: datetime.datetime, context) -> None:
        recorded.append((DBOS.workflow_id, scheduled_time, context))

    recorded.workflow = tick
    return recorded


def schedule_rows(journal_path) -> int:
    """How many schedules the journal holds, read by SQLite itself."""
    table = "workflow_schedules" if ON_DBOS else "schedules"
    return sqlite_here.query(journal_path, f"SELECT count(*) FROM {table}")[0][0]


def run_ids(recorded) -> list[str]:
    return [workflow_id for workflow_id, _, _ in recorded]


def times_of(recorded, name) -> list[datetime.datetime]:
    """The scheduled times of the live and backfilled runs of ``name``, sorted."""
    prefix = f"sched-{name}-"
    return sorted(when for workflow_id, when, _ in list(recorded)
                  if workflow_id.startswith(prefix) and "-trigger-" not in workflow_id)


def times_of_seconds(first, last):
    """Every whole second from ``first`` to ``last``, both included."""
    return [first + datetime.timedelta(seconds=n)
            for n in range(int((last - first).total_seconds()) + 1)]


def assert_consecutive_seconds(times):
    assert times == sorted(set(times)), f"a time ran twice: {times}"
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert all(gap == datetime.timedelta(seconds=1) for gap in gaps), f"a gap: {times}"


# ---- creating and managing ----


@both
def test_create_list_get_pause_resume_delete(dbos, runs):
    @DBOS.workflow()
    def other(scheduled_time, context):
        pass

    DBOS.launch()
    DBOS.create_schedule(schedule_name="nightly-report", workflow_fn=runs.workflow,
                         schedule="0 3 * * *", context={"to": ["ops"]})
    DBOS.create_schedule(schedule_name="hourly-reading", workflow_fn=other,
                         schedule="0 * * * *", cron_timezone="Europe/Paris",
                         automatic_backfill=True)
    report = DBOS.get_schedule("nightly-report")
    assert {k: report[k] for k in ("schedule_name", "schedule", "status", "context",
                                   "last_fired_at", "automatic_backfill", "cron_timezone",
                                   "queue_name", "workflow_class_name")} == {
        "schedule_name": "nightly-report", "schedule": "0 3 * * *", "status": "ACTIVE",
        "context": {"to": ["ops"]}, "last_fired_at": None, "automatic_backfill": False,
        "cron_timezone": None, "queue_name": None, "workflow_class_name": None}
    assert report["workflow_name"].endswith("tick") and report["schedule_id"]
    reading = DBOS.get_schedule("hourly-reading")
    assert (reading["cron_timezone"], reading["automatic_backfill"]) == ("Europe/Paris", True)

    def names(**filters):
        return [s["schedule_name"] for s in DBOS.list_schedules(**filters)]

    assert names() == ["nightly-report", "hourly-reading"]  # oldest first
    assert names(schedule_name_prefix="hourly") == ["hourly-reading"]
    assert names(schedule_name_prefix=["nightly", "hourly"]) == ["nightly-report",
                                                                 "hourly-reading"]
    assert names(workflow_name=report["workflow_name"]) == ["nightly-report"]
    assert names(status="PAUSED") == []
    assert report["application_name"] == "test-app"
    assert names(application_name="test-app") == ["nightly-report", "hourly-reading"]
    assert names(application_name="another-app") == []

    DBOS.pause_schedule("nightly-report")
    assert DBOS.get_schedule("nightly-report")["status"] == "PAUSED"
    assert names(status="PAUSED") == ["nightly-report"]
    assert names(status=["ACTIVE"]) == ["hourly-reading"]
    DBOS.resume_schedule("nightly-report")
    assert DBOS.get_schedule("nightly-report")["status"] == "ACTIVE"

    DBOS.delete_schedule("nightly-report")
    assert DBOS.get_schedule("nightly-report") is None
    assert names() == ["hourly-reading"]
    # Unknown names: get gives None, pause/resume/delete do nothing, as DBOS Transact.
    assert DBOS.get_schedule("no-such") is None
    DBOS.pause_schedule("no-such")
    DBOS.resume_schedule("no-such")
    DBOS.delete_schedule("no-such")
    assert names() == ["hourly-reading"]
    for call in (lambda: DBOS.trigger_schedule("no-such"),
                 lambda: DBOS.backfill_schedule("no-such", datetime.datetime(2024, 1, 1),
                                                datetime.datetime(2024, 1, 2))):
        with pytest.raises(DBOSException, match="Schedule 'no-such' does not exist"):
            call()


@both
def test_schedules_need_a_launched_dbos(dbos, runs):
    with pytest.raises(DBOSException, match="launch"):
        DBOS.create_schedule(schedule_name="early", workflow_fn=runs.workflow,
                             schedule=NEVER_SOON)
    DBOS.launch()
    assert DBOS.list_schedules() == []


def test_async_twins(dbos, runs):
    import asyncio

    DBOS.launch()

    async def manage():
        await DBOS.create_schedule_async(schedule_name="a", workflow_fn=runs.workflow,
                                         schedule=NEVER_SOON)
        await DBOS.apply_schedules_async([{"schedule_name": "b", "workflow_fn": runs.workflow,
                                           "schedule": NEVER_SOON}])
        listed = [s["schedule_name"] for s in await DBOS.list_schedules_async()]
        got = await DBOS.get_schedule_async("a")
        await DBOS.delete_schedule_async("a")
        return listed, got["schedule_name"], [s["schedule_name"] for s in DBOS.list_schedules()]

    assert asyncio.run(manage()) == (["a", "b"], "a", ["b"])


def test_apply_schedules_upserts_all_or_none(dbos, runs, journal_path):
    DBOS.launch()
    DBOS.create_schedule(schedule_name="kept", workflow_fn=runs.workflow, schedule=NEVER_SOON)
    DBOS.pause_schedule("kept")
    before = DBOS.get_schedule("kept")
    DBOS.apply_schedules([
        {"schedule_name": "kept", "workflow_fn": runs.workflow, "schedule": "0 0 2 1 *",
         "context": "new"},
        {"schedule_name": "added", "workflow_fn": runs.workflow, "schedule": NEVER_SOON},
    ])
    after = DBOS.get_schedule("kept")
    # The new definition; the same id and status (still paused).
    assert (after["schedule"], after["context"]) == ("0 0 2 1 *", "new")
    assert (after["schedule_id"], after["status"]) == (before["schedule_id"], "PAUSED")
    assert [s["schedule_name"] for s in DBOS.list_schedules()] == ["kept", "added"]
    # One bad entry: nothing applied, the good entry before it included.
    with pytest.raises(DBOSException, match="Invalid cron schedule"):
        DBOS.apply_schedules([
            {"schedule_name": "kept", "workflow_fn": runs.workflow, "schedule": NEVER_SOON},
            {"schedule_name": "third", "workflow_fn": runs.workflow, "schedule": "nope"},
        ])
    with pytest.raises(DBOSException, match="Schedule entry 0 is missing required field "
                                            "'schedule'"):
        DBOS.apply_schedules([{"schedule_name": "x", "workflow_fn": runs.workflow}])
    assert DBOS.get_schedule("kept")["schedule"] == "0 0 2 1 *"
    assert schedule_rows(journal_path) == 2


def test_a_schedule_created_by_a_client_fires_in_the_running_process(dbos, runs,
                                                                     journal_path):
    """The process has no schedule (no scheduler thread) when another connection creates
    one: it sees the commit and starts firing it."""
    from dbos_lite import DBOSClient

    DBOS.launch()
    client = DBOSClient(system_database_url=f"sqlite:///{journal_path}")
    try:
        client.create_schedule(schedule_name="remote", workflow_name=runs.workflow.__qualname__,
                               schedule=EVERY_SECOND, context="from a client")
        # Seen at the commit (data_version), not at the next heartbeat (5 s).
        wait_until(lambda: runs, "a run of the client's schedule", timeout=4)
        client.pause_schedule("remote")
        assert DBOS.get_schedule("remote")["status"] == "PAUSED"
    finally:
        client.destroy()
    [(workflow_id, when, context)] = runs[:1]
    assert workflow_id == f"sched-remote-{when.isoformat()}" and context == "from a client"


# ---- errors at create: each creates nothing ----


def plain(scheduled_time, context):
    pass


CREATE_ERRORS = [
    ({"schedule": "61 * * * *"}, r"Invalid cron schedule: '61 \* \* \* \*': .*'minute'.*"
                                 r"61 is out of range 0-59"),
    ({"schedule": "* 25 * * *"}, r"Invalid cron schedule: .*'hour'"),
    ({"schedule": "*/0 * * * *"}, r"Invalid cron schedule: .*step 0"),
    ({"schedule": "not a cron"}, r"Invalid cron schedule: 'not a cron': .*3 fields"),
    ({"schedule": "* * * * * * *"}, r"Invalid cron schedule: .*7 fields"),  # DBOS: a year
    ({"schedule": "0 0 30 2 *"}, r"Invalid cron schedule: .*can never fire"),
    ({"schedule": "0 0 0 31 2 *"}, r"Invalid cron schedule: .*can never fire"),
    ({"cron_timezone": "Mars/Olympus"}, r"Invalid timezone: 'Mars/Olympus'"),
    ({"cron_timezone": ""}, r"Invalid timezone: ''"),
    ({"queue_name": "nope"}, r"Queue 'nope' is not declared. Please create the queue"),
    ({"workflow_fn": plain}, r"Workflow function 'plain' is not registered"),
    ({"workflow_fn": "step"}, r"Workflow function '.*st' is not registered"),
    ({"workflow_fn": "configured"}, r"Configured instance methods cannot be used as "
                                    r"scheduled workflows"),
    ({"schedule_name": ""}, r"schedule_name must be a non-empty string"),
    ({"automatic_backfill": "yes"}, r"automatic_backfill must be True or False"),
    ({"shard_key": "s1"}, r"shard_key"),
    ({"context": object()}, r"context of schedule 's'"),
]


@pytest.mark.parametrize("change,message", CREATE_ERRORS,
                         ids=[f"{key}={value!r}" if isinstance(value, (str, bool)) else key
                              for change, _ in CREATE_ERRORS
                              for key, value in change.items()])
def test_an_error_at_create_creates_nothing(dbos, runs, journal_path, change, message):
    @DBOS.step()
    def st(scheduled_time, context):
        pass

    from dbos_lite import DBOSConfiguredInstance

    @DBOS.dbos_class()
    class Reader(DBOSConfiguredInstance):
        def __init__(self):
            super().__init__("reader-1")

        @DBOS.workflow()
        def read(self, scheduled_time, context):
            pass

    reader = Reader()
    DBOS.launch()
    settings = {"schedule_name": "s", "workflow_fn": runs.workflow, "schedule": EVERY_SECOND,
                **change}
    settings["workflow_fn"] = {"step": st, "configured": reader.read}.get(
        settings["workflow_fn"], settings["workflow_fn"])
    with pytest.raises((DBOSException, TypeError), match=message) as caught:
        DBOS.create_schedule(**settings)
    assert "Traceback" not in str(caught.value)
    assert DBOS.list_schedules() == [] and schedule_rows(journal_path) == 0
    with pytest.raises((DBOSException, TypeError), match=message):  # TypeError: the context
        DBOS.apply_schedules([settings])
    assert DBOS.list_schedules() == [] and schedule_rows(journal_path) == 0
    time.sleep(0.05)
    assert runs == []


def test_an_invalid_cron_string_is_also_a_value_error(dbos, runs):
    DBOS.launch()
    with pytest.raises(ValueError, match="'day of week'"):
        DBOS.create_schedule(schedule_name="s", workflow_fn=runs.workflow,
                             schedule="0 0 * * mon-xyz")


@both
def test_a_duplicate_name_is_refused_and_changes_nothing(dbos, runs, journal_path):
    DBOS.launch()
    DBOS.create_schedule(schedule_name="dup", workflow_fn=runs.workflow, schedule=NEVER_SOON,
                         context=1)
    with pytest.raises(DBOSException, match="Schedule 'dup' already exists"):
        DBOS.create_schedule(schedule_name="dup", workflow_fn=runs.workflow,
                             schedule="0 0 2 1 *", context=2)
    [schedule] = DBOS.list_schedules()
    assert (schedule["schedule"], schedule["context"]) == (NEVER_SOON, 1)
    assert schedule_rows(journal_path) == 1


@pytest.mark.deliberate_difference("DBOS Transact accepts a cron string that can never fire, "
                                   "and its schedule thread then dies")
def test_a_cron_string_that_never_fires_is_refused(dbos, runs, journal_path):
    DBOS.launch()
    with pytest.raises(DBOSException, match="can never fire"):
        DBOS.create_schedule(schedule_name="feb30", workflow_fn=runs.workflow,
                             schedule="0 0 30 2 *")
    assert schedule_rows(journal_path) == 0


# ---- what a run gets ----


@both
def test_live_runs_get_an_aware_utc_time_and_the_context(dbos, runs):
    DBOS.launch()
    created = datetime.datetime.now(UTC)
    context = {"sensor": "t1", "limits": [1.5, None], "on": True}
    DBOS.create_schedule(schedule_name="tick", workflow_fn=runs.workflow,
                         schedule=EVERY_SECOND, context=context)
    wait_until(lambda: len(runs) >= 2, "two runs", timeout=15)
    DBOS.delete_schedule("tick")
    for workflow_id, when, got in list(runs):
        assert when.tzinfo == UTC and when.microsecond == 0
        assert when > created - datetime.timedelta(seconds=1)
        assert workflow_id == f"sched-tick-{when.isoformat()}"
        assert workflow_id.endswith("+00:00")
        assert got == context
    assert_consecutive_seconds(times_of(runs, "tick"))


@both
def test_a_cron_timezone_gives_its_offset_in_the_time_and_the_id(dbos, runs):
    DBOS.launch()
    DBOS.create_schedule(schedule_name="ny", workflow_fn=runs.workflow, schedule="0 0 * * *",
                         cron_timezone="America/New_York")
    # Midnight in New York: 05:00 UTC in winter (-05:00), 04:00 in summer (-04:00).
    handles = DBOS.backfill_schedule("ny", datetime.datetime(2024, 1, 1, 0, 0),
                                     datetime.datetime(2024, 1, 3, 12, 0))
    handles += DBOS.backfill_schedule("ny", datetime.datetime(2024, 7, 1, 0, 0, tzinfo=UTC),
                                      datetime.datetime(2024, 7, 2, 12, 0, tzinfo=UTC))
    assert [h.workflow_id for h in handles] == [
        "sched-ny-2024-01-01T00:00:00-05:00", "sched-ny-2024-01-02T00:00:00-05:00",
        "sched-ny-2024-01-03T00:00:00-05:00", "sched-ny-2024-07-01T00:00:00-04:00",
        "sched-ny-2024-07-02T00:00:00-04:00"]
    for handle in handles:
        handle.get_result()
    new_york = zoneinfo.ZoneInfo("America/New_York")
    for workflow_id, when, _ in runs:
        assert (when.hour, when.minute) == (0, 0)
        assert when.utcoffset() == new_york.utcoffset(when.replace(tzinfo=None))
        assert workflow_id == f"sched-ny-{when.isoformat()}"
        # The zone itself, as DBOS Transact passes it: date arithmetic follows its rules.
        assert when.tzinfo == new_york
        assert (when + datetime.timedelta(days=190)).utcoffset() != when.utcoffset()


@both
def test_daylight_saving_time_in_a_cron_timezone(dbos, runs):
    """A time that repeats (fall back) runs twice, one id per offset; one that does not exist
    (spring forward) runs at the next valid time: croniter's rule, as DBOS Transact."""
    DBOS.launch()
    DBOS.create_schedule(schedule_name="dst", workflow_fn=runs.workflow, schedule="30 1 * * *",
                         cron_timezone="America/New_York")
    DBOS.create_schedule(schedule_name="gap", workflow_fn=runs.workflow, schedule="30 2 * * *",
                         cron_timezone="America/New_York")
    fall = DBOS.backfill_schedule("dst", datetime.datetime(2024, 11, 3, 0, 0),
                                  datetime.datetime(2024, 11, 3, 12, 0))
    assert [h.workflow_id for h in fall] == ["sched-dst-2024-11-03T01:30:00-04:00",
                                             "sched-dst-2024-11-03T01:30:00-05:00"]
    spring = DBOS.backfill_schedule("gap", datetime.datetime(2024, 3, 10, 0, 0),
                                    datetime.datetime(2024, 3, 10, 12, 0))
    [gap] = [h.workflow_id for h in spring]
    assert gap.startswith("sched-gap-2024-03-10T03:") and gap.endswith("-04:00")
    for handle in fall + spring:
        handle.get_result()
    assert sorted(run_ids(runs)) == sorted([h.workflow_id for h in fall] + [gap])


@both
def test_an_async_workflow_as_a_target(dbos):
    ran = []

    @DBOS.workflow()
    async def reading(scheduled_time, context):
        ran.append((scheduled_time, context))

    DBOS.launch()
    DBOS.create_schedule(schedule_name="async", workflow_fn=reading, schedule="0 * * * *",
                         context=[1, 2])
    [handle] = DBOS.backfill_schedule("async", datetime.datetime(2024, 1, 1, 0, 30),
                                      datetime.datetime(2024, 1, 1, 1, 30))
    handle.get_result()
    assert ran == [(datetime.datetime(2024, 1, 1, 1, 0, tzinfo=UTC), [1, 2])]


def test_live_runs_in_a_cron_timezone(dbos, runs):
    DBOS.launch()
    DBOS.create_schedule(schedule_name="ny", workflow_fn=runs.workflow, schedule=EVERY_SECOND,
                         cron_timezone="America/New_York")
    wait_until(lambda: len(runs) >= 1, "a run")
    DBOS.delete_schedule("ny")
    workflow_id, when, _ = runs[0]
    offset = datetime.datetime.now(zoneinfo.ZoneInfo("America/New_York")).utcoffset()
    assert when.utcoffset() == offset and when.tzinfo == zoneinfo.ZoneInfo("America/New_York")
    hours = -int(offset.total_seconds()) // 3600
    assert workflow_id == f"sched-ny-{when.isoformat()}" and workflow_id.endswith(f"-0{hours}:00")


@both
def test_a_classmethod_and_a_staticmethod_as_targets(dbos):
    ran = []

    @DBOS.dbos_class()
    class Meter:
        @classmethod
        @DBOS.workflow()
        def read(cls, scheduled_time, context):
            ran.append(("read", cls.__name__, scheduled_time, context))

        @staticmethod
        @DBOS.workflow()
        def reset(scheduled_time, context):
            ran.append(("reset", None, scheduled_time, context))

    DBOS.launch()
    DBOS.create_schedule(schedule_name="read", workflow_fn=Meter.read, schedule="0 * * * *",
                         context="c")
    DBOS.create_schedule(schedule_name="reset", workflow_fn=Meter.reset, schedule="0 * * * *",
                         context="s")
    assert DBOS.get_schedule("read")["workflow_class_name"].endswith("Meter")
    start, end = datetime.datetime(2024, 5, 1, 0, 30), datetime.datetime(2024, 5, 1, 1, 30)
    for name in ("read", "reset"):
        for handle in DBOS.backfill_schedule(name, start, end):
            handle.get_result()
    one = datetime.datetime(2024, 5, 1, 1, 0, tzinfo=UTC)
    assert sorted(ran, key=str) == [("read", "Meter", one, "c"), ("reset", None, one, "s")]


# ---- runs are ordinary workflows ----


@both
def test_runs_are_workflows_that_keep_firing_when_they_fail(dbos):
    calls = []

    @DBOS.workflow()
    def flaky(scheduled_time, context):
        calls.append(scheduled_time)
        raise RuntimeError(f"sensor offline at {scheduled_time.isoformat()}")

    DBOS.launch()
    DBOS.create_schedule(schedule_name="flaky", workflow_fn=flaky, schedule=EVERY_SECOND)
    wait_until(lambda: len(DBOS.list_workflows(workflow_id_prefix="sched-flaky-",
                                               status="ERROR")) >= 3, "three failed runs",
               timeout=20)
    DBOS.delete_schedule("flaky")
    failed = DBOS.list_workflows(workflow_id_prefix="sched-flaky-", status="ERROR")
    for status in failed:
        assert status.schedule_name == "flaky"
        assert status.queue_name == "_dbos_internal_queue"
        assert status.name.endswith("flaky")
        assert "sensor offline" in str(status.error)
        assert status.input["args"][1] is None
    with pytest.raises(RuntimeError, match="sensor offline"):
        DBOS.retrieve_workflow(failed[0].workflow_id).get_result()


@both
def test_runs_go_on_the_schedules_queue(dbos, runs):
    DBOS.launch()
    DBOS.register_queue("readings")
    DBOS.create_schedule(schedule_name="q", workflow_fn=runs.workflow, schedule="0 * * * *",
                         queue_name="readings")
    assert DBOS.get_schedule("q")["queue_name"] == "readings"
    [handle] = DBOS.backfill_schedule("q", datetime.datetime(2024, 1, 1, 0, 30),
                                      datetime.datetime(2024, 1, 1, 1, 30))
    handle.get_result()
    status = DBOS.get_workflow_status(handle.workflow_id)
    assert (status.queue_name, status.schedule_name, status.status) == ("readings", "q",
                                                                        "SUCCESS")
    trigger = DBOS.trigger_schedule("q")
    trigger.get_result()
    assert DBOS.get_workflow_status(trigger.workflow_id).queue_name == "readings"
    assert [s.workflow_id for s in DBOS.list_workflows(queue_name="readings")] == [
        handle.workflow_id, trigger.workflow_id]


def test_a_schedule_whose_queue_is_gone_says_so(dbos, runs, caplog):
    DBOS.launch()
    DBOS.register_queue("gone")
    DBOS.create_schedule(schedule_name="g", workflow_fn=runs.workflow, schedule=EVERY_SECOND,
                         queue_name="gone")
    DBOS.delete_queue("gone")
    wait_until(lambda: "Schedule 'g' cannot fire: its queue 'gone' is not in the journal"
               in caplog.text, "the error log line")
    with pytest.raises(DBOSException, match="Schedule 'g' cannot run: its queue 'gone' is "
                                            "not in the journal. Register the queue again"):
        DBOS.trigger_schedule("g")
    assert DBOS.list_workflows(workflow_id_prefix="sched-g-") == []
    DBOS.register_queue("gone")  # back: the schedule fires again
    wait_until(lambda: runs, "a run")


def test_a_run_is_recovered_like_any_workflow(dbos, config):
    """A run cut short by a clean stop is taken up again at the next launch, not fired
    again: its completed step does not run twice."""
    steps = []
    go = threading.Event()

    @DBOS.step()
    def measure(when):
        steps.append(when)
        return when.isoformat()

    @DBOS.workflow()
    def reading(scheduled_time, context):
        measure(scheduled_time)
        go.wait(10)
        return "done"

    DBOS.launch()
    DBOS.create_schedule(schedule_name="r", workflow_fn=reading, schedule="0 * * * *")
    [handle] = DBOS.backfill_schedule("r", datetime.datetime(2024, 1, 1, 0, 30),
                                      datetime.datetime(2024, 1, 1, 1, 30))
    wait_until(lambda: len(steps) == 1, "the step")
    DBOS.destroy()
    go.set()
    DBOS(config=config)
    DBOS.launch()
    assert DBOS.retrieve_workflow(handle.workflow_id).get_result() == "done"
    assert len(steps) == 1


# ---- inside a workflow ----


def test_calls_inside_a_workflow_are_recorded_and_replay_creates_nothing(dbos, config, runs,
                                                                        journal_path):
    bodies = []
    proceed = threading.Event()

    @DBOS.workflow()
    def manage() -> list:
        bodies.append(1)
        DBOS.create_schedule(schedule_name="inner", workflow_fn=runs.workflow,
                             schedule=NEVER_SOON, context="from a workflow")
        got = DBOS.get_schedule("inner")
        DBOS.pause_schedule("inner")
        DBOS.resume_schedule("inner")
        listed = DBOS.list_schedules()
        proceed.wait(10)
        DBOS.delete_schedule("inner")
        return [got["context"], [s["schedule_name"] for s in listed]]

    DBOS.launch()
    with SetWorkflowID("manage-1"):
        DBOS.start_workflow(manage)
    wait_until(lambda: DBOS.get_schedule("inner") is not None
               and len(DBOS.list_workflow_steps("manage-1")) == 5, "the schedule")
    schedule_id = DBOS.get_schedule("inner")["schedule_id"]
    DBOS.destroy()  # the workflow is given back; the next launch runs it again from the top
    proceed.set()  # the first body ends (it can record nothing more) before the relaunch
    wait_until(lambda: len(bodies) == 1 and threading.active_count() < 100, "the first body")
    time.sleep(0.2)
    DBOS(config=config)
    DBOS.launch()
    # Replayed: "already exists" is not raised, the same schedule stays.
    assert DBOS.retrieve_workflow("manage-1").get_result() == ["from a workflow", ["inner"]]
    assert len(bodies) == 2
    assert DBOS.get_schedule("inner") is None and schedule_rows(journal_path) == 0
    assert [s["function_name"] for s in DBOS.list_workflow_steps("manage-1")] == [
        "DBOS.createSchedule", "DBOS.getSchedule", "DBOS.pauseSchedule",
        "DBOS.resumeSchedule", "DBOS.listSchedules", "DBOS.deleteSchedule"]
    # Run again by id: the recorded result, nothing created again.
    with SetWorkflowID("manage-1"):
        assert manage() == ["from a workflow", ["inner"]]
    assert DBOS.list_schedules() == [] and schedule_id


def test_a_recorded_create_that_failed_fails_again_on_replay(dbos, runs):
    @DBOS.workflow()
    def twice() -> str:
        DBOS.create_schedule(schedule_name="once", workflow_fn=runs.workflow,
                             schedule=NEVER_SOON)
        try:
            DBOS.create_schedule(schedule_name="once", workflow_fn=runs.workflow,
                                 schedule=NEVER_SOON)
        except DBOSException as error:
            return str(error)
        return "created twice"

    DBOS.launch()
    with SetWorkflowID("twice-1"):
        assert "already exists" in twice()
    DBOS.delete_schedule("once")
    # Forked from its second call: the first replays (nothing created), the second runs.
    forked = DBOS.fork_workflow("twice-1", 2)
    assert "created twice" == forked.get_result()
    assert [s["schedule_name"] for s in DBOS.list_schedules()] == ["once"]


def test_trigger_backfill_and_apply_are_refused_inside_a_workflow(dbos, runs):
    @DBOS.workflow()
    def inside() -> list:
        errors = []
        for call in (lambda: DBOS.trigger_schedule("s"),
                     lambda: DBOS.backfill_schedule("s", datetime.datetime(2024, 1, 1),
                                                    datetime.datetime(2024, 1, 2)),
                     lambda: DBOS.apply_schedules([])):
            try:
                call()
            except DBOSException as error:
                errors.append(str(error))
        return errors

    DBOS.launch()
    DBOS.create_schedule(schedule_name="s", workflow_fn=runs.workflow, schedule=NEVER_SOON)
    assert [e.split(" cannot")[0] for e in inside()] == [
        "DBOS.trigger_schedule", "DBOS.backfill_schedule", "DBOS.apply_schedules"]
    assert all("cannot be called from within a workflow" in e for e in inside())


# ---- trigger and backfill ----


@both
def test_trigger_runs_now_also_when_paused(dbos, runs):
    DBOS.launch()
    DBOS.create_schedule(schedule_name="t", workflow_fn=runs.workflow, schedule=NEVER_SOON,
                         context="ctx", cron_timezone="America/New_York")
    DBOS.pause_schedule("t")
    before = datetime.datetime.now(UTC)
    handle = DBOS.trigger_schedule("t")
    handle.get_result()
    [(workflow_id, when, context)] = runs
    assert workflow_id == handle.workflow_id == f"sched-t-trigger-{when.isoformat()}"
    assert when.tzinfo is not None and when.utcoffset() == datetime.timedelta(0)  # UTC now
    assert before - datetime.timedelta(seconds=1) <= when <= datetime.datetime.now(UTC)
    assert context == "ctx"
    assert DBOS.get_workflow_status(workflow_id).schedule_name == "t"
    assert DBOS.get_schedule("t")["status"] == "PAUSED"
    assert DBOS.get_schedule("t")["last_fired_at"] is None


@both
def test_backfill_runs_the_times_inside_the_window_once(dbos, runs):
    DBOS.launch()
    DBOS.create_schedule(schedule_name="h", workflow_fn=runs.workflow, schedule="0 * * * *")

    def hour(h):
        return f"sched-h-2024-03-01T{h:02d}:00:00+00:00"

    first = DBOS.backfill_schedule("h", datetime.datetime(2024, 3, 1, 0, 0),
                                   datetime.datetime(2024, 3, 1, 3, 30))
    assert [h.workflow_id for h in first] == [hour(1), hour(2), hour(3)]  # 00:00 excluded
    for handle in first:
        handle.get_result()
    # Overlapping: 02:00 is the start (excluded), 03:00 ran already; 04:00 and 05:00 are new.
    second = DBOS.backfill_schedule("h", datetime.datetime(2024, 3, 1, 2, 0),
                                    datetime.datetime(2024, 3, 1, 6, 0))  # 06:00 excluded
    assert [h.workflow_id for h in second] == [hour(3), hour(4), hour(5)]
    for handle in second:
        handle.get_result()
    assert sorted(run_ids(runs)) == [hour(h) for h in range(1, 6)]  # each time once
    assert DBOS.backfill_schedule("h", datetime.datetime(2024, 3, 2),
                                  datetime.datetime(2024, 3, 1)) == []
    assert DBOS.get_schedule("h")["last_fired_at"] is None


def test_backfill_checks_its_window(dbos, runs):
    DBOS.launch()
    DBOS.create_schedule(schedule_name="h", workflow_fn=runs.workflow, schedule="0 * * * *")
    with pytest.raises(DBOSException, match="start must be a datetime"):
        DBOS.backfill_schedule("h", "2024-01-01", datetime.datetime(2024, 1, 2))


# ---- downtime and pauses ----


def down_and_up(config, runs, automatic_backfill):
    """Launch, let an every-second schedule "down" fire, stop for 2.5 s, launch again and
    let it fire after that; when it stopped and restarted (just before the second launch),
    and the times that ran."""
    DBOS.launch()
    DBOS.create_schedule(schedule_name="down", workflow_fn=runs.workflow,
                         schedule=EVERY_SECOND, automatic_backfill=automatic_backfill)
    wait_until(lambda: len(runs) >= 1, "a run", timeout=15)
    DBOS.destroy()
    stopped = datetime.datetime.now(UTC)
    time.sleep(2.5)
    DBOS(config=config)
    restarted = datetime.datetime.now(UTC)
    DBOS.launch()
    wait_until(lambda: any(when > restarted + datetime.timedelta(seconds=1)
                           for when in times_of(runs, "down")), "a live run after restart",
               timeout=15)
    DBOS.delete_schedule("down")
    return stopped, restarted, times_of(runs, "down")


@both
@pytest.mark.slow
def test_automatic_backfill_runs_the_times_missed_while_down(dbos, config, runs):
    stopped, restarted, ran = down_and_up(config, runs, True)
    times = ran
    if ON_DBOS:  # DBOS 3.4.0 can skip the time that falls while it launches (seen in CI)
        launching = {t for t in times_of_seconds(ran[0], ran[-1])
                     if restarted - datetime.timedelta(seconds=1) < t
                     <= restarted + datetime.timedelta(seconds=2)}
        times = sorted(ran + [t for t in launching if t not in ran])
    assert_consecutive_seconds(times)  # none missing, none twice
    missed = [t for t in times if stopped < t < restarted]
    assert len(missed) >= 2
    # In order: each missed run was created no later than the next one (of the times that
    # ran: a time DBOS skipped has no workflow).
    statuses = {s.workflow_id: s for s in DBOS.list_workflows(workflow_id_prefix="sched-down-")}
    created = [statuses[f"sched-down-{t.isoformat()}"].created_at for t in ran]
    assert created == sorted(created)


@both
@pytest.mark.slow
def test_without_automatic_backfill_missed_times_are_skipped(dbos, config, runs):
    stopped, restarted, times = down_and_up(config, runs, False)
    assert times == sorted(set(times))
    # Nothing from the downtime (a time just before the stop may have been fired late).
    assert not [t for t in times if stopped + datetime.timedelta(seconds=1) < t
                < restarted - datetime.timedelta(seconds=0.5)], times
    assert any(t > restarted for t in times)


@pytest.mark.slow
@pytest.mark.parametrize("automatic_backfill", [True, False])
def test_resume_after_a_pause(dbos, runs, automatic_backfill):
    """With automatic_backfill, resume runs the times missed while paused (as DBOS
    Transact); without it, they are skipped."""
    DBOS.launch()
    DBOS.create_schedule(schedule_name="p", workflow_fn=runs.workflow, schedule=EVERY_SECOND,
                         automatic_backfill=automatic_backfill)
    wait_until(lambda: len(runs) >= 2, "two runs")
    DBOS.pause_schedule("p")
    paused = datetime.datetime.now(UTC)
    count = len(runs)
    time.sleep(2.5)
    assert len(runs) <= count + 1  # at most one fired just as it paused
    resumed = datetime.datetime.now(UTC)
    DBOS.resume_schedule("p")
    wait_until(lambda: any(when > resumed for when in times_of(runs, "p")), "a run after resume")
    DBOS.delete_schedule("p")
    times = times_of(runs, "p")
    while_paused = [t for t in times if paused < t < resumed - datetime.timedelta(seconds=0.5)]
    if automatic_backfill:
        assert_consecutive_seconds(times)
        assert len(while_paused) >= 2
    else:
        assert times == sorted(set(times))
        assert [t for t in while_paused if t > paused + datetime.timedelta(seconds=1)] == []


@both
def test_a_changed_cron_starts_from_the_change(dbos, runs):
    """apply_schedules giving a schedule other times: they start from the change, none of
    the new times since the schedule was created runs (nothing was due then)."""
    DBOS.launch()
    DBOS.create_schedule(schedule_name="c", workflow_fn=runs.workflow, schedule=NEVER_SOON)
    time.sleep(2.2)
    changed = datetime.datetime.now(UTC)
    DBOS.apply_schedules([{"schedule_name": "c", "workflow_fn": runs.workflow,
                           "schedule": EVERY_SECOND}])
    wait_until(lambda: runs, "a run after the change", timeout=15)
    DBOS.delete_schedule("c")
    times = times_of(runs, "c")
    assert times and all(t > changed - datetime.timedelta(seconds=0.5) for t in times), (
        changed, times)


def test_last_fired_at_follows_the_live_runs(dbos, runs):
    DBOS.launch()
    DBOS.create_schedule(schedule_name="l", workflow_fn=runs.workflow, schedule=EVERY_SECOND)
    wait_until(lambda: len(runs) >= 2, "two runs")
    DBOS.pause_schedule("l")
    time.sleep(0.1)
    last = DBOS.get_schedule("l")["last_fired_at"]
    assert last == max(times_of(runs, "l")).isoformat()


def test_a_deleted_schedule_stops_firing_and_its_runs_stay(dbos, runs):
    DBOS.launch()
    DBOS.create_schedule(schedule_name="d", workflow_fn=runs.workflow, schedule=EVERY_SECOND)
    wait_until(lambda: len(runs) >= 1, "a run")
    DBOS.delete_schedule("d")
    count = len(runs)
    time.sleep(1.5)
    assert len(runs) <= count + 1  # one fired as it was deleted, at most
    assert DBOS.list_workflows(workflow_id_prefix="sched-d-")
