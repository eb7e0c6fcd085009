"""read_stream's offset, timeout_seconds and polling_interval_sec, and read_stream_offset
(+ _async, and DBOSClient's), as DBOS Transact 3.4 has them."""

import asyncio
import math
import threading

import pytest

from conftest import journal_url
from engine import (
    DBOS,
    DBOSClient,
    DBOSNonExistentWorkflowError,
    DBOSStreamTimeoutError,
    SetWorkflowID,
)

pytestmark = pytest.mark.both_engines  # every test here uses DBOS names only


@pytest.fixture
def streams(dbos):
    """A finished workflow "done" with stream "s" = [0, 1, 2] (closed), and a running one,
    "open", that has written "s" = ["first"] and writes "second" when ``gate`` is set."""
    gate = threading.Event()

    @DBOS.workflow()
    def done() -> None:
        for i in range(3):
            DBOS.write_stream("s", i)
        DBOS.close_stream("s")

    @DBOS.workflow()
    def still_open() -> None:
        DBOS.write_stream("s", "first")
        gate.wait(10)
        DBOS.write_stream("s", "second")
        DBOS.close_stream("s")

    DBOS.launch()
    with SetWorkflowID("done"):
        done()
    with SetWorkflowID("open"):
        handle = DBOS.start_workflow(still_open)
    assert DBOS.read_stream_offset("open", "s", 0) == "first"
    yield gate
    gate.set()
    handle.get_result()


def test_read_stream_from_an_offset(streams):
    assert list(DBOS.read_stream("done", "s", offset=1)) == [1, 2]
    assert list(DBOS.read_stream("done", "s", offset=3)) == []
    assert list(DBOS.read_stream("done", "s", offset=9)) == []


def test_read_stream_offset_gives_one_value(streams):
    assert [DBOS.read_stream_offset("done", "s", i) for i in (2, 0, 1)] == [2, 0, 1]
    with pytest.raises(DBOSStreamTimeoutError):  # past the end: no value will ever arrive
        DBOS.read_stream_offset("done", "s", 3)
    with pytest.raises(DBOSStreamTimeoutError):  # a stream never written, of a finished workflow
        DBOS.read_stream_offset("done", "other", 0)


def test_read_stream_offset_waits_for_the_value(streams):
    threading.Timer(0.2, streams.set).start()
    assert DBOS.read_stream_offset("open", "s", 1, timeout_seconds=20) == "second"


def test_timeouts(streams):
    with pytest.raises(DBOSStreamTimeoutError) as raised:
        DBOS.read_stream_offset("open", "s", 1, timeout_seconds=0.2)
    assert raised.value.workflow_id == "open" and raised.value.key == "s"
    reader = DBOS.read_stream("open", "s", timeout_seconds=0.2)
    assert next(reader) == "first"
    with pytest.raises(DBOSStreamTimeoutError):
        next(reader)


def test_a_workflow_that_does_not_exist(streams):
    with pytest.raises(DBOSNonExistentWorkflowError):
        DBOS.read_stream_offset("nobody", "s", 0, timeout_seconds=1)
    with pytest.raises(DBOSNonExistentWorkflowError):
        list(DBOS.read_stream("nobody", "s"))


@pytest.mark.parametrize("arguments", [
    {"timeout_seconds": -1}, {"polling_interval_sec": 0}, {"polling_interval_sec": math.inf},
    {"polling_interval_sec": math.nan}, {"polling_interval_sec": 0.0001}])
def test_bad_durations_are_value_errors(streams, arguments):
    with pytest.raises(ValueError):
        DBOS.read_stream_offset("done", "s", 0, **arguments)
    with pytest.raises(ValueError):
        list(DBOS.read_stream("done", "s", **arguments))


def test_polling_interval_is_accepted(streams):
    assert list(DBOS.read_stream("done", "s", polling_interval_sec=0.01)) == [0, 1, 2]
    assert DBOS.read_stream_offset("done", "s", 2, polling_interval_sec=0.5) == 2


def test_in_a_workflow_each_read_is_recorded(streams):
    @DBOS.workflow()
    def reads() -> list:
        got = [DBOS.read_stream_offset("done", "s", 2)]
        got += list(DBOS.read_stream("done", "s", offset=1))
        try:
            DBOS.read_stream_offset("open", "s", 1, timeout_seconds=0.1)
        except DBOSStreamTimeoutError:
            got.append("timed out")
        return got

    with SetWorkflowID("r"):
        assert reads() == [2, 1, 2, "timed out"]
    steps = DBOS.list_workflow_steps("r")
    assert [s["function_name"] for s in steps] == [
        "DBOS.readStreamOffset", "DBOS.readStream", "DBOS.readStream", "DBOS.readStream",
        "DBOS.readStreamOffset"]
    assert isinstance(steps[-1]["error"], DBOSStreamTimeoutError)
    streams.set()  # the value now exists, but a replay keeps the recorded timeout
    DBOS.read_stream_offset("open", "s", 1)
    with SetWorkflowID("r"):
        assert reads() == [2, 1, 2, "timed out"]


def test_async_twins(streams):
    async def read():
        values = [v async for v in DBOS.read_stream_async("done", "s", offset=2)]
        values.append(await DBOS.read_stream_offset_async("done", "s", 0))
        try:
            await DBOS.read_stream_offset_async("open", "s", 1, timeout_seconds=0.1)
        except DBOSStreamTimeoutError:
            values.append("timed out")
        return values

    assert asyncio.run(read()) == [2, 0, "timed out"]

    async def sync_call():
        DBOS.read_stream_offset("done", "s", 0)

    with pytest.raises(RuntimeError, match="read_stream_offset.*_async"):
        asyncio.run(sync_call())


def test_client(streams, journal_path):
    client = DBOSClient(system_database_url=journal_url(journal_path))
    try:
        assert list(client.read_stream("done", "s", offset=1)) == [1, 2]
        assert client.read_stream_offset("done", "s", 2) == 2
        with pytest.raises(DBOSStreamTimeoutError):
            client.read_stream_offset("done", "s", 3)
        with pytest.raises(DBOSStreamTimeoutError):
            client.read_stream_offset("open", "s", 1, timeout_seconds=0.2,
                                      polling_interval_sec=0.05)

        async def read():
            values = [v async for v in client.read_stream_async("done", "s", offset=2)]
            return values + [await client.read_stream_offset_async("done", "s", 0)]

        assert asyncio.run(read()) == [2, 0]
    finally:
        client.destroy()
