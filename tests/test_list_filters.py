"""list_workflows' filters beyond the basic ones, and WorkflowStatus.was_forked_from, as DBOS
Transact 3.4 has them: completed_after/before, dequeued_after/before, has_parent, is_fork,
was_forked_from, queues_only (and list_queued_workflows' share of them)."""

import datetime
import threading
import time

import pytest

from engine import DBOS, SetWorkflowID

pytestmark = pytest.mark.both_engines  # every test here uses DBOS names only


def iso(epoch_ms):
    return datetime.datetime.fromtimestamp(epoch_ms / 1000).isoformat()


def ids(statuses):
    return sorted(s.workflow_id for s in statuses)


@pytest.fixture
def family(dbos):
    """"parent" with child "parent-1", "solo", a fork "fork" of "solo", and "queued" that ran
    on a queue; "waiting" still runs (on the queue too)."""
    gate = threading.Event()

    @DBOS.workflow()
    def child() -> int:
        return 1

    @DBOS.workflow()
    def parent() -> int:
        return child()

    @DBOS.workflow()
    def solo(n: int) -> int:
        return n

    @DBOS.workflow()
    def waits() -> None:
        gate.wait(10)

    DBOS.launch()
    DBOS.register_queue("work")
    with SetWorkflowID("parent"):
        parent()
    with SetWorkflowID("solo"):
        solo(1)
    with SetWorkflowID("fork"):
        DBOS.fork_workflow("solo", 1).get_result()
    with SetWorkflowID("queued"):
        DBOS.enqueue_workflow("work", solo, 2).get_result()
    with SetWorkflowID("waiting"):
        waiting = DBOS.enqueue_workflow("work", waits)
    deadline = time.monotonic() + 10
    while DBOS.get_workflow_status("waiting").status != "PENDING":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    yield
    gate.set()
    waiting.get_result()


def test_was_forked_from_in_status_and_filter(family):
    assert DBOS.get_workflow_status("solo").was_forked_from is True
    assert DBOS.get_workflow_status("fork").was_forked_from is False
    assert DBOS.get_workflow_status("fork").forked_from == "solo"
    assert ids(DBOS.list_workflows(was_forked_from=True)) == ["solo"]
    assert "solo" not in ids(DBOS.list_workflows(was_forked_from=False))
    by_id = {s.workflow_id: s.was_forked_from for s in DBOS.list_workflows()}
    assert by_id["solo"] is True and by_id["parent"] is False


def test_is_fork_and_has_parent(family):
    assert ids(DBOS.list_workflows(is_fork=True)) == ["fork"]
    assert "fork" not in ids(DBOS.list_workflows(is_fork=False))
    assert ids(DBOS.list_workflows(has_parent=True)) == ["parent-1"]
    assert ids(DBOS.list_workflows(has_parent=False)) == [
        "fork", "parent", "queued", "solo", "waiting"]
    assert ids(DBOS.list_workflows(has_parent=False, is_fork=False, name=["never"])) == []


def test_completed_after_and_before(family):
    done = {s.workflow_id: s.completed_at for s in DBOS.list_workflows()}
    assert done["waiting"] is None
    last = max(v for v in done.values() if v is not None)
    first = min(v for v in done.values() if v is not None)
    everything_done = ids(DBOS.list_workflows(completed_after=iso(first - 1000)))
    assert everything_done == ["fork", "parent", "parent-1", "queued", "solo"]
    assert ids(DBOS.list_workflows(completed_before=iso(last + 1000))) == everything_done
    assert ids(DBOS.list_workflows(completed_after=iso(last + 60_000))) == []
    assert ids(DBOS.list_workflows(completed_before=iso(first - 60_000))) == []


def test_dequeued_after_and_before(family):
    dequeued = {s.workflow_id: s.dequeued_at for s in DBOS.list_workflows()}
    assert dequeued["queued"] is not None and dequeued["solo"] is None
    since = iso(dequeued["queued"] - 1000)
    assert "queued" in ids(DBOS.list_workflows(dequeued_after=since))
    assert "solo" not in ids(DBOS.list_workflows(dequeued_after=since))
    assert ids(DBOS.list_workflows(dequeued_before=iso(dequeued["queued"] - 60_000))) == []
    assert "queued" in ids(DBOS.list_queued_workflows(dequeued_after=since, status=["SUCCESS"]))


def test_queues_only(family):
    assert ids(DBOS.list_workflows(queues_only=True)) == ["waiting"]
    finished_on_queues = ids(DBOS.list_workflows(queues_only=True, status="SUCCESS"))
    assert "queued" in finished_on_queues and "solo" not in finished_on_queues  # DBOS: a fork too
    assert ids(DBOS.list_workflows(queues_only=True, name=["nothing"])) == []
    assert ids(DBOS.list_queued_workflows(has_parent=False)) == ["waiting"]
    assert ids(DBOS.list_queued_workflows(is_fork=True)) == []


def test_schedule_name_lists_the_runs_of_a_schedule(dbos):
    @DBOS.workflow()
    def tick(scheduled_time: datetime.datetime, context: str) -> str:
        return context

    @DBOS.workflow()
    def other() -> None:
        pass

    DBOS.launch()
    DBOS.create_schedule(schedule_name="a", workflow_fn=tick, schedule="0 0 1 1 *", context="a")
    DBOS.create_schedule(schedule_name="b", workflow_fn=tick, schedule="0 0 1 1 *", context="b")
    other()
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    end = datetime.datetime(2022, 1, 2, tzinfo=datetime.timezone.utc)
    runs_a = DBOS.backfill_schedule("a", start, end)  # 2021 and 2022, strictly inside
    runs_b = DBOS.backfill_schedule("b", start, end)
    assert [h.get_result() for h in runs_a + runs_b] == ["a", "a", "b", "b"]
    listed = DBOS.list_workflows(schedule_name="a")
    assert ids(listed) == sorted(h.workflow_id for h in runs_a)
    assert {s.schedule_name for s in listed} == {"a"}
    assert len(DBOS.list_workflows(schedule_name=["a", "b"])) == 4
    assert DBOS.list_workflows(schedule_name="c") == []
