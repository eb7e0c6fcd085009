"""DBOS.sleep and SetWorkflowTimeout."""

import threading
import time

import pytest

from engine import (
    DBOS,
    DBOSAwaitedWorkflowCancelledError,
    DBOSException,
    SetWorkflowID,
    SetWorkflowTimeout,
)


@pytest.mark.both_engines
def test_sleep_records_its_wake_up_time_and_replays_instantly(dbos):
    @DBOS.workflow()
    def nap() -> float:
        DBOS.sleep(0.3)
        return 1.0

    DBOS.launch()
    started = time.monotonic()
    with SetWorkflowID("nap"):
        nap()
    assert time.monotonic() - started >= 0.3
    [step] = DBOS.list_workflow_steps("nap")
    assert step["function_name"] == "DBOS.sleep"
    assert abs(step["output"] - (time.time() - (time.monotonic() - started) + 0.3)) < 0.5
    started = time.monotonic()
    with SetWorkflowID("nap"):
        nap()
    assert time.monotonic() - started < 1.0  # the 0.3 s sleep is not slept again


@pytest.mark.both_engines
def test_sleep_of_zero_records_nothing_and_outside_a_workflow_raises(dbos):
    @DBOS.workflow()
    def nap() -> None:
        DBOS.sleep(0)

    DBOS.launch()
    with SetWorkflowID("z"):
        nap()
    assert DBOS.list_workflow_steps("z") == []
    with pytest.raises(DBOSException, match="within a workflow"):
        DBOS.sleep(0.01)


@pytest.mark.both_engines
def test_timeout_cancels_the_workflow_and_its_waiters(dbos):
    steps = []

    @DBOS.step()
    def tick(i: int) -> int:
        steps.append(i)
        return i

    @DBOS.workflow()
    def endless() -> None:
        i = 0
        while True:
            tick(i)
            DBOS.sleep(0.05)
            i += 1

    DBOS.launch()
    with SetWorkflowTimeout(0.5):
        handle = DBOS.start_workflow(endless)
    started = time.monotonic()
    with pytest.raises(DBOSAwaitedWorkflowCancelledError):
        handle.get_result()
    assert time.monotonic() - started < 3
    assert handle.get_status().status == "CANCELLED"
    count = len(steps)
    time.sleep(0.3)
    assert len(steps) == count  # it stopped


@pytest.mark.deliberate_difference(
    "a deadline ends the workflow's recv or get_event wait, and its waiters, at once; DBOS "
    "Transact 3.4 notices it when the wait ends (here after 60 s)"
)
def test_timeout_ends_a_long_recv(dbos):
    @DBOS.workflow()
    def waits() -> None:
        DBOS.recv(timeout_seconds=60)

    DBOS.launch()
    with SetWorkflowTimeout(0.3):
        handle = DBOS.start_workflow(waits)
    started = time.monotonic()
    with pytest.raises(DBOSAwaitedWorkflowCancelledError):
        handle.get_result()
    assert time.monotonic() - started < 3


@pytest.mark.both_engines
def test_children_inherit_the_deadline_unless_detached(dbos):
    @DBOS.workflow()
    def child() -> str:
        DBOS.sleep(1.0)
        return "child done"

    @DBOS.workflow()
    def parent() -> list:
        inherited = DBOS.start_workflow(child)
        with SetWorkflowTimeout(None):
            detached = DBOS.start_workflow(child)
        DBOS.sleep(5)
        return [inherited.workflow_id, detached.workflow_id]

    DBOS.launch()
    with SetWorkflowID("parent"), SetWorkflowTimeout(0.4):
        handle = DBOS.start_workflow(parent)
    with pytest.raises(DBOSAwaitedWorkflowCancelledError):
        handle.get_result()
    assert DBOS.retrieve_workflow("parent-1").get_status().workflow_deadline_epoch_ms == (
        DBOS.get_workflow_status("parent").workflow_deadline_epoch_ms)
    with pytest.raises(DBOSAwaitedWorkflowCancelledError):
        DBOS.retrieve_workflow("parent-1").get_result()
    assert DBOS.retrieve_workflow("parent-2").get_result() == "child done"


@pytest.mark.deliberate_difference(
    "durations are checked where they are given (NaN, infinite, zero or negative timeouts "
    "raise ValueError); DBOS Transact accepts them"
)
def test_invalid_timeouts_are_refused():
    for bad in (0, -1, float("nan"), float("inf"), 1e300, "10"):
        with pytest.raises(DBOSException, match="workflow_timeout_sec"):
            SetWorkflowTimeout(bad)
        with pytest.raises(ValueError, match="workflow_timeout_sec"):
            SetWorkflowTimeout(bad)
