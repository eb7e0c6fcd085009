"""DBOS.write_stream / close_stream / read_stream."""

import threading

import pytest

from engine import DBOS, SetWorkflowID

pytestmark = pytest.mark.both_engines  # every test here uses DBOS names only


def test_stream_values_arrive_in_order_until_closed(dbos):
    gate = threading.Event()

    @DBOS.workflow()
    def producer() -> None:
        for i in range(3):
            DBOS.write_stream("numbers", i)
        gate.wait(5)
        DBOS.write_stream("numbers", {"last": None})
        DBOS.close_stream("numbers")
        DBOS.sleep(0.2)

    DBOS.launch()
    handle = DBOS.start_workflow(producer)
    reader = DBOS.read_stream(handle.workflow_id, "numbers")
    assert [next(reader) for _ in range(3)] == [0, 1, 2]
    gate.set()
    assert list(reader) == [{"last": None}]
    handle.get_result()


def test_stream_ends_when_its_workflow_finishes(dbos):
    @DBOS.workflow()
    def producer() -> None:
        DBOS.write_stream("s", "only")

    DBOS.launch()
    with SetWorkflowID("p"):
        producer()
    assert list(DBOS.read_stream("p", "s")) == ["only"]
    assert list(DBOS.read_stream("p", "other")) == []


def test_reading_a_stream_in_a_workflow_is_recorded(dbos):
    @DBOS.workflow()
    def producer() -> None:
        DBOS.write_stream("s", 1)
        DBOS.write_stream("s", None)
        DBOS.close_stream("s")

    @DBOS.workflow()
    def consumer(target: str) -> list:
        return list(DBOS.read_stream(target, "s"))

    DBOS.launch()
    with SetWorkflowID("p"):
        producer()
    for _ in range(2):
        with SetWorkflowID("c"):
            assert consumer("p") == [1, None]
    names = [s["function_name"] for s in DBOS.list_workflow_steps("c")]
    assert names == ["DBOS.readStream"] * 3
    assert [s["function_name"] for s in DBOS.list_workflow_steps("p")] == [
        "DBOS.writeStream", "DBOS.writeStream", "DBOS.closeStream"]
