"""DBOS.set_event / get_event / get_all_events."""

import time

import pytest

from engine import DBOS, DBOSException, SetWorkflowID

pytestmark = pytest.mark.both_engines  # every test here uses DBOS names only


def test_events_are_published_and_read(dbos):
    @DBOS.workflow()
    def publisher() -> None:
        DBOS.set_event("stage", "started")
        DBOS.set_event("count", 1)
        DBOS.recv("go", timeout_seconds=5)
        DBOS.set_event("stage", "finished")

    DBOS.launch()
    with SetWorkflowID("p"):
        handle = DBOS.start_workflow(publisher)
    assert DBOS.get_event("p", "count", timeout_seconds=5) == 1
    assert DBOS.get_all_events("p") == {"stage": "started", "count": 1}
    DBOS.send("p", None, "go")
    handle.get_result()
    assert DBOS.get_event("p", "stage") == "finished"
    assert DBOS.get_all_events("p") == {"stage": "finished", "count": 1}


def test_get_event_waits_and_times_out(dbos):
    @DBOS.workflow()
    def slow_publisher() -> None:
        DBOS.sleep(0.3)
        DBOS.set_event("ready", True)

    DBOS.launch()
    handle = DBOS.start_workflow(slow_publisher)
    assert DBOS.get_event(handle.workflow_id, "missing", timeout_seconds=0.1) is None
    started = time.monotonic()
    assert DBOS.get_event(handle.workflow_id, "ready", timeout_seconds=5) is True
    assert time.monotonic() - started < 2


def test_get_event_in_a_workflow_is_recorded(dbos):
    @DBOS.workflow()
    def publisher() -> None:
        DBOS.set_event("value", 42)

    @DBOS.workflow()
    def reader(target: str) -> list:
        return [DBOS.get_event(target, "value", timeout_seconds=5),
                DBOS.get_event(target, "absent", timeout_seconds=0.1)]

    DBOS.launch()
    with SetWorkflowID("pub"):
        publisher()
    with SetWorkflowID("reader"):
        assert reader("pub") == [42, None]
    steps = [(s["function_name"], s["output"]) for s in DBOS.list_workflow_steps("reader")]
    assert [name for name, _ in steps] == ["DBOS.getEvent", "DBOS.sleep"] * 2
    assert steps[0][1] == 42 and steps[2][1] is None


def test_set_event_from_a_step_and_not_outside(dbos):
    @DBOS.step()
    def publish() -> None:
        DBOS.set_event("from", "step")

    @DBOS.workflow()
    def workflow() -> None:
        publish()

    DBOS.launch()
    with SetWorkflowID("w"):
        workflow()
    assert DBOS.get_event("w", "from") == "step"
    assert [s["function_name"] for s in DBOS.list_workflow_steps("w")] == [
        publish.__qualname__]
    with pytest.raises(DBOSException, match="within a workflow or step"):
        DBOS.set_event("key", "value")
