"""Serialization: what crosses the journal comes back equal, typed by the functions' annotations.

"Replay" below means two things, and every round-trip test checks both:

* calling the workflow again with the same id (``SetWorkflowID``) in the same process, and
* ``DBOS.destroy()`` + a new ``DBOS(config=...)`` + registering the functions again +
  ``DBOS.launch()``, so that every value is decoded from the journal file by a fresh instance.

To replay a *step* (not only a workflow's recorded output) the workflow body has to run again
over its recorded steps. The tests get there the way a crash would: the body raises
:class:`Interrupted`, a BaseException that is not an outcome, so the workflow stays PENDING and the
next call with its id (or the next launch's recovery) runs it again, replaying its steps.

No ``from __future__ import annotations`` here: the annotations are real objects, so the types
they name resolve wherever they are defined.
"""

import dataclasses
import datetime
import enum
import sys
import uuid
from decimal import Decimal
from typing import Any, Callable, Optional

import msgspec
import pytest

import dbos_lite
from dbos_lite import DBOS, DBOSRecordedError, SetWorkflowID

# ---- Types the journal must carry -----------------------------------------------------------


@dataclasses.dataclass
class Point:
    x: int
    y: float


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class Line:
    sku: str
    quantity: int
    unit_price: Decimal


@dataclasses.dataclass
class Order:
    order_id: uuid.UUID
    placed_at: datetime.datetime
    lines: list[Line]
    tags: tuple[str, ...]
    color: Color
    priority: Priority
    note: Optional[str] = None


class Invoice(msgspec.Struct):
    number: int
    issued: datetime.date
    total: Decimal
    payload: bytes
    points: list[Point]
    due: Optional[datetime.datetime] = None


class PaymentDeclined(Exception):
    """A user exception whose constructor takes two arguments (and passes both to Exception)."""

    def __init__(self, code: int, reason: str):
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"payment declined ({self.code}): {self.reason}"


class OnlyMessageError(Exception):
    """A constructor that does not accept what it passes to Exception: it cannot be rebuilt."""

    def __init__(self, code: int, reason: str):
        super().__init__(f"failed with {code}: {reason}")


class Interrupted(BaseException):
    """Stops a workflow body without an outcome, as a crash would: it stays PENDING."""


IST = datetime.timezone(datetime.timedelta(hours=5, minutes=30))

ORDER = Order(
    order_id=uuid.UUID("12345678-1234-5678-1234-567812345678"),
    placed_at=datetime.datetime(2024, 2, 29, 12, 30, 15, 250000, tzinfo=IST),
    lines=[Line("apple", 3, Decimal("0.35")), Line("pear", 1, Decimal("1.20"))],
    tags=("fruit", "fresh"),
    color=Color.GREEN,
    priority=Priority.HIGH,
)

INVOICE = Invoice(
    number=7,
    issued=datetime.date(2024, 3, 1),
    total=Decimal("1234.500"),
    payload=b"\x00\x01\xfe\xff",
    points=[Point(1, 2.5), Point(-3, 0.125)],
    due=datetime.datetime(2024, 4, 1, 9, 0, tzinfo=datetime.timezone.utc),
)

# (id, annotation, value): the annotation is both the step's and the workflow's return type.
TYPED_VALUES = [
    ("tuple", tuple[int, str], (7, "seven")),
    ("dataclass", Point, Point(3, 4.5)),
    ("nested-dataclass", Order, ORDER),
    ("msgspec-struct", Invoice, INVOICE),
    ("naive-datetime", datetime.datetime, datetime.datetime(2024, 2, 29, 23, 59, 59, 999999)),
    ("aware-datetime", datetime.datetime, datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=IST)),
    ("utc-datetime", datetime.datetime,
     datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)),
    ("date", datetime.date, datetime.date(2024, 2, 29)),
    ("uuid", uuid.UUID, uuid.UUID("c9bf9e57-1685-4c89-bafb-ff5af830be8a")),
    ("bytes", bytes, b"\x00\xff binary \x80\n"),
    ("decimal", Decimal, Decimal("12.340")),
    ("enum", Color, Color.RED),
    ("int-enum", Priority, Priority.LOW),
    ("nested-containers", dict[str, list[tuple[int, float]]],
     {"a": [(1, 2.5), (3, -0.5)], "b": [], "c": [(0, 1e-3)]}),
    ("int-keys", dict[int, list[Point]], {1: [Point(0, 0.5)], 2: []}),
    ("optional-set", Optional[Point], Point(1, 1.5)),
    ("optional-none", Optional[Point], None),
    ("none", None, None),
    ("list-of-structs", list[Invoice], [INVOICE, Invoice(1, datetime.date(2000, 1, 1),
                                                         Decimal("0"), b"", [])]),
]


# ---- Helpers --------------------------------------------------------------------------------


def assert_same(actual: Any, expected: Any, where: str = "value") -> None:
    """Equal, and of the same type all the way down (``Priority.LOW == 1``, but an int is not
    the enum; a tz-aware datetime must keep its offset)."""
    assert type(actual) is type(expected), f"{where}: {actual!r} is not a {type(expected)}"
    assert actual == expected, f"{where}: {actual!r} != {expected!r}"
    if isinstance(expected, (list, tuple)):
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, f"{where}[{i}]")
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), f"{where}: keys differ"
        for key in expected:
            assert_same(key, next(k for k in actual if k == key), f"{where} key {key!r}")
            assert_same(actual[key], expected[key], f"{where}[{key!r}]")
    elif dataclasses.is_dataclass(expected):
        for field in dataclasses.fields(expected):
            assert_same(getattr(actual, field.name), getattr(expected, field.name),
                        f"{where}.{field.name}")
    elif isinstance(expected, msgspec.Struct):
        for name in expected.__struct_fields__:
            assert_same(getattr(actual, name), getattr(expected, name), f"{where}.{name}")
    elif isinstance(expected, datetime.datetime):
        assert actual.utcoffset() == expected.utcoffset(), f"{where}: offset differs"
    elif isinstance(expected, Decimal):
        assert str(actual) == str(expected), f"{where}: {actual} is not {expected}"


def relaunch(config: dict, register: Callable[[], Any]) -> Any:
    """A fresh DBOS on the same journal, as a restarted program: destroy (forgetting the
    registered functions), configure, register them again, launch. Returns register()'s result."""
    DBOS.destroy(destroy_registry=True)
    DBOS(config=config)
    registered = register()
    DBOS.launch()
    return registered


def interrupt_if_first_run(state: dict) -> None:
    """In a workflow body: raise Interrupted the first time this workflow id gets here."""
    if DBOS.workflow_id in state["interrupt"]:
        state["interrupt"].discard(DBOS.workflow_id)
        raise Interrupted()


def first_run_and_replays(config: dict, register: Callable[[], Callable], state: dict
                          ) -> list[Any]:
    """Run workflow ``a`` and ``b`` (registered by ``register``) through every kind of replay.

    The body of each runs twice: its first run is interrupted after its steps, then it runs
    again over the recorded steps -- ``a`` in the same process (same id again), ``b`` in a new
    DBOS instance (recovered at launch). Returns the workflow's results: ``a`` on its body's
    second run, ``a`` again (recorded output), ``b`` after recovery, then ``a`` and ``b`` by id
    in the new instance (recorded outputs decoded from the journal)."""
    state["interrupt"] = {"a", "b"}
    workflow = register()
    DBOS.launch()
    results = []
    with SetWorkflowID("a"):
        with pytest.raises(Interrupted):
            workflow()
    with SetWorkflowID("a"):
        results.append(workflow())
    with SetWorkflowID("a"):
        results.append(workflow())
    with SetWorkflowID("b"):
        with pytest.raises(Interrupted):
            workflow()

    workflow = relaunch(config, register)  # launch recovers "b" in the background
    results.append(DBOS.retrieve_workflow("b").get_result())
    for workflow_id in ("a", "b"):
        with SetWorkflowID(workflow_id):
            results.append(workflow())
    return results


def annotated(func: Callable, returns: Any) -> Callable:
    """``func`` as if written ``def func(...) -> returns``."""
    func.__annotations__ = {**func.__annotations__, "return": returns}
    return func


# ---- Values returned by steps and workflows -------------------------------------------------


@pytest.mark.parametrize("annotation, value",
                         [pytest.param(a, v, id=i) for i, a, v in TYPED_VALUES])
def test_step_and_workflow_values_are_equal_on_first_run_and_replay(dbos, config, annotation,
                                                                    value):
    state: dict = {"calls": 0, "seen": []}

    def register():
        def produce():
            state["calls"] += 1
            return value

        step = DBOS.step(name="produce")(annotated(produce, annotation))

        def pipeline():
            got = step()
            state["seen"].append(got)  # what the workflow body got from the step
            interrupt_if_first_run(state)
            return got

        return DBOS.workflow(name="pipeline")(annotated(pipeline, annotation))

    results = first_run_and_replays(config, register, state)

    assert state["calls"] == 2  # once per workflow id; every other time it was replayed
    # a: first run, replay in-process; b: first run, replay by the recovering instance.
    assert len(state["seen"]) == 4
    for i, seen in enumerate(state["seen"]):
        assert_same(seen, value, f"step value #{i}")
    assert len(results) == 5
    for i, result in enumerate(results):
        assert_same(result, value, f"workflow result #{i}")
    assert_same(DBOS.get_workflow_status("a").output, value, "status output")


def test_unannotated_functions_use_plain_json_on_first_run_and_replay(dbos, config):
    state: dict = {"calls": 0, "seen": []}

    def register():
        @DBOS.step(name="produce")
        def produce():
            state["calls"] += 1
            return (1, "one", (2.5, None))

        @DBOS.workflow(name="pipeline")
        def pipeline():
            got = produce()
            state["seen"].append(got)
            interrupt_if_first_run(state)
            return got

        return pipeline

    results = first_run_and_replays(config, register, state)
    plain = [1, "one", [2.5, None]]  # a tuple comes back as a JSON array: a list, every time
    assert state["calls"] == 2
    for i, got in enumerate(state["seen"] + results):
        assert_same(got, plain, f"#{i}")


def test_unannotated_rich_values_come_back_as_their_json_form(dbos):
    @DBOS.step()
    def produce():
        return {"when": datetime.date(2024, 1, 2), "point": Point(1, 2.0), 3: b"\x01"}

    @DBOS.workflow()
    def pipeline():
        return produce()

    DBOS.launch()
    expected = {"when": "2024-01-02", "point": {"x": 1, "y": 2.0}, "3": "AQ=="}
    with SetWorkflowID("w"):
        assert_same(pipeline(), expected)
    with SetWorkflowID("w"):
        assert_same(pipeline(), expected)


def test_child_workflow_results_are_typed_on_first_run_and_replay(dbos, config):
    state: dict = {"seen": [], "child_runs": 0}

    def register():
        @DBOS.workflow(name="child")
        def child(p: Point) -> Invoice:
            state["child_runs"] += 1
            return Invoice(p.x, datetime.date(2024, 1, p.x), Decimal("1.50"), b"\x01", [p])

        @DBOS.workflow(name="parent")
        def parent() -> list[Invoice]:
            direct = child(Point(1, 0.5))
            via_handle = DBOS.start_workflow(child, Point(2, 1.5)).get_result()
            state["seen"].append([direct, via_handle])
            interrupt_if_first_run(state)
            return [direct, via_handle]

        return parent

    expected = [Invoice(1, datetime.date(2024, 1, 1), Decimal("1.50"), b"\x01", [Point(1, 0.5)]),
                Invoice(2, datetime.date(2024, 1, 2), Decimal("1.50"), b"\x01", [Point(2, 1.5)])]
    results = first_run_and_replays(config, register, state)
    assert state["child_runs"] == 4  # two children per parent id, each run once
    assert len(state["seen"]) == 4
    for i, got in enumerate(state["seen"] + results):
        assert_same(got, expected, f"#{i}")


# ---- Workflow arguments ---------------------------------------------------------------------


def test_annotated_workflow_arguments_are_typed_on_first_run_and_on_recovery(dbos, config):
    state: dict = {"received": []}

    def register():
        @DBOS.workflow(name="ship")
        def ship(order: Order, when: datetime.datetime, *extra: Point, priority: Priority,
                 **prices: Decimal) -> str:
            state["received"].append((order, when, extra, priority, prices))
            interrupt_if_first_run(state)
            return f"{order.order_id} at {when.isoformat()}"

        return ship

    args = (ORDER, datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=IST), Point(1, 0.5),
            Point(2, 1.5))
    kwargs = {"priority": Priority.HIGH, "apple": Decimal("0.35"), "pear": Decimal("1.20")}
    expected = (args[0], args[1], args[2:], kwargs["priority"],
                {"apple": Decimal("0.35"), "pear": Decimal("1.20")})

    state["interrupt"] = {"s"}
    ship = register()
    DBOS.launch()
    with SetWorkflowID("s"):
        with pytest.raises(Interrupted):
            ship(*args, **kwargs)

    relaunch(config, register)  # recovery runs the body again with the recorded arguments
    assert DBOS.retrieve_workflow("s").get_result() == (
        f"{ORDER.order_id} at 2024-05-06T07:08:09+05:30")
    assert len(state["received"]) == 2
    for i, received in enumerate(state["received"]):
        assert_same(received, expected, f"arguments of run #{i}")

    status = DBOS.get_workflow_status("s")
    assert_same(status.input["args"], tuple(args))
    assert_same(status.input["kwargs"], kwargs)


def test_annotated_dataclass_argument_on_replay_by_id(dbos):
    received = []

    @DBOS.workflow()
    def move(p: Point, by: tuple[int, int]) -> Point:
        received.append((p, by))
        return Point(p.x + by[0], p.y + by[1])

    DBOS.launch()
    with SetWorkflowID("m"):
        assert_same(move(Point(1, 1.0), (2, 3)), Point(3, 4.0))
    with SetWorkflowID("m"):
        assert_same(move(Point(9, 9.0), (0, 0)), Point(3, 4.0))  # the recorded result
    assert len(received) == 1
    assert_same(received[0], (Point(1, 1.0), (2, 3)))


def test_arguments_are_typed_however_the_workflow_is_called(dbos):
    """All by position (decoded in one go), then by keyword, with a default, by position again
    and with a value its annotation does not describe (each decoded one by one)."""
    received = []

    @DBOS.workflow()
    def pack(p: Point, n: int = 1, *rest: Point) -> int:
        received.append((p, n, rest))
        return n

    DBOS.launch()
    assert pack(Point(1, 1.0), 2) == 2
    assert pack(Point(2, 2.0), n=3) == 3
    assert pack(Point(3, 3.0)) == 1
    assert pack(Point(4, 4.0), 5, Point(6, 6.0)) == 5
    assert pack(Point(7, 7.0), "not an int") == "not an int"
    assert_same(received, [(Point(1, 1.0), 2, ()), (Point(2, 2.0), 3, ()),
                           (Point(3, 3.0), 1, ()), (Point(4, 4.0), 5, (Point(6, 6.0),)),
                           (Point(7, 7.0), "not an int", ())])


def test_unannotated_workflow_arguments_are_plain_json_on_first_run(dbos):
    received = []

    @DBOS.workflow()
    def raw(pair, *, mapping):
        received.append((pair, mapping))
        return pair

    DBOS.launch()
    with SetWorkflowID("r"):
        assert raw((1, 2), mapping={"k": (3,)}) == [1, 2]
    assert_same(received, [([1, 2], {"k": [3]})])


# ---- Values that cannot be recorded ---------------------------------------------------------

UNSUPPORTED = [
    pytest.param(lambda: object(), id="object"),
    pytest.param(lambda: (lambda: 1), id="lambda"),
    pytest.param(lambda: {object(), object()}, id="set-of-objects"),
    pytest.param(lambda: {"nested": [1, object()]}, id="nested-object"),
]


@pytest.mark.parametrize("make", UNSUPPORTED)
@pytest.mark.deliberate_difference(
    "values must be JSON-like (msgspec); DBOS Transact pickles them"
)
def test_unencodable_step_value_raises_type_error_and_records_nothing(dbos, make):
    errors = []

    @DBOS.step()
    def unrecordable_step():
        return make()

    @DBOS.step()
    def fine_step() -> int:
        return 5

    @DBOS.workflow()
    def workflow() -> int:
        try:
            unrecordable_step()
        except TypeError as exc:
            errors.append(str(exc))
        return fine_step()

    DBOS.launch()
    with SetWorkflowID("w"):
        assert workflow() == 5
    assert len(errors) == 1
    assert "unrecordable_step" in errors[0] and "cannot be recorded" in errors[0]
    steps = DBOS.list_workflow_steps("w")
    assert [s["function_id"] for s in steps] == [2]  # no row at position 1
    assert steps[0]["output"] == 5


def test_unencodable_step_value_fails_the_workflow_that_does_not_catch_it(dbos):
    @DBOS.step()
    def unrecordable_step():
        return object()

    @DBOS.workflow()
    def workflow():
        return unrecordable_step()

    DBOS.launch()
    with SetWorkflowID("w"):
        with pytest.raises(TypeError, match="unrecordable_step"):
            workflow()
    assert DBOS.list_workflow_steps("w") == []
    assert DBOS.get_workflow_status("w").status == "ERROR"


@pytest.mark.parametrize("make", UNSUPPORTED)
def test_unencodable_workflow_return_value_raises_type_error_naming_it(dbos, make):
    @DBOS.workflow()
    def unrecordable_workflow():
        return make()

    DBOS.launch()
    with SetWorkflowID("w"):
        with pytest.raises(TypeError, match="unrecordable_workflow.*cannot be recorded"):
            unrecordable_workflow()
    with SetWorkflowID("w"):  # and the same error again on replay
        with pytest.raises(TypeError, match="unrecordable_workflow"):
            unrecordable_workflow()


@pytest.mark.parametrize("make", UNSUPPORTED)
def test_unencodable_workflow_argument_creates_no_workflow(dbos, make):
    runs = []

    @DBOS.workflow()
    def takes_anything(value, **extra):
        runs.append(value)

    DBOS.launch()
    with SetWorkflowID("w"):
        with pytest.raises(TypeError, match="takes_anything.*cannot be recorded"):
            takes_anything(make())
    with pytest.raises(TypeError, match="takes_anything.*cannot be recorded"):
        takes_anything(1, extra=make())
    with pytest.raises(TypeError, match="takes_anything.*cannot be recorded"):
        DBOS.start_workflow(takes_anything, make())
    assert runs == []
    assert DBOS.list_workflows() == []
    assert DBOS.get_workflow_status("w") is None


# ---- Errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("make_error, expected_type, attributes", [
    pytest.param(lambda: ValueError("bad value 42"), ValueError, {}, id="ValueError"),
    pytest.param(lambda: PaymentDeclined(402, "card expired"), PaymentDeclined,
                 {"code": 402, "reason": "card expired"}, id="custom-two-arg-init"),
])
def test_step_error_is_recorded_and_replayed_without_calling_the_step(
        dbos, config, make_error, expected_type, attributes):
    state: dict = {"calls": 0, "seen": []}
    message = str(make_error())

    def register():
        @DBOS.step(name="failing")
        def failing() -> int:
            state["calls"] += 1
            raise make_error()

        @DBOS.workflow(name="catcher")
        def catcher() -> str:
            try:
                failing()
            except Exception as exc:  # noqa: BLE001 - the test looks at what comes back
                state["seen"].append(exc)
            interrupt_if_first_run(state)
            return "caught"

        return catcher

    results = first_run_and_replays(config, register, state)
    assert results == ["caught"] * 5
    assert state["calls"] == 2  # once per workflow id
    assert len(state["seen"]) == 4
    for exc in state["seen"]:
        assert type(exc) is expected_type
        assert str(exc) == message
        for name, value in attributes.items():
            assert getattr(exc, name) == value

    for workflow_id in ("a", "b"):
        steps = DBOS.list_workflow_steps(workflow_id)
        assert [s["function_name"] for s in steps] == ["failing"]
        assert steps[0]["output"] is None
        assert type(steps[0]["error"]) is expected_type and str(steps[0]["error"]) == message


@pytest.mark.parametrize("make_error, expected_type", [
    pytest.param(lambda: ValueError("bad value 42"), ValueError, id="ValueError"),
    pytest.param(lambda: PaymentDeclined(402, "card expired"), PaymentDeclined,
                 id="custom-two-arg-init"),
])
def test_workflow_error_replays_with_its_type_and_message(dbos, config, make_error,
                                                          expected_type):
    calls = []
    message = str(make_error())

    def register():
        @DBOS.step(name="failing")
        def failing() -> int:
            calls.append(1)
            raise make_error()

        @DBOS.workflow(name="propagates")
        def propagates() -> int:
            return failing()

        return propagates

    propagates = register()
    DBOS.launch()
    for _ in range(2):
        with SetWorkflowID("w"):
            with pytest.raises(expected_type) as info:
                propagates()
        assert type(info.value) is expected_type and str(info.value) == message

    propagates = relaunch(config, register)
    with SetWorkflowID("w"):
        with pytest.raises(expected_type) as info:
            propagates()
    assert type(info.value) is expected_type and str(info.value) == message
    status = DBOS.get_workflow_status("w")
    assert status.status == "ERROR"
    assert type(status.error) is expected_type and str(status.error) == message
    assert calls == [1]


def test_error_of_a_class_defined_in_a_function_comes_back_as_recorded_error(dbos, config):
    class LocalError(Exception):
        pass

    state: dict = {"calls": 0, "seen": []}

    def register():
        @DBOS.step(name="failing")
        def failing() -> int:
            state["calls"] += 1
            raise LocalError("local failure")

        @DBOS.workflow(name="catcher")
        def catcher() -> str:
            try:
                failing()
            except Exception as exc:  # noqa: BLE001
                state["seen"].append(exc)
            interrupt_if_first_run(state)
            return "caught"

        return catcher

    assert first_run_and_replays(config, register, state) == ["caught"] * 5
    assert state["calls"] == 2
    first_a, replay_a, first_b, replay_b = state["seen"]
    assert type(first_a) is LocalError and type(first_b) is LocalError  # the live exception
    for replayed in (replay_a, replay_b):
        assert isinstance(replayed, DBOSRecordedError)
        assert replayed.type_name.endswith("LocalError")
        assert "<locals>" in replayed.type_name
        assert replayed.message == "local failure"
        assert "LocalError" in str(replayed) and "local failure" in str(replayed)


def test_error_whose_constructor_refuses_its_args_comes_back_as_recorded_error(dbos):
    calls = []

    @DBOS.workflow()
    def fails() -> int:
        calls.append(1)
        raise OnlyMessageError(500, "server down")

    DBOS.launch()
    with SetWorkflowID("w"):
        with pytest.raises(OnlyMessageError):
            fails()
    with SetWorkflowID("w"):
        with pytest.raises(DBOSRecordedError) as info:
            fails()
    assert info.value.type_name.endswith("OnlyMessageError")
    assert info.value.message == "failed with 500: server down"
    assert calls == [1]


# ---- Opening a journal runs no code ---------------------------------------------------------

# A crafted row read back end to end (status, steps, listing, replay, recovery) is in
# test_hostile_input.py; NaN and infinity are there too.


def test_decoding_an_error_never_imports_the_module_it_names():
    crafted = ('{"type": "Boom", "module": "some_module_never_imported_xyz", "message": "m",'
               ' "args": []}')
    assert "some_module_never_imported_xyz" not in sys.modules
    error = dbos_lite._decode_error(crafted)
    assert "some_module_never_imported_xyz" not in sys.modules
    assert isinstance(error, DBOSRecordedError)
    assert error.type_name == "some_module_never_imported_xyz.Boom"
    assert error.message == "m"


def test_decoding_an_error_does_not_import_a_module_that_exists():
    # tabnanny is in the standard library and defines the exception NannyNag(lineno, msg, line).
    if "tabnanny" in sys.modules:
        pytest.skip("tabnanny is already imported in this process")
    crafted = ('{"type": "NannyNag", "module": "tabnanny", "message": "m",'
               ' "args": [1, "msg", "line"]}')
    error = dbos_lite._decode_error(crafted)
    assert "tabnanny" not in sys.modules
    assert isinstance(error, DBOSRecordedError) and error.message == "m"


@pytest.mark.parametrize("type_name, module", [
    ("system", "os"),             # a function, not an exception class
    ("Path", "pathlib"),          # a class, not an exception class
    ("path.join", "os"),          # a dotted name to a function
])
def test_decoding_an_error_calls_only_exception_classes(type_name, module):
    import os  # noqa: F401 - make sure the named modules are imported
    import pathlib  # noqa: F401

    crafted = msgspec.json.encode({"type": type_name, "module": module, "message": "m",
                                   "args": ["echo not run"]}).decode()
    error = dbos_lite._decode_error(crafted)
    assert isinstance(error, DBOSRecordedError)
    assert error.type_name == f"{module}.{type_name}" and error.message == "m"


# ---- encode_value / decode_value / encode_error / decode_error directly ---------------------


@pytest.mark.parametrize("annotation, value",
                         [pytest.param(a, v, id=i) for i, a, v in TYPED_VALUES])
def test_encode_value_decode_value_round_trip(annotation, value):
    text = dbos_lite._encode_value(value, "a test value")
    assert isinstance(text, str)
    assert_same(dbos_lite._decode_value(text, annotation), value)


def test_encoded_values_are_plain_json():
    import json

    text = dbos_lite._encode_value(INVOICE, "an invoice")
    assert json.loads(text) == {
        "number": 7, "issued": "2024-03-01", "total": "1234.500", "payload": "AAH+/w==",
        "points": [{"x": 1, "y": 2.5}, {"x": -3, "y": 0.125}], "due": "2024-04-01T09:00:00Z",
    }


def test_decode_value_without_annotation_and_of_nothing():
    assert dbos_lite._decode_value(None) is None
    assert dbos_lite._decode_value(None, Point) is None
    assert_same(dbos_lite._decode_value(dbos_lite._encode_value((1, "a"), "v")), [1, "a"])
    assert_same(dbos_lite._decode_value(dbos_lite._encode_value(Color.RED, "v")), "red")


def test_decode_value_falls_back_to_plain_json_when_the_annotation_does_not_match():
    assert_same(dbos_lite._decode_value('"not a number"', int), "not a number")
    assert_same(dbos_lite._decode_value('{"x": 1}', Point), {"x": 1})


@pytest.mark.parametrize("make", UNSUPPORTED)
def test_encode_value_names_what_cannot_be_encoded(make):
    with pytest.raises(TypeError, match="the frobnicator's result"):
        dbos_lite._encode_value(make(), "the frobnicator's result")


def test_encode_error_decode_error_round_trip():
    for error in (ValueError("v"), KeyError("k"), PaymentDeclined(3, "r")):
        decoded = dbos_lite._decode_error(dbos_lite._encode_error(error))
        assert type(decoded) is type(error) and str(decoded) == str(error)
        assert decoded.args == error.args
    assert dbos_lite._decode_error(None) is None
