"""DBOS.send / DBOS.recv: FIFO per topic, timeouts, idempotency, and where they may be called."""

import threading
import time

import pytest

from engine import DBOS, DBOSException, DBOSNonExistentWorkflowError, SetWorkflowID


@pytest.mark.both_engines
def test_messages_arrive_in_order_per_topic(dbos):
    @DBOS.workflow()
    def inbox() -> dict:
        return {
            "a": [DBOS.recv("a", timeout_seconds=5) for _ in range(3)],
            "b": DBOS.recv("b", timeout_seconds=5),
            "none": DBOS.recv(timeout_seconds=5),
        }

    DBOS.launch()
    with SetWorkflowID("inbox"):
        handle = DBOS.start_workflow(inbox)
    for i in range(3):
        DBOS.send("inbox", f"a{i}", "a")
    DBOS.send("inbox", {"nested": [1, 2]}, "b")
    DBOS.send("inbox", "no topic")
    assert handle.get_result() == {"a": ["a0", "a1", "a2"], "b": {"nested": [1, 2]},
                                   "none": "no topic"}
    names = [s["function_name"] for s in DBOS.list_workflow_steps("inbox")]
    assert names == ["DBOS.recv", "DBOS.sleep"] * 5


@pytest.mark.both_engines
def test_recv_times_out_with_none(dbos):
    @DBOS.workflow()
    def waits() -> object:
        return DBOS.recv("never", timeout_seconds=0.2)

    DBOS.launch()
    started = time.monotonic()
    assert waits() is None
    assert 0.15 < time.monotonic() - started < 3


RARE_POLLING_SEC = 5.0


@pytest.mark.deliberate_difference(
    "a send wakes a recv waiting in the same process at once; DBOS Transact on SQLite finds "
    "the message at its next poll"
)
def test_recv_wakes_as_soon_as_a_message_is_sent(dbos, config):
    """The send's commit wakes the waiter: with polling every 5 s, a wake-up that came from a
    poll would take seconds, not the fraction of a second asserted."""
    DBOS.destroy(destroy_registry=True)
    DBOS(config={**config, "notification_listener_polling_interval_sec": RARE_POLLING_SEC})

    @DBOS.workflow()
    def waits() -> str:
        return DBOS.recv(timeout_seconds=30)

    DBOS.launch()
    launched = time.monotonic()
    with SetWorkflowID("waiter"):
        handle = DBOS.start_workflow(waits)
    # The recv has recorded its timeout (the DBOS.sleep step), so it is waiting, or about to.
    while [s["function_name"] for s in DBOS.list_workflow_steps("waiter")] != ["DBOS.sleep"]:
        assert time.monotonic() - launched < 5, DBOS.list_workflow_steps("waiter")
        time.sleep(0.01)
    time.sleep(0.2)
    sent = time.monotonic()
    DBOS.send("waiter", "now")
    assert handle.get_result() == "now"
    woken = time.monotonic()
    assert woken - sent < 1.0  # no polling delay: woken by the commit
    assert woken - launched < RARE_POLLING_SEC - 1  # before the first poll could have run


@pytest.mark.both_engines
def test_messages_sent_before_recv_wait_for_it(dbos):
    gate = threading.Event()

    @DBOS.workflow()
    def late() -> list:
        gate.wait(5)
        return [DBOS.recv(timeout_seconds=1), DBOS.recv(timeout_seconds=0.1)]

    DBOS.launch()
    handle = DBOS.start_workflow(late)
    DBOS.send(handle.workflow_id, "early")
    gate.set()
    assert handle.get_result() == ["early", None]


@pytest.mark.both_engines
def test_send_from_a_workflow_is_recorded_and_not_repeated(dbos):
    @DBOS.workflow()
    def receiver() -> list:
        return [DBOS.recv(timeout_seconds=5), DBOS.recv(timeout_seconds=0.3)]

    @DBOS.workflow()
    def sender(destination: str) -> None:
        DBOS.send(destination, "once")

    DBOS.launch()
    with SetWorkflowID("r"):
        handle = DBOS.start_workflow(receiver)
    for _ in range(3):
        with SetWorkflowID("s"):
            sender("r")
    assert handle.get_result() == ["once", None]
    assert [s["function_name"] for s in DBOS.list_workflow_steps("s")] == ["DBOS.send"]


@pytest.mark.both_engines
def test_idempotency_key_makes_a_repeated_send_a_no_op(dbos):
    @DBOS.workflow()
    def receiver() -> list:
        return [DBOS.recv(timeout_seconds=5), DBOS.recv(timeout_seconds=0.3)]

    DBOS.launch()
    handle = DBOS.start_workflow(receiver)
    for _ in range(3):
        DBOS.send(handle.workflow_id, "payment", idempotency_key="pay-1")
    assert handle.get_result() == ["payment", None]


@pytest.mark.both_engines
def test_send_to_an_unknown_workflow_raises(dbos):
    @DBOS.workflow()
    def sender() -> str:
        try:
            DBOS.send("nobody", "hello")
        except DBOSNonExistentWorkflowError as exc:
            return str(exc)
        return "sent"

    DBOS.launch()
    with pytest.raises(DBOSNonExistentWorkflowError):
        DBOS.send("nobody", "hello")
    with SetWorkflowID("s"):
        assert "nobody" in sender()
    with SetWorkflowID("s"):  # replays the recorded error
        assert "nobody" in sender()


@pytest.mark.both_engines
def test_send_from_a_step_is_allowed(dbos):
    @DBOS.workflow()
    def receiver() -> str:
        return DBOS.recv(timeout_seconds=5)

    @DBOS.step()
    def notify(destination: str) -> None:
        DBOS.send(destination, "from a step")

    @DBOS.workflow()
    def sender(destination: str) -> None:
        notify(destination)

    DBOS.launch()
    handle = DBOS.start_workflow(receiver)
    sender(handle.workflow_id)
    assert handle.get_result() == "from a step"


def test_recv_outside_a_workflow_or_in_a_step_raises(dbos):
    @DBOS.step()
    def step() -> str:
        try:
            DBOS.recv(timeout_seconds=0.1)
        except DBOSException as exc:
            return str(exc)
        return "no error"

    @DBOS.workflow()
    def workflow() -> str:
        return step()

    DBOS.launch()
    with pytest.raises(DBOSException, match="within a workflow"):
        DBOS.recv()
    assert "inside a step" in workflow()
