"""Steps: recording, replay, retries with backoff, and where a step is a plain call."""

import logging
import re
import time

import pytest

from engine import (
    DBOS,
    DBOSAwaitedWorkflowCancelledError,
    DBOSException,
    DBOSMaxStepRetriesExceeded,
    DBOSUnexpectedStepError,
    SetWorkflowID,
    SetWorkflowTimeout,
)
from dbos_lite import DBOSMaxStepRetriesError


@pytest.mark.both_engines
def test_step_result_is_recorded_and_replayed_without_running(dbos):
    calls = []

    @DBOS.step()
    def add(a: int, b: int) -> int:
        calls.append((a, b))
        return a + b

    @DBOS.workflow()
    def workflow(x: int) -> int:
        return add(x, 1) + add(x, 2)

    DBOS.launch()
    with SetWorkflowID("w"):
        assert workflow(10) == 23
    with SetWorkflowID("w"):
        assert workflow(10) == 23
    assert calls == [(10, 1), (10, 2)]
    steps = DBOS.list_workflow_steps("w")
    assert [(s["function_id"], s["function_name"], s["output"]) for s in steps] == [
        (1, add.__qualname__, 11),
        (2, add.__qualname__, 12),
    ]


def test_run_step_and_register_step(dbos):
    def double(x: int) -> int:
        return 2 * x

    triple = DBOS.register_step(lambda x: 3 * x, name="triple")

    @DBOS.workflow()
    def workflow() -> list:
        return [DBOS.run_step({"name": "count"}, len, "abcd"), DBOS.run_step(None, double, 4),
                triple(2)]

    DBOS.launch()
    with SetWorkflowID("w"):
        assert workflow() == [4, 8, 6]
    names = [s["function_name"] for s in DBOS.list_workflow_steps("w")]
    assert names == ["count", double.__qualname__, "triple"]


def test_register_workflow_returns_the_wrapped_function(dbos):
    def plain(x: int) -> int:
        return x + 1

    wrapped = DBOS.register_workflow(plain, name="plain-workflow")
    DBOS.launch()
    with SetWorkflowID("p"):
        assert wrapped(1) == 2
    assert DBOS.get_workflow_status("p").name == "plain-workflow"


@pytest.mark.both_engines
def test_step_outside_a_workflow_is_a_plain_call(dbos):
    calls = []

    @DBOS.step(retries_allowed=True, max_attempts=5, interval_seconds=0)
    def fails():
        calls.append(1)
        raise ValueError("no")

    # No DBOS.launch() needed, no row, no retries.
    with pytest.raises(ValueError):
        fails()
    assert calls == [1]
    assert DBOS.step_status is None


@pytest.mark.both_engines
def test_step_inside_a_step_is_part_of_the_outer_step(dbos):
    @DBOS.step()
    def inner() -> int:
        assert DBOS.step_id == 1  # still the outer step's id
        return 1

    @DBOS.step()
    def outer() -> int:
        return inner() + 1

    @DBOS.workflow()
    def workflow() -> int:
        return outer()

    DBOS.launch()
    with SetWorkflowID("w"):
        assert workflow() == 2
    assert [s["function_name"] for s in DBOS.list_workflow_steps("w")] == [outer.__qualname__]


@pytest.mark.both_engines
def test_retries_with_exponential_backoff_until_success(dbos):
    attempts = []

    @DBOS.step(retries_allowed=True, max_attempts=4, interval_seconds=0.05, backoff_rate=2.0)
    def flaky() -> str:
        status = DBOS.step_status  # read at once: DBOS Transact updates one object in place
        attempts.append((time.monotonic(),
                         (status.step_id, status.current_attempt, status.max_attempts)))
        if len(attempts) < 3:
            raise ConnectionError(f"attempt {len(attempts)}")
        return "ok"

    @DBOS.workflow()
    def workflow() -> str:
        return flaky()

    DBOS.launch()
    with SetWorkflowID("w"):
        assert workflow() == "ok"
    times = [t for t, _ in attempts]
    assert times[1] - times[0] >= 0.05 * 0.9
    assert times[2] - times[1] >= 0.10 * 0.9
    assert [s for _, s in attempts] == [(1, 0, 4), (1, 1, 4), (1, 2, 4)]
    with SetWorkflowID("w"):
        assert workflow() == "ok"
    assert len(attempts) == 3


def retry_delays_logged(caplog) -> list[float]:
    """The delays of the "retrying in N s" warnings, in order."""
    return [float(re.search(r"retrying in (\S+) s", r.getMessage()).group(1))
            for r in caplog.records if r.name == "dbos_lite" and "retrying in" in r.getMessage()]


def test_retry_delays_grow_by_the_backoff_rate_up_to_an_hour(dbos, caplog):
    """Failure i waits min(interval_seconds * backoff_rate**i, 3600) s: seen in the warning
    of each retry, and in the time between attempts."""
    attempts = []

    @DBOS.step(retries_allowed=True, max_attempts=4, interval_seconds=0.01, backoff_rate=3.0)
    def flaky():
        attempts.append(time.monotonic())
        raise ConnectionError("down")

    @DBOS.step(retries_allowed=True, max_attempts=3, interval_seconds=0.02, backoff_rate=1e6)
    def hopeless():
        raise ConnectionError("down for good")

    @DBOS.workflow()
    def growing():
        flaky()

    @DBOS.workflow()
    def capped():
        hopeless()

    DBOS.launch()
    caplog.set_level(logging.WARNING, logger="dbos_lite")
    with SetWorkflowID("growing"):
        with pytest.raises(DBOSMaxStepRetriesExceeded):
            growing()
    expected = [0.01, 0.03, 0.09]
    assert retry_delays_logged(caplog) == pytest.approx(expected, rel=0.01)
    gaps = [later - earlier for earlier, later in zip(attempts, attempts[1:])]
    assert all(gap >= 0.9 * delay for gap, delay in zip(gaps, expected)), gaps

    # 0.02 s, then 20,000 s capped to an hour; the workflow's timeout ends that wait.
    caplog.clear()
    started = time.monotonic()
    with SetWorkflowTimeout(1.0), SetWorkflowID("capped"):
        with pytest.raises(DBOSAwaitedWorkflowCancelledError):
            capped()
    assert time.monotonic() - started < 10
    assert retry_delays_logged(caplog) == pytest.approx([0.02, 3600.0], rel=0.01)
    assert DBOS.get_workflow_status("capped").status == "CANCELLED"


@pytest.mark.both_engines
def test_exhausted_retries_raise_and_are_recorded_and_replayed(dbos, config):
    calls = []

    @DBOS.step(retries_allowed=True, max_attempts=3, interval_seconds=0)
    def always_fails():
        calls.append(1)
        raise ValueError(f"failure {len(calls)}")

    @DBOS.workflow()
    def workflow():
        always_fails()

    DBOS.launch()
    with SetWorkflowID("w"):
        with pytest.raises(DBOSMaxStepRetriesExceeded) as info:
            workflow()
    error = info.value
    assert error.step_name == always_fails.__qualname__ and error.max_retries == 3
    assert [str(e) for e in error.errors] == ["failure 1", "failure 2", "failure 3"]
    assert DBOS.get_workflow_status("w").status == "ERROR"
    assert len(calls) == 3

    # A new process: the recorded error comes back from the journal, the step is not run.
    DBOS.destroy()
    DBOS(config=config)
    DBOS.launch()
    for replay in (lambda: DBOS.retrieve_workflow("w").get_result(), workflow):
        with SetWorkflowID("w"):
            with pytest.raises(DBOSMaxStepRetriesExceeded) as info:
                replay()
        assert [str(e) for e in info.value.errors] == ["failure 1", "failure 2", "failure 3"]
        assert all(isinstance(e, ValueError) for e in info.value.errors)
    assert len(calls) == 3


def test_the_typescript_name_of_the_retries_error_is_an_alias():
    assert DBOSMaxStepRetriesError is DBOSMaxStepRetriesExceeded


@pytest.mark.both_engines
def test_should_retry_false_stops_at_once_with_the_original_error(dbos):
    calls = []

    @DBOS.step(retries_allowed=True, max_attempts=5, interval_seconds=0,
               should_retry=lambda exc: not isinstance(exc, KeyError))
    def step():
        calls.append(1)
        raise KeyError("fatal") if len(calls) == 2 else ValueError("transient")

    @DBOS.workflow()
    def workflow():
        step()

    DBOS.launch()
    with SetWorkflowID("w"):
        with pytest.raises(KeyError):
            workflow()
    assert len(calls) == 2
    with SetWorkflowID("w"):
        with pytest.raises(KeyError):
            workflow()
    assert len(calls) == 2


@pytest.mark.both_engines
def test_without_retries_the_original_error_is_recorded(dbos):
    calls = []

    @DBOS.step()
    def step():
        calls.append(1)
        raise ValueError("once")

    @DBOS.workflow()
    def workflow() -> str:
        try:
            step()
        except ValueError as exc:
            return f"caught {exc}"
        return "not reached"

    DBOS.launch()
    for _ in range(2):
        with SetWorkflowID("w"):
            assert workflow() == "caught once"
    assert calls == [1]
    [info] = DBOS.list_workflow_steps("w")
    assert isinstance(info["error"], ValueError) and info["output"] is None


class Interrupted(BaseException):
    """Stops a workflow body without an outcome, as a crash would: it stays PENDING."""


@pytest.mark.deliberate_difference(
    "calling again the id of a workflow that a BaseException left PENDING resumes it; on "
    "DBOS Transact 3.4 the call waits for ever (nothing runs it before a relaunch)"
)
def test_a_different_step_at_a_recorded_position_is_an_unexpected_step(dbos):
    version = {"current": 1}

    @DBOS.step()
    def first() -> int:
        return 1

    @DBOS.step()
    def second() -> int:
        return 2

    @DBOS.workflow()
    def workflow() -> int:
        value = first() if version["current"] == 1 else second()
        if version["current"] == 1:
            raise Interrupted()
        return value

    DBOS.launch()
    # A workflow in flight when the code changed: its first step is recorded, it has no outcome.
    with SetWorkflowID("w"):
        with pytest.raises(Interrupted):
            workflow()
    assert DBOS.get_workflow_status("w").status == "PENDING"
    assert [s["function_name"] for s in DBOS.list_workflow_steps("w")] == [first.__qualname__]
    version["current"] = 2
    with SetWorkflowID("w"):
        with pytest.raises(DBOSUnexpectedStepError) as info:
            workflow()
    assert first.__qualname__ in str(info.value) and second.__qualname__ in str(info.value)
    assert DBOS.get_workflow_status("w").status == "ERROR"
    with SetWorkflowID("w"):  # the error is recorded: calling again raises it again
        with pytest.raises(DBOSUnexpectedStepError):
            workflow()


@pytest.mark.both_engines
def test_step_status_and_ids(dbos):
    seen = []

    @DBOS.step()
    def step():
        status = DBOS.step_status  # compared as a tuple: each engine has its own class
        seen.append((DBOS.workflow_id, DBOS.step_id,
                     (status.step_id, status.current_attempt, status.max_attempts)))

    @DBOS.workflow()
    def workflow():
        seen.append((DBOS.workflow_id, DBOS.step_id, DBOS.step_status))
        step()
        step()

    DBOS.launch()
    with SetWorkflowID("w"):
        workflow()
    assert seen == [("w", None, None), ("w", 1, (1, None, None)), ("w", 2, (2, None, None))]
    assert DBOS.workflow_id is None and DBOS.step_id is None


@pytest.mark.parametrize("forbidden", ["start", "sleep", "call"])
def test_workflow_operations_inside_a_step_raise_clearly(dbos, forbidden):
    @DBOS.workflow()
    def child() -> int:
        return 1

    @DBOS.step()
    def step():
        if forbidden == "start":
            DBOS.start_workflow(child)
        elif forbidden == "sleep":
            DBOS.sleep(0.01)
        else:
            child()

    @DBOS.workflow()
    def workflow() -> str:
        try:
            step()
        except DBOSException as exc:
            return str(exc)
        return "no error"

    DBOS.launch()
    message = workflow()
    assert "inside a step" in message
