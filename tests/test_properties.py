"""Property-based tests: the codec round-trips, and random crash schedules match a model."""

import datetime
import decimal
import enum
import uuid

import msgspec
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbos_lite import DBOS, SetWorkflowID, _decode_value as decode_value, _encode_value as encode_value

# ---- the codec ----

json_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text())
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)


@given(json_values)
def test_json_values_round_trip_untyped(value):
    assert decode_value(encode_value(value, "value")) == value


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Point(msgspec.Struct, frozen=True):
    x: int
    y: float
    label: str | None = None


Record = tuple[int, str, datetime.datetime, uuid.UUID, decimal.Decimal, bytes, Color,
               list[Point], dict[str, tuple[int, ...]]]

records = st.tuples(
    st.integers(-(2**63), 2**63 - 1),
    st.text(),
    st.datetimes(timezones=st.none() | st.just(datetime.timezone.utc)),
    st.uuids(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.binary(max_size=50),
    st.sampled_from(Color),
    st.lists(st.builds(Point, st.integers(-1000, 1000),
                       st.floats(allow_nan=False, allow_infinity=False),
                       st.none() | st.text(max_size=5)), max_size=3),
    st.dictionaries(st.text(max_size=5), st.tuples(st.integers(0, 9)), max_size=3),
)


@given(records)
def test_typed_values_round_trip_with_their_annotation(value):
    assert decode_value(encode_value(value, "value"), Record) == value


# ---- crash schedules against a model ----
#
# Workflows of a few steps each; the schedule says, for each step, how many times it is
# interrupted before it completes (the step raises SystemExit: the outcome is not recorded and the
# workflow stays PENDING, owned by this live process, until the program resumes it). The model:
# every step is recorded exactly once, in order; step i runs 1 + interruptions[i] times; nothing
# re-runs an interrupted workflow behind the program's back; every workflow ends SUCCESS with the
# right result once resumed.

schedules = st.lists(st.lists(st.integers(0, 2), min_size=1, max_size=5), min_size=1,
                     max_size=4)


@pytest.mark.slow
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schedules)
def test_random_interruption_schedules_match_the_model(config, schedule):
    import queue

    runs: dict[tuple[int, int], int] = {}
    interrupted: queue.Queue = queue.Queue()

    def step(workflow: int, index: int) -> int:
        runs[(workflow, index)] = runs.get((workflow, index), 0) + 1
        if runs[(workflow, index)] <= schedule[workflow][index]:
            interrupted.put(workflow)
            raise SystemExit("interrupted here")
        return workflow * 100 + index

    def job(workflow: int) -> list[int]:
        return [recorded_step(workflow, i) for i in range(len(schedule[workflow]))]

    DBOS.destroy(destroy_registry=True)
    DBOS(config=config)
    DBOS.reset_system_database()
    recorded_step = DBOS.register_step(step, name="step")
    job = DBOS.register_workflow(job, name="job")
    DBOS.launch()
    try:
        for workflow in range(len(schedule)):
            with SetWorkflowID(f"w{workflow}"):
                DBOS.start_workflow(job, workflow)
        for _ in range(sum(map(sum, schedule))):
            workflow = interrupted.get(timeout=10)
            before = sum(runs.get((workflow, i), 0) for i in range(len(schedule[workflow])))
            deadline = time.monotonic() + 10
            # Until the interrupted execution has ended, resume_workflow sees it running.
            while sum(runs.get((workflow, i), 0) for i in range(len(schedule[workflow]))) \
                    == before and DBOS.get_workflow_status(f"w{workflow}").status == "PENDING":
                assert time.monotonic() < deadline, "the interrupted workflow was not resumed"
                DBOS.resume_workflow(f"w{workflow}")
                time.sleep(0.01)
        for workflow, crashes in enumerate(schedule):
            handle = DBOS.retrieve_workflow(f"w{workflow}")
            assert handle.get_result() == [workflow * 100 + i for i in range(len(crashes))]
            steps = DBOS.list_workflow_steps(f"w{workflow}")
            assert [(s["function_id"], s["output"]) for s in steps] == [
                (i + 1, workflow * 100 + i) for i in range(len(crashes))]
            assert [runs[(workflow, i)] for i in range(len(crashes))] == [
                c + 1 for c in crashes]
        assert interrupted.empty()
    finally:
        DBOS.destroy(destroy_registry=True)
