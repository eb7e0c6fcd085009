"""fork_workflow's queue_name, queue_partition_key and timeout_seconds, as DBOS Transact 3.4
has them (DBOS.fork_workflow, its _async twin, and DBOSClient.fork_workflow)."""

import asyncio
import threading

import pytest

from conftest import journal_url
from engine import DBOS, DBOSAwaitedWorkflowCancelledError, DBOSClient, SetWorkflowID

pytestmark = pytest.mark.both_engines  # every test here uses DBOS names only


@pytest.fixture
def jobs(dbos):
    @DBOS.step()
    def first(n: int) -> int:
        return n

    @DBOS.workflow()
    def job(n: int) -> int:
        return first(n) + 1

    DBOS.launch()
    DBOS.register_queue("forks")
    DBOS.register_queue("parts", partition_concurrency=2)
    with SetWorkflowID("job"):
        job(1)


def test_fork_onto_a_queue(jobs):
    with SetWorkflowID("onto-queue"):
        handle = DBOS.fork_workflow("job", 2, queue_name="forks")
    assert handle.get_result() == 2
    status = handle.get_status()
    assert status.queue_name == "forks" and status.forked_from == "job"


def test_fork_onto_a_partitioned_queue(jobs):
    with SetWorkflowID("partitioned"):
        handle = DBOS.fork_workflow("job", 1, queue_name="parts", queue_partition_key="p1")
    assert handle.get_result() == 2
    status = handle.get_status()
    assert (status.queue_name, status.queue_partition_key) == ("parts", "p1")


def test_fork_with_a_timeout(jobs):
    with SetWorkflowID("timed"):
        handle = DBOS.fork_workflow("job", 1, timeout_seconds=30)
    assert handle.get_result() == 2
    assert handle.get_status().workflow_timeout_ms == 30_000


def test_a_fork_past_its_timeout_is_cancelled(dbos):
    gate = threading.Event()

    @DBOS.workflow()
    def slow() -> None:
        DBOS.sleep(0.01)
        gate.wait(10)
        DBOS.sleep(0.01)

    DBOS.launch()
    with SetWorkflowID("slow"):
        handle = DBOS.start_workflow(slow)
    gate.set()
    handle.get_result()
    gate.clear()
    with SetWorkflowID("slow-fork"):
        fork = DBOS.fork_workflow("slow", 1, timeout_seconds=0.3)
    with pytest.raises(DBOSAwaitedWorkflowCancelledError):
        fork.get_result()
    gate.set()
    assert fork.get_status().status == "CANCELLED"


def test_bad_timeouts_are_refused(jobs):
    for timeout in (0, -1):
        with pytest.raises(Exception, match="(?i)timeout"):
            DBOS.fork_workflow("job", 1, timeout_seconds=timeout)


def test_async_and_client(jobs, journal_path):
    async def fork():
        with SetWorkflowID("async-fork"):
            handle = await DBOS.fork_workflow_async("job", 2, queue_name="forks",
                                                    timeout_seconds=60)
        return await handle.get_result(), (await handle.get_status()).queue_name

    assert asyncio.run(fork()) == (2, "forks")
    client = DBOSClient(system_database_url=journal_url(journal_path))
    try:
        with SetWorkflowID("client-fork"):
            handle = client.fork_workflow("job", 2, queue_name="parts",
                                          queue_partition_key="p2", timeout_seconds=60)
        assert handle.get_result() == 2
        status = handle.get_status()
        assert (status.queue_name, status.queue_partition_key) == ("parts", "p2")
        assert status.workflow_timeout_ms == 60_000
    finally:
        client.destroy()
