"""Queues in one process: settings, enqueueing, order, limits, deduplication, delays,
partitions, debouncing. Several processes on one queue: tests/test_queues_multiprocess.py.

Tests marked both_engines run on DBOS Transact too (``make compat``), which dispatches on a
one-second poll: they wait for results, never for a time."""

import threading
import time

import pytest
from conftest import wait_until

from engine import (
    DBOS,
    DBOSException,
    DBOSQueueDeduplicatedError,
    Debouncer,
    Queue,
    SetEnqueueOptions,
    SetWorkflowID,
)

both = pytest.mark.both_engines


@pytest.fixture
def launched(dbos):
    DBOS.launch()
    return dbos


def intervals_overlap(intervals):
    ordered = sorted(intervals)
    return any(later[0] < earlier[1] for earlier, later in zip(ordered, ordered[1:]))


# ---- settings ----


@both
def test_register_retrieve_list_and_delete(dbos):
    @DBOS.workflow()
    def noop():
        return 1

    DBOS.launch()
    queue = DBOS.register_queue("settings", worker_concurrency=2, global_concurrency=5,
                                limiter={"limit": 10, "period": 2.5})
    assert isinstance(queue, Queue)
    assert (queue.name, queue.worker_concurrency, queue.global_concurrency) == ("settings", 2, 5)
    assert queue.concurrency == 5
    assert queue.limiter == {"limit": 10, "period": 2.5}
    assert queue.partition_concurrency is None and queue.partition_limiter is None
    assert DBOS.retrieve_queue("settings").worker_concurrency == 2
    assert DBOS.retrieve_queue("no-such-queue") is None
    assert "settings" in [q.name for q in DBOS.list_queues()]
    again = DBOS.register_queue("settings", worker_concurrency=3)
    assert (again.worker_concurrency, again.global_concurrency, again.limiter) == (3, None, None)
    kept = DBOS.register_queue("settings", worker_concurrency=1, on_conflict="never_update")
    assert kept.worker_concurrency == 3
    queue.set_worker_concurrency(4)
    queue.set_limiter({"limit": 1, "period": 0.5})
    assert DBOS.retrieve_queue("settings").worker_concurrency == 4
    assert DBOS.retrieve_queue("settings").limiter == {"limit": 1, "period": 0.5}
    DBOS.delete_queue("settings")
    DBOS.delete_queue("settings")  # no error
    assert DBOS.retrieve_queue("settings") is None
    with pytest.raises(DBOSException, match="not found"):
        queue.worker_concurrency


@both
def test_a_queue_cannot_be_constructed_directly(launched):
    with pytest.raises(DBOSException, match="register_queue"):
        Queue("direct")


@both
@pytest.mark.parametrize("settings, message", [
    ({"name": "_dbos_mine"}, "reserved"),
    ({"name": "q", "concurrency": 2, "global_concurrency": 2}, "deprecated"),
    ({"name": "q", "worker_concurrency": 3, "global_concurrency": 2}, "worker_concurrency"),
    ({"name": "q", "partition_concurrency": 1, "partition_worker_concurrency": 2},
     "partition_worker_concurrency"),
    ({"name": "q", "limiter": {"limit": 2}}, "'limit' and 'period'"),
    ({"name": "q", "polling_interval_sec": 0}, "polling_interval_sec"),
])
def test_invalid_settings_are_refused_and_register_nothing(launched, settings, message):
    with pytest.raises(ValueError, match=message):
        DBOS.register_queue(**settings)
    assert DBOS.retrieve_queue(settings["name"]) is None


@pytest.mark.deliberate_difference("DBOS accepts counts and limits of 0 or less")
@pytest.mark.parametrize("settings", [
    {"worker_concurrency": 0}, {"global_concurrency": -1}, {"limiter": {"limit": 0, "period": 1}},
    {"limiter": {"limit": 1, "period": float("nan")}}, {"on_conflict": "sometimes"},
])
def test_counts_and_limits_must_be_positive(launched, settings):
    with pytest.raises(ValueError):
        DBOS.register_queue("q", **settings)
    assert DBOS.retrieve_queue("q") is None


@pytest.mark.deliberate_difference("DBOS needs DBOS.launch() before register_queue")
def test_a_queue_registered_before_launch_is_stored_at_launch(dbos, journal_path):
    queue = DBOS.register_queue("early", worker_concurrency=1)
    assert queue.worker_concurrency == 1

    @DBOS.workflow()
    def work(x):
        return x + 1

    DBOS.launch()
    assert DBOS.retrieve_queue("early").worker_concurrency == 1
    assert queue.enqueue(work, 1).get_result() == 2


# ---- enqueueing and running ----


@both
def test_an_enqueued_workflow_runs_and_says_where_it_came_from(dbos):
    @DBOS.step()
    def double(x):
        return 2 * x

    @DBOS.workflow()
    def job(x):
        return double(x)

    DBOS.launch()
    queue = DBOS.register_queue("plain")
    handle = queue.enqueue(job, 21)
    assert handle.get_result() == 42
    status = handle.get_status()
    assert (status.status, status.queue_name, status.priority) == ("SUCCESS", "plain", 0)
    assert status.dequeued_at is not None and status.dequeued_at >= status.created_at
    assert DBOS.enqueue_workflow("plain", job, 1).get_result() == 2
    assert len(DBOS.list_workflows(queue_name="plain")) == 2
    assert DBOS.list_queued_workflows(queue_name="plain") == []


@both
def test_worker_concurrency_one_never_overlaps(dbos):
    intervals = []

    @DBOS.workflow()
    def job(i):
        start = time.time()
        time.sleep(0.02)
        intervals.append((start, time.time()))
        return i

    DBOS.launch()
    queue = DBOS.register_queue("serial", worker_concurrency=1)
    handles = [queue.enqueue(job, i) for i in range(8)]
    assert [h.get_result() for h in handles] == list(range(8))
    assert not intervals_overlap(intervals)


def test_concurrency_limits_how_many_run_at_once(dbos):
    lock = threading.Lock()
    now = [0]
    most = [0]

    @DBOS.workflow()
    def job(i):
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(0.02)
        with lock:
            now[0] -= 1
        return i

    DBOS.launch()
    queue = DBOS.register_queue("three", global_concurrency=3)
    assert [h.get_result() for h in [queue.enqueue(job, i) for i in range(15)]] == list(range(15))
    assert most[0] == 3


@both
def test_priority_then_enqueue_order(dbos):
    release = threading.Event()
    order = []

    @DBOS.workflow()
    def blocker():
        release.wait(10)

    @DBOS.workflow()
    def job(tag):
        order.append(tag)

    DBOS.launch()
    queue = DBOS.register_queue("ordered", worker_concurrency=1)
    first = queue.enqueue(blocker)
    while first.get_status().status != "PENDING":
        time.sleep(0.01)
    handles = []
    for tag, priority in [("p5a", 5), ("none1", None), ("p1", 1), ("none2", None),
                          ("p5b", 5), ("p2", 2)]:
        with SetEnqueueOptions(priority=priority):
            handles.append(queue.enqueue(job, tag))
    assert handles[2].get_status().priority == 1
    release.set()
    for handle in handles:
        handle.get_result()
    assert order == ["none1", "none2", "p1", "p2", "p5a", "p5b"]


@both
@pytest.mark.parametrize("priority", [0, -1, 2**31])
def test_a_priority_out_of_range_is_refused(priority):
    with pytest.raises(Exception, match="Invalid priority"):
        SetEnqueueOptions(priority=priority)


@both
def test_deduplication(dbos):
    release = threading.Event()

    @DBOS.workflow()
    def job(x):
        release.wait(10)
        return x

    DBOS.launch()
    queue = DBOS.register_queue("dedup")
    with SetEnqueueOptions(deduplication_id="key"):
        first = queue.enqueue(job, 1)
    before = len(DBOS.list_workflows())
    with pytest.raises(DBOSQueueDeduplicatedError) as refused:
        with SetEnqueueOptions(deduplication_id="key"):
            queue.enqueue(job, 2)
    assert (refused.value.queue_name, refused.value.deduplication_id) == ("dedup", "key")
    assert refused.value.workflow_id != first.workflow_id
    assert len(DBOS.list_workflows()) == before  # nothing written
    with SetEnqueueOptions(deduplication_id="key", duplication_policy="return-existing"):
        existing = queue.enqueue(job, 3)
    assert existing.workflow_id == first.workflow_id
    other = DBOS.register_queue("dedup-other")
    with SetEnqueueOptions(deduplication_id="key"):
        elsewhere = other.enqueue(job, 4)  # another queue: no conflict
    assert first.get_status().deduplication_id == "key"
    release.set()
    assert first.get_result() == 1 and elsewhere.get_result() == 4
    assert first.get_status().deduplication_id is None  # freed when it finished
    with SetEnqueueOptions(deduplication_id="key"):
        assert queue.enqueue(job, 5).get_result() == 5


@both
def test_duplication_policy_needs_a_deduplication_id(launched):
    @DBOS.workflow()
    def job():
        pass

    queue = DBOS.register_queue("policy")
    with pytest.raises(DBOSException, match="requires a deduplication_id"):
        with SetEnqueueOptions(duplication_policy="return-existing"):
            queue.enqueue(job)
    with pytest.raises(DBOSException, match="Invalid duplication_policy"):
        with SetEnqueueOptions(deduplication_id="k", duplication_policy="bogus"):
            queue.enqueue(job)


@both
def test_a_delayed_workflow_waits_its_delay(dbos):
    @DBOS.workflow()
    def job():
        return time.time()

    DBOS.launch()
    queue = DBOS.register_queue("later")
    enqueued = time.time()
    with SetEnqueueOptions(delay_seconds=0.4):
        handle = queue.enqueue(job)
    status = handle.get_status()
    assert status.status == "DELAYED"
    assert abs(status.delay_until_epoch_ms / 1000 - (enqueued + 0.4)) < 0.2
    assert handle.get_result() >= enqueued + 0.39


@pytest.mark.parametrize("delay", [-1, float("nan"), float("inf"), "1"])
def test_an_invalid_delay_is_refused(delay):
    with pytest.raises(ValueError, match="delay_seconds"):
        SetEnqueueOptions(delay_seconds=delay)


@both
def test_an_id_set_with_set_workflow_id_enqueues_once(dbos):
    runs = []

    @DBOS.workflow()
    def job(x):
        runs.append(x)
        return x

    DBOS.launch()
    queue = DBOS.register_queue("ids")
    with SetWorkflowID("only-once"):
        first = queue.enqueue(job, 1)
    with SetWorkflowID("only-once"):
        second = queue.enqueue(job, 2)
    assert first.workflow_id == second.workflow_id == "only-once"
    assert first.get_result() == 1 and second.get_result() == 1
    assert runs == [1]


@both
def test_a_child_enqueued_by_a_workflow_is_recorded_and_not_enqueued_again(dbos):
    runs = []

    @DBOS.workflow()
    def child(x):
        runs.append(x)
        return x * 10

    @DBOS.workflow()
    def parent():
        handle = DBOS.enqueue_workflow("children", child, 4)
        return handle.workflow_id, handle.get_result()

    DBOS.launch()
    DBOS.register_queue("children")
    with SetWorkflowID("the-parent"):
        assert list(parent()) == ["the-parent-1", 40]
    steps = DBOS.list_workflow_steps("the-parent")
    assert steps[0]["function_name"].endswith("child")
    assert steps[0]["child_workflow_id"] == "the-parent-1"
    assert DBOS.get_workflow_status("the-parent-1").parent_workflow_id == "the-parent"
    DBOS.fork_workflow("the-parent", 2).get_result()  # replays the enqueue: no second child
    assert runs == [4]


@both
def test_enqueue_options_on_start_workflow_are_refused(launched):
    @DBOS.workflow()
    def job():
        pass

    with pytest.raises(DBOSException, match="deduplication_id, priority set on a workflow"):
        with SetEnqueueOptions(deduplication_id="a", priority=3):
            DBOS.start_workflow(job)


@both
def test_enqueue_async(dbos):
    import asyncio

    @DBOS.workflow()
    async def job(x):
        await asyncio.sleep(0.01)
        return x + 1

    DBOS.launch()
    queue = DBOS.register_queue("async")

    async def main():
        handle = await queue.enqueue_async(job, 1)
        other = await DBOS.enqueue_workflow_async("async", job, 2)
        return await handle.get_result(), await other.get_result()

    assert asyncio.run(main()) == (2, 3)


@both
def test_list_queued_workflows(dbos):
    release = threading.Event()

    @DBOS.workflow()
    def job():
        release.wait(10)

    DBOS.launch()
    queue = DBOS.register_queue("listing", worker_concurrency=1)
    handles = [queue.enqueue(job) for _ in range(3)]
    while handles[0].get_status().status != "PENDING":
        time.sleep(0.01)
    listed = DBOS.list_queued_workflows(queue_name="listing")
    assert [s.workflow_id for s in listed] == [h.workflow_id for h in handles]
    assert [s.status for s in listed] == ["PENDING", "ENQUEUED", "ENQUEUED"]
    assert len(DBOS.list_queued_workflows(status="ENQUEUED")) == 2
    release.set()
    for handle in handles:
        handle.get_result()
    assert DBOS.list_queued_workflows() == []


class InAStep:
    """Workflow "a" launched and started, its run held inside its one step until ``finish``;
    ``runs`` counts the step's calls."""

    def __init__(self):
        self.entered, self.finish, self.runs = threading.Event(), threading.Event(), []

        @DBOS.step()
        def long_step():
            self.runs.append(threading.get_ident())
            self.entered.set()
            self.finish.wait(10)
            return "stepped"

        @DBOS.workflow()
        def job():
            return long_step()

        DBOS.launch()
        with SetWorkflowID("a"):
            DBOS.start_workflow(job)
        assert self.entered.wait(5)


@pytest.mark.deliberate_difference("DBOS starts a second run beside the first: the step runs "
                                   "twice")
def test_resumed_onto_a_queue_while_its_cancelled_run_is_in_a_step_it_runs_once(dbos):
    held = InAStep()
    DBOS.register_queue("again")
    DBOS.cancel_workflow("a")  # the run stops at its next durable operation, after the step
    handle = DBOS.resume_workflow("a", queue_name="again")
    wait_until(lambda: handle.get_status().status == "PENDING", "the queue taking it")
    time.sleep(0.2)  # a second run, were one started, would be in the step by now
    held.finish.set()
    assert handle.get_result() == "stepped"
    assert len(held.runs) == 1  # the running one went on; none ran beside it
    assert len(DBOS.list_workflow_steps("a")) == 1
    assert handle.get_status().queue_name == "again"


def test_a_run_that_finds_its_step_recorded_by_another_run_stops_without_an_outcome(dbos):
    import dbos_lite

    held = InAStep()
    executor = dbos_lite._process_executor
    other = dbos_lite._OperationRecord("a", 1, "long_step", '"the other run\'s"', None, None,
                                       None, None)
    assert executor.journal.record_operation(other, executor.process_id)
    held.finish.set()
    wait_until(lambda: "a" not in executor.runs, "the run ending")
    assert DBOS.get_workflow_status("a").status == "PENDING"  # no ConstraintError recorded
    assert [s["output"] for s in DBOS.list_workflow_steps("a")] == ["the other run's"]


# ---- where dbos_lite is stricter than DBOS ----


@pytest.mark.deliberate_difference("DBOS leaves the workflow ENQUEUED for ever")
def test_enqueuing_onto_an_unknown_queue_raises_and_writes_nothing(launched):
    @DBOS.workflow()
    def job():
        pass

    with pytest.raises(DBOSException, match="no queue is named 'nowhere'"):
        DBOS.enqueue_workflow("nowhere", job)
    assert DBOS.list_workflows() == []


@pytest.mark.deliberate_difference("DBOS leaves the workflow ENQUEUED for ever")
def test_a_partitioned_queue_needs_a_partition_key(launched):
    @DBOS.workflow()
    def job():
        pass

    queue = DBOS.register_queue("parts", partition_concurrency=1)
    with pytest.raises(DBOSException, match="partition key"):
        queue.enqueue(job)
    assert DBOS.list_workflows() == []


@both
def test_partitioned_queues_refuse_deduplication(launched):
    @DBOS.workflow()
    def job():
        pass

    queue = DBOS.register_queue("parts", partition_concurrency=1)
    with pytest.raises(Exception, match="Deduplication is not supported for partitioned"):
        with SetEnqueueOptions(queue_partition_key="a", deduplication_id="d"):
            queue.enqueue(job)


def test_partition_concurrency_holds_per_key(dbos):
    intervals = {"a": [], "b": []}

    @DBOS.workflow()
    def job(key):
        start = time.time()
        time.sleep(0.03)
        intervals[key].append((start, time.time()))

    DBOS.launch()
    queue = DBOS.register_queue("parts", partition_concurrency=1)
    handles = []
    for i in range(4):
        for key in "ab":
            with SetEnqueueOptions(queue_partition_key=key):
                handles.append(queue.enqueue(job, key))
    for handle in handles:
        handle.get_result()
    assert handles[0].get_status().queue_partition_key == "a"
    assert not intervals_overlap(intervals["a"]) and not intervals_overlap(intervals["b"])
    assert intervals_overlap(intervals["a"] + intervals["b"])  # the two keys run side by side


@pytest.mark.deliberate_difference("DBOS counts rate limits in whole seconds on SQLite")
def test_the_rate_limit_holds_in_every_rolling_window(dbos):
    started = {}

    @DBOS.workflow()
    def job(i):
        started[i] = time.time() * 1000
        return i

    DBOS.launch()
    queue = DBOS.register_queue("rated", limiter={"limit": 2, "period": 0.25})
    handles = [queue.enqueue(job, i) for i in range(7)]
    for handle in handles:
        handle.get_result()
    dequeued_at = {h.get_result(): h.get_status().dequeued_at for h in handles}
    dequeued = sorted(dequeued_at.values())
    # Never more than 2 starts in any 250 ms, on the workflows' recorded clock...
    assert all(later - earlier >= 250 for earlier, later in zip(dequeued, dequeued[2:]))
    # ...no body runs before its workflow left the queue (a busy machine may run it later)...
    assert all(started[i] >= dequeued_at[i] - 1 for i in range(7))
    assert dequeued[-1] - dequeued[0] < 250 * 3 + 500  # ...and it does not wait much longer


def test_listen_queues_limits_what_this_process_works(dbos):
    @DBOS.workflow()
    def job(x):
        return x

    DBOS.listen_queues(["mine"])
    with pytest.raises(DBOSException, match="more than once"):
        DBOS.listen_queues([])
    DBOS.launch()
    with pytest.raises(DBOSException, match="after DBOS is launched"):
        DBOS.listen_queues([])
    mine, theirs = DBOS.register_queue("mine"), DBOS.register_queue("theirs")
    assert mine.enqueue(job, 1).get_result() == 1
    waiting = theirs.enqueue(job, 2)
    time.sleep(0.2)
    assert waiting.get_status().status == "ENQUEUED"


def test_a_clean_stop_gives_running_queued_workflows_back_to_their_queue(dbos, config):
    started = threading.Event()

    @DBOS.workflow()
    def job():
        started.set()
        DBOS.sleep(30)

    DBOS.launch()
    handle = DBOS.register_queue("back").enqueue(job)
    assert started.wait(5)
    DBOS.destroy()
    DBOS(config=config)
    DBOS.listen_queues([])  # look without taking it up again
    DBOS.launch()
    status = DBOS.get_workflow_status(handle.workflow_id)
    assert (status.status, status.recovery_attempts) == ("ENQUEUED", 0)


# ---- debouncing ----


@both
def test_debounced_calls_share_one_workflow_that_runs_once_with_the_last_arguments(dbos):
    runs = []

    @DBOS.workflow()
    def save(text):
        runs.append(text)
        return text

    DBOS.launch()
    debouncer = Debouncer.create(save)
    handles = [debouncer.debounce("doc-1", 0.3, text) for text in ("a", "ab", "abc")]
    assert len({h.workflow_id for h in handles}) == 1
    assert handles[-1].get_result() == "abc"
    assert runs == ["abc"]
    later = debouncer.debounce("doc-1", 0.05, "new")
    assert later.workflow_id != handles[0].workflow_id
    assert later.get_result() == "new"


@both
def test_a_client_debounces_a_workflow_by_name(dbos, journal_path):
    from conftest import journal_url
    from engine import DBOSClient, DebouncerClient

    runs = []

    @DBOS.workflow()
    def save(text):
        runs.append(text)
        return text

    DBOS.launch()
    DBOS.register_queue("saves")
    client = DBOSClient(system_database_url=journal_url(journal_path))
    try:
        debouncer = DebouncerClient(client, {"workflow_name": save.__qualname__,
                                             "queue_name": "saves"})
        handles = [debouncer.debounce("doc-1", 0.5, text) for text in ("a", "ab", "abc")]
        assert len({h.workflow_id for h in handles}) == 1
        assert handles[-1].get_result() == "abc"
        assert runs == ["abc"]
        assert DBOS.get_workflow_status(handles[0].workflow_id).queue_name == "saves"
        with pytest.raises(DBOSException, match="deduplication_id"):
            DebouncerClient(client, {"workflow_name": save.__qualname__, "queue_name": "saves",
                                     "deduplication_id": "x"}).debounce("k", 0.1, "b")
    finally:
        client.destroy()


def test_debounce_timeout_caps_the_delay(dbos):
    @DBOS.workflow()
    def save(text):
        return time.time()

    DBOS.launch()
    DBOS.register_queue("saves")
    debouncer = Debouncer.create(save, debounce_timeout_sec=0.3, queue="saves")
    first = time.time()
    handle = debouncer.debounce("k", 0.2, "a")
    while time.time() < first + 0.5:
        assert debouncer.debounce("k", 0.2, "b").workflow_id == handle.workflow_id \
            or time.time() > first + 0.3
        time.sleep(0.05)
    assert handle.get_result() < first + 0.45
    assert DBOS.get_workflow_status(handle.workflow_id).queue_name == "saves"


def test_debounce_refuses_what_it_decides(launched):
    @DBOS.workflow()
    def save(text):
        return text

    debouncer = Debouncer.create(save)
    with pytest.raises(DBOSException, match="deduplication_id"):
        with SetEnqueueOptions(deduplication_id="x"):
            debouncer.debounce("k", 0.1, "a")
    with pytest.raises(DBOSException, match="Invalid queue name"):
        Debouncer.create(save, queue="missing").debounce("k", 0.1, "a")
    with pytest.raises(ValueError, match="debounce_period_sec"):
        debouncer.debounce("k", -1, "a")


# ---- timeouts, recorded refusals, many short jobs ----


@both
def test_a_queued_workflows_timeout_starts_when_it_is_dequeued(dbos):
    from engine import SetWorkflowTimeout

    release = threading.Event()

    @DBOS.workflow()
    def blocker():
        release.wait(10)

    @DBOS.workflow()
    def slow():
        DBOS.sleep(5)

    DBOS.launch()
    queue = DBOS.register_queue("timed", worker_concurrency=1)
    first = queue.enqueue(blocker)
    with SetWorkflowTimeout(0.3):
        handle = queue.enqueue(slow)
    status = handle.get_status()
    assert status.workflow_timeout_ms == 300 and status.workflow_deadline_epoch_ms is None
    time.sleep(0.4)  # longer than the timeout, while it waits in the queue
    release.set()
    first.get_result()
    with pytest.raises(Exception):
        handle.get_result()
    status = handle.get_status()
    assert status.status == "CANCELLED"
    # The deadline counts from the dequeue, after its time in the queue.
    assert status.workflow_deadline_epoch_ms >= status.created_at + 300 + 350


def test_a_deduplicated_enqueue_inside_a_workflow_is_recorded(dbos):
    release = threading.Event()

    @DBOS.workflow()
    def job():
        release.wait(10)

    @DBOS.workflow()
    def parent():
        try:
            with SetEnqueueOptions(deduplication_id="once"):
                DBOS.enqueue_workflow("dedup", job)
        except DBOSQueueDeduplicatedError as exc:
            return f"refused {exc.deduplication_id}"
        return "enqueued"

    DBOS.launch()
    queue = DBOS.register_queue("dedup")
    with SetEnqueueOptions(deduplication_id="once"):
        holder = queue.enqueue(job)
    with SetWorkflowID("p"):
        assert parent() == "refused once"
    release.set()
    holder.get_result()
    # The id is free now, but a replay gives the recorded refusal, not a new enqueue.
    assert DBOS.fork_workflow("p", 2).get_result() == "refused once"
    steps = DBOS.list_workflow_steps("p")
    assert isinstance(steps[0]["error"], DBOSQueueDeduplicatedError)


def test_many_short_jobs_all_run_within_the_limit(dbos):
    lock = threading.Lock()
    now, most, done = [0], [0], []

    @DBOS.workflow()
    def job(i):
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        with lock:
            now[0] -= 1
            done.append(i)
        return i

    DBOS.launch()
    queue = DBOS.register_queue("many", worker_concurrency=8)
    handles = [queue.enqueue(job, i) for i in range(400)]
    assert sum(h.get_result() for h in handles) == sum(range(400))
    assert sorted(done) == list(range(400)) and most[0] <= 8
