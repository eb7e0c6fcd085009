"""cancel_workflows, resume_workflows, delete_workflows (and their _async twins): many
workflows in one call, as DBOS Transact 3.4 has them."""

import asyncio

import pytest
from conftest import wait_until

from engine import (
    DBOS,
    ON_DBOS,
    DBOSAwaitedWorkflowCancelledError,
    DBOSNonExistentWorkflowError,
    SetWorkflowID,
)

pytestmark = pytest.mark.both_engines  # every test here uses DBOS names only


def start_waiting(*workflow_ids):
    @DBOS.workflow()
    def waits() -> str:
        DBOS.recv("go", timeout_seconds=30)
        return "done"

    DBOS.launch()
    for workflow_id in workflow_ids:
        with SetWorkflowID(workflow_id):
            DBOS.start_workflow(waits)


def statuses(*workflow_ids):
    found = [DBOS.get_workflow_status(w) for w in workflow_ids]
    return [None if s is None else s.status for s in found]


def test_cancel_workflows_cancels_each_and_skips_unknown_ids(dbos):
    start_waiting("a", "b", "c")
    DBOS.cancel_workflows(["a", "b", "not-there"])
    assert statuses("a", "b", "c") == ["CANCELLED", "CANCELLED", "PENDING"]
    for workflow_id in ("a", "b"):
        with pytest.raises(DBOSAwaitedWorkflowCancelledError):
            DBOS.retrieve_workflow(workflow_id).get_result()
    DBOS.cancel_workflows([])  # nothing to do
    DBOS.send("c", "now", "go")
    assert DBOS.retrieve_workflow("c").get_result() == "done"
    DBOS.cancel_workflows(["c"])  # a finished workflow is left as it is
    assert statuses("c") == ["SUCCESS"]


def test_resume_workflows_gives_handles_in_order(dbos):
    start_waiting("a", "b")
    DBOS.cancel_workflows(["a", "b"])
    handles = DBOS.resume_workflows(["b", "a"])
    assert [h.get_workflow_id() for h in handles] == ["b", "a"]
    for workflow_id in ("a", "b"):
        DBOS.send(workflow_id, "now", "go")
    assert [h.get_result() for h in handles] == ["done", "done"]
    assert DBOS.resume_workflows([]) == []


def test_resume_workflows_with_an_unknown_id_resumes_none(dbos):
    start_waiting("a")
    DBOS.cancel_workflows(["a"])
    with pytest.raises(DBOSNonExistentWorkflowError) as raised:
        DBOS.resume_workflows(["a", "nope", "zz"])
    assert "nope" in str(raised.value) and "zz" in str(raised.value)
    assert statuses("a") == ["CANCELLED"]


def test_delete_workflows_with_and_without_children(dbos):
    @DBOS.workflow()
    def child() -> int:
        DBOS.set_event("e", 1)
        return 1

    @DBOS.workflow()
    def parent() -> int:
        return child()

    DBOS.launch()
    for workflow_id in ("p", "q", "r"):
        with SetWorkflowID(workflow_id):
            parent()
    DBOS.delete_workflows(["p", "q", "not-there"])
    assert statuses("p", "q", "r", "p-1", "q-1") == [None, None, "SUCCESS", "SUCCESS", "SUCCESS"]
    DBOS.delete_workflows(["r", "q-1"], delete_children=True)
    assert statuses("r", "r-1", "q-1", "p-1") == [None, None, None, "SUCCESS"]
    assert DBOS.get_all_events("r-1") == {}
    DBOS.delete_workflows([])


def test_cancel_workflows_with_children(dbos):
    @DBOS.workflow()
    def child() -> None:
        DBOS.recv(timeout_seconds=30)

    @DBOS.workflow()
    def parent() -> None:
        DBOS.start_workflow(child)
        DBOS.recv(timeout_seconds=30)

    DBOS.launch()
    for workflow_id in ("p", "q"):
        with SetWorkflowID(workflow_id):
            DBOS.start_workflow(parent)
    wait_until(lambda: statuses("p-1", "q-1") == ["PENDING", "PENDING"], "both children start")
    DBOS.cancel_workflows(["p", "q"], cancel_children=True)
    assert statuses("p", "p-1", "q", "q-1") == ["CANCELLED"] * 4


def test_async_twins(dbos):
    start_waiting("a", "b", "c")

    async def steer():
        await DBOS.cancel_workflows_async(["a", "b"])
        cancelled = [(await DBOS.get_workflow_status_async(w)).status for w in ("a", "b")]
        handles = await DBOS.resume_workflows_async(["a"])
        await DBOS.delete_workflows_async(["c"])
        return cancelled, handles

    cancelled, handles = asyncio.run(steer())
    assert cancelled == ["CANCELLED", "CANCELLED"]
    assert [h.get_workflow_id() for h in handles] == ["a"]
    assert statuses("b", "c") == ["CANCELLED", None]
    DBOS.send("a", "now", "go")
    assert DBOS.retrieve_workflow("a").get_result() == "done"


@pytest.mark.skipif(ON_DBOS, reason="DBOS fails with an SQLAlchemy ArgumentError")
def test_a_string_is_not_a_list_of_ids(dbos):
    start_waiting("ab")
    for call in (DBOS.cancel_workflows, DBOS.resume_workflows, DBOS.delete_workflows):
        with pytest.raises(ValueError, match="workflow_ids must be a list"):
            call("ab")
    assert statuses("ab") == ["PENDING"]


@pytest.mark.parametrize("call", ["cancel_workflows", "resume_workflows", "delete_workflows"])
def test_refused_while_an_event_loop_runs(dbos, call):
    DBOS.launch()

    async def call_sync():
        getattr(DBOS, call)([])

    with pytest.raises(RuntimeError, match=f"{call}.*_async"):
        asyncio.run(call_sync())


def test_resume_onto_a_queue(dbos):
    start_waiting("a", "b")
    DBOS.register_queue("resumed")
    DBOS.cancel_workflows(["a", "b"])
    handles = DBOS.resume_workflows(["a", "b"], queue_name="resumed")
    for workflow_id in ("a", "b"):
        DBOS.send(workflow_id, "now", "go")
    assert [h.get_result() for h in handles] == ["done", "done"]
    assert [h.get_status().queue_name for h in handles] == ["resumed", "resumed"]
    DBOS.cancel_workflow("a")  # finished: left as it is
    assert DBOS.resume_workflow("a", queue_name="resumed").get_status().status == "SUCCESS"


@pytest.mark.deliberate_difference("resuming onto a queue the journal lacks is refused; DBOS "
                                   "leaves the workflow ENQUEUED where no process takes it")
def test_resume_onto_an_unknown_queue_is_refused(dbos):
    start_waiting("a")
    DBOS.cancel_workflows(["a"])
    with pytest.raises(Exception, match="no queue is named 'nowhere'"):
        DBOS.resume_workflows(["a"], queue_name="nowhere")
    assert statuses("a") == ["CANCELLED"]
