"""DBOS.send_bulk (+ _async, DBOSClient.send_bulk): many messages in one transaction, all or
none, recorded as one operation in a workflow, as DBOS Transact 3.4 has it."""

import asyncio

import pytest

from conftest import journal_url
from engine import (
    DBOS,
    DBOSClient,
    DBOSException,
    DBOSNonExistentWorkflowError,
    SendMessage,
    SetWorkflowID,
)

pytestmark = pytest.mark.both_engines  # every test here uses DBOS names only


def start_inboxes(*workflow_ids, topic="t", count=2):
    @DBOS.workflow()
    def inbox() -> list:
        return [DBOS.recv(topic, timeout_seconds=10) for _ in range(count)]

    DBOS.launch()
    handles = []
    for workflow_id in workflow_ids:
        with SetWorkflowID(workflow_id):
            handles.append(DBOS.start_workflow(inbox))
    return handles


def test_send_bulk_delivers_every_message_in_order(dbos):
    a, b = start_inboxes("a", "b")
    DBOS.send_bulk([SendMessage("a", 1, "t"), SendMessage("b", {"x": [1]}, "t"),
                    SendMessage("a", 2, topic="t"), SendMessage(destination_id="b",
                                                                message="two", topic="t")])
    assert a.get_result() == [1, 2]
    assert b.get_result() == [{"x": [1]}, "two"]
    DBOS.send_bulk([])  # nothing to send


def test_a_missing_destination_sends_nothing(dbos):
    (a,) = start_inboxes("a", count=1)
    with pytest.raises(DBOSNonExistentWorkflowError) as raised:
        DBOS.send_bulk([SendMessage("a", "first", "t"), SendMessage("nobody", "x", "t")])
    assert "nobody" in str(raised.value)
    DBOS.send("a", "second", "t")
    assert a.get_result() == ["second"]  # "first" was never sent


def test_idempotency_keys(dbos):
    (a,) = start_inboxes("a", count=3)
    DBOS.send_bulk([SendMessage("a", 1, "t", idempotency_key="k1"),
                    SendMessage("a", 2, "t", idempotency_key="k2")])
    DBOS.send_bulk([SendMessage("a", 1, "t", idempotency_key="k1"),  # sent before: skipped
                    SendMessage("a", 3, "t")])
    assert a.get_result() == [1, 2, 3]
    with pytest.raises(DBOSException, match="duplicate idempotency keys: k"):
        DBOS.send_bulk([SendMessage("a", 1, "t", idempotency_key="k"),
                        SendMessage("b", 2, "t", idempotency_key="k")])


def test_in_a_workflow_it_is_one_operation(dbos):
    @DBOS.workflow()
    def inbox() -> list:
        return [DBOS.recv("t", timeout_seconds=t) for t in (10, 10, 3)]

    @DBOS.step()
    def after() -> int:
        return 2

    @DBOS.workflow()
    def sender() -> int:
        DBOS.send_bulk([SendMessage("inbox", "m1", "t"), SendMessage("inbox", "m2", "t")])
        return after()

    DBOS.launch()
    with SetWorkflowID("inbox"):
        handle = DBOS.start_workflow(inbox)
    with SetWorkflowID("sender"):
        assert sender() == 2
    # A fork from operation 2 replays the recorded send_bulk: nothing is sent again.
    assert DBOS.fork_workflow("sender", 2).get_result() == 2
    assert handle.get_result() == ["m1", "m2", None]
    steps = DBOS.list_workflow_steps("sender")
    assert [s["function_id"] for s in steps] == [1, 2]
    assert steps[0]["function_name"] == "DBOS.send_bulk"
    assert steps[1]["function_name"].endswith("after")


def test_in_a_workflow_a_missing_destination_is_recorded(dbos):
    @DBOS.workflow()
    def sender() -> str:
        try:
            DBOS.send_bulk([SendMessage("nobody", 1)])
        except DBOSNonExistentWorkflowError:
            return "refused"
        return "sent"

    DBOS.launch()
    with SetWorkflowID("s"):
        assert sender() == "refused"
    (step,) = DBOS.list_workflow_steps("s")
    assert step["function_name"] == "DBOS.send_bulk"
    assert isinstance(step["error"], DBOSNonExistentWorkflowError)


def test_send_bulk_async(dbos):
    a, b = start_inboxes("a", "b", count=1)

    async def send():
        await DBOS.send_bulk_async([SendMessage("a", "x", "t"), SendMessage("b", "y", "t")])

    asyncio.run(send())
    assert (a.get_result(), b.get_result()) == (["x"], ["y"])

    async def send_sync():
        DBOS.send_bulk([])

    with pytest.raises(RuntimeError, match="send_bulk.*_async"):
        asyncio.run(send_sync())


def test_client_send_bulk(dbos, journal_path):
    a, b = start_inboxes("a", "b", count=2)
    client = DBOSClient(system_database_url=journal_url(journal_path))
    try:
        client.send_bulk([SendMessage("a", 1, "t"), SendMessage("b", 2, "t")])
        with pytest.raises(DBOSNonExistentWorkflowError):
            client.send_bulk([SendMessage("a", "lost", "t"), SendMessage("nobody", 0, "t")])
        asyncio.run(client.send_bulk_async([SendMessage("a", 3, "t"), SendMessage("b", 4, "t")]))
    finally:
        client.destroy()
    assert (a.get_result(), b.get_result()) == ([1, 3], [2, 4])
