"""Workflows of classes and instances (@DBOS.dbos_class, DBOSConfiguredInstance, classmethods and
staticmethods), and waiting by id: DBOS.get_result and DBOS.wait_first."""

import asyncio
import dataclasses
import logging
import threading

import apsw
import pytest

import dbos_lite
import sqlite_here
from dbos_lite import (
    DBOS,
    DBOSAwaitedWorkflowCancelledError,
    DBOSConfiguredInstance,
    DBOSConflictingWorkflowError,
    DBOSException,
    DBOSNonExistentWorkflowError,
    SetWorkflowID,
)
from harness import ScriptApps, journal_rows, row_changes

# ---- DBOS.get_result ----


@dataclasses.dataclass
class Point:
    x: int
    y: int


def test_get_result_by_id_returns_the_value_typed_by_the_workflow(dbos):
    @DBOS.workflow()
    def make(x: int) -> tuple[Point, int]:
        return Point(x, x + 1), x

    DBOS.launch()
    with SetWorkflowID("p"):
        DBOS.start_workflow(make, 3)
    assert DBOS.get_result("p") == (Point(3, 4), 3)
    assert asyncio.run(DBOS.get_result_async("p")) == (Point(3, 4), 3)


def test_get_result_raises_the_workflow_error_and_waits_for_a_running_one(dbos):
    release = threading.Event()

    @DBOS.workflow()
    def slow() -> str:
        release.wait(10)
        return "done"

    @DBOS.workflow()
    def broken() -> None:
        raise KeyError("missing")

    DBOS.launch()
    with SetWorkflowID("b"):
        with pytest.raises(KeyError):
            broken()
    with pytest.raises(KeyError, match="missing"):
        DBOS.get_result("b")
    with SetWorkflowID("s"):
        DBOS.start_workflow(slow)
    threading.Timer(0.2, release.set).start()
    assert DBOS.get_result("s") == "done"


def test_get_result_of_an_unknown_id_raises_instead_of_waiting_for_ever(dbos):
    DBOS.launch()
    with pytest.raises(DBOSNonExistentWorkflowError, match="nope"):
        DBOS.get_result("nope")
    with pytest.raises(DBOSNonExistentWorkflowError):
        asyncio.run(DBOS.get_result_async("nope"))


def test_get_result_of_a_cancelled_workflow_raises(dbos):
    @DBOS.workflow()
    def waits() -> None:
        DBOS.recv("never", timeout_seconds=30)

    DBOS.launch()
    with SetWorkflowID("c"):
        DBOS.start_workflow(waits)
    DBOS.cancel_workflow("c")
    with pytest.raises(DBOSAwaitedWorkflowCancelledError):
        DBOS.get_result("c")


def test_get_result_inside_a_workflow_is_recorded_and_replayed(dbos):
    runs = []

    @DBOS.workflow(name="child")
    def child(x: int) -> int:
        runs.append(x)
        return x * 10

    @DBOS.workflow()
    def parent() -> tuple[int, str]:
        with SetWorkflowID("child"):
            DBOS.start_workflow(child, 4)
        try:
            DBOS.get_result("absent")
            missing = "no error"
        except DBOSNonExistentWorkflowError:
            missing = "raised"
        return DBOS.get_result("child"), missing

    DBOS.launch()
    with SetWorkflowID("parent"):
        assert parent() == (40, "raised")
    steps = DBOS.list_workflow_steps("parent")
    assert [s["function_name"] for s in steps] == ["child", "DBOS.getResult", "DBOS.getResult"]
    assert isinstance(steps[1]["error"], DBOSNonExistentWorkflowError)
    assert steps[2]["output"] == 40 and steps[2]["child_workflow_id"] == "child"
    # Replayed from the journal (fork from the end): nothing waits, the child does not rerun.
    forked = DBOS.fork_workflow("parent", 4)
    assert forked.get_result() == (40, "raised") and runs == [4]


def test_sync_get_result_and_wait_first_are_refused_on_a_running_loop(dbos):
    @DBOS.workflow()
    def quick() -> int:
        return 1

    DBOS.launch()
    handle = DBOS.start_workflow(quick)

    async def main():
        with pytest.raises(RuntimeError, match="get_result_async"):
            DBOS.get_result(handle.workflow_id)
        with pytest.raises(RuntimeError, match="wait_first_async"):
            DBOS.wait_first([handle])
        return await DBOS.get_result_async(handle.workflow_id)

    assert asyncio.run(main()) == 1


# ---- DBOS.wait_first ----


def test_wait_first_returns_the_handle_of_the_first_workflow_to_finish(dbos):
    gates = {name: threading.Event() for name in "abc"}

    @DBOS.workflow()
    def gated(name: str) -> str:
        gates[name].wait(10)
        return name

    DBOS.launch()
    handles = []
    for name in "abc":
        with SetWorkflowID(f"w-{name}"):
            handles.append(DBOS.start_workflow(gated, name))
    threading.Timer(0.2, gates["b"].set).start()
    first = DBOS.wait_first(handles)
    assert first is handles[1] and first.get_result() == "b"
    gates["c"].set()
    handles[2].get_result()
    # Several finished: the first of them in the list's order.
    assert DBOS.wait_first([handles[0], handles[2], handles[1]]) is handles[2]
    gates["a"].set()


def test_wait_first_counts_an_error_or_a_cancellation_as_finished(dbos):
    @DBOS.workflow()
    def waits() -> None:
        DBOS.recv("never", timeout_seconds=30)

    @DBOS.workflow()
    def fails() -> None:
        raise ValueError("bad")

    DBOS.launch()
    waiting = DBOS.start_workflow(waits)
    failing = DBOS.start_workflow(fails)
    assert DBOS.wait_first([waiting, failing]) is failing
    other = DBOS.start_workflow(waits)
    DBOS.cancel_workflow(other.workflow_id)
    assert DBOS.wait_first([waiting, other]) is other
    DBOS.cancel_workflow(waiting.workflow_id)


def test_wait_first_refuses_what_dbos_transact_refuses(dbos):
    @DBOS.workflow()
    def quick() -> int:
        return 1

    DBOS.launch()
    handle = DBOS.start_workflow(quick)
    handle.get_result()
    with pytest.raises(ValueError, match="handles must not be empty"):
        DBOS.wait_first([])
    with pytest.raises(ValueError, match="duplicate workflow IDs"):
        DBOS.wait_first([handle, DBOS.retrieve_workflow(handle.workflow_id)])
    ghost = DBOS.retrieve_workflow("ghost", existing_workflow=False)
    with pytest.raises(DBOSNonExistentWorkflowError, match="ghost"):
        DBOS.wait_first([ghost])
    assert DBOS.wait_first([ghost, handle]) is handle  # one has finished: no error


def test_wait_first_async_on_async_handles(dbos):
    @DBOS.workflow()
    async def sleeper(seconds: float) -> float:
        await DBOS.sleep_async(seconds)
        return seconds

    DBOS.launch()

    async def main():
        slow = await DBOS.start_workflow_async(sleeper, 5.0)
        fast = await DBOS.start_workflow_async(sleeper, 0.05)
        first = await DBOS.wait_first_async([slow, fast])
        assert first is fast and await first.get_result() == 0.05
        await DBOS.cancel_workflow_async(slow.workflow_id)

    asyncio.run(main())


def test_wait_first_inside_a_workflow_is_recorded_and_replayed(dbos):
    gate = threading.Event()

    @DBOS.workflow(name="gated")
    def gated(name: str) -> str:
        if name == "slow":
            gate.wait(10)
        return name

    @DBOS.workflow()
    def race() -> str:
        handles = []
        for name in ("slow", "fast"):
            handles.append(DBOS.start_workflow(gated, name))
        return DBOS.wait_first(handles).get_result()

    DBOS.launch()
    with SetWorkflowID("race"):
        assert race() == "fast"
    steps = DBOS.list_workflow_steps("race")
    assert [s["function_name"] for s in steps] == [
        "gated", "gated", "DBOS.waitFirst", "DBOS.getResult"]
    assert steps[2]["output"] == "race-2"
    gate.set()
    DBOS.retrieve_workflow("race-1").get_result()
    # A replay returns the recorded choice, although both have finished by now.
    forked = DBOS.fork_workflow("race", 4)
    assert forked.get_result() == "fast"


# ---- classes and configured instances ----


def define_account(runs):
    """A registered class with an instance-method workflow and step, and classmethod and
    staticmethod ones (DBOS Transact's decorator order), appending each body's run to runs."""

    @DBOS.dbos_class("Account")
    class Account(DBOSConfiguredInstance):
        def __init__(self, name: str, rate: int):
            self.rate = rate
            super().__init__(name)

        @DBOS.step()
        def charge(self, amount: int) -> int:
            runs.append(("charge", self.config_name, amount))
            return amount * self.rate

        @DBOS.workflow()
        def bill(self, amount: int) -> tuple[str, int]:
            runs.append(("bill", self.config_name, amount))
            return self.config_name, self.charge(amount)

        @classmethod
        @DBOS.step()
        def count(cls, n: int) -> int:
            runs.append(("count", cls.__name__, n))
            return n + 1

        @classmethod
        @DBOS.workflow()
        def audit(cls, n: int) -> tuple[str, int]:
            runs.append(("audit", cls.__name__, n))
            return cls.__name__, cls.count(n)

        @staticmethod
        @DBOS.step()
        def double(n: int) -> int:
            return 2 * n

        @staticmethod
        @DBOS.workflow()
        def report(n: int) -> int:
            runs.append(("report", n))
            return Account.double(n)

    return Account


def test_instance_class_and_static_methods_are_workflows_and_steps(dbos):
    runs = []
    Account = define_account(runs)
    gold, silver = Account("gold", 3), Account("silver", 5)
    DBOS.launch()
    calls = {"bill-gold": lambda: gold.bill(7), "bill-silver": lambda: silver.bill(7),
             "audit": lambda: Account.audit(4), "report": lambda: Account.report(6)}
    expected = {"bill-gold": ("gold", 21), "bill-silver": ("silver", 35),
                "audit": ("Account", 5), "report": 12}
    for workflow_id, call in calls.items():
        with SetWorkflowID(workflow_id):
            assert call() == expected[workflow_id]
    ran = list(runs)
    for workflow_id, call in calls.items():  # the same ids again: replayed, nothing runs
        with SetWorkflowID(workflow_id):
            assert call() == expected[workflow_id]
    assert runs == ran

    # DBOS Transact's names: workflows and steps by qualified name, the class by its
    # registered name, the instance by its config_name; self and cls are not inputs.
    def seen(workflow_id):
        status = DBOS.get_workflow_status(workflow_id)
        steps = [step["function_name"].rsplit(".", 2)[-2:]
                 for step in DBOS.list_workflow_steps(workflow_id)]
        return (status.name.rsplit(".", 2)[-2:], status.class_name, status.config_name,
                status.input, steps)

    assert seen("bill-gold") == (["Account", "bill"], "Account", "gold",
                                 {"args": (7,), "kwargs": {}}, [["Account", "charge"]])
    assert seen("audit") == (["Account", "audit"], "Account", None,
                             {"args": (4,), "kwargs": {}}, [["Account", "count"]])
    assert seen("report") == (["Account", "report"], None, None,
                              {"args": (6,), "kwargs": {}}, [["Account", "double"]])


def test_the_journal_names_the_instance_as_data(dbos, journal_path):
    runs = []
    Account = define_account(runs)
    gold = Account("gold", 3)
    DBOS.launch()
    with SetWorkflowID("bill-gold"):
        gold.bill(7)
    DBOS.destroy(destroy_registry=True)
    row = sqlite_here.query(journal_path, "SELECT class_name, config_name, inputs"
                            " FROM workflow_status WHERE workflow_id = 'bill-gold'")
    assert row == [("Account", "gold", '{"args":[7],"kwargs":{}}')]


def test_methods_start_in_the_background_bound_or_with_their_receiver_first(dbos):
    runs = []
    Account = define_account(runs)
    gold = Account("gold", 3)
    DBOS.launch()
    assert DBOS.start_workflow(gold.bill, 2).get_result() == ("gold", 6)
    assert DBOS.start_workflow(Account.bill, gold, 3).get_result() == ("gold", 9)
    assert DBOS.start_workflow(Account.audit, 1).get_result() == ("Account", 2)
    assert DBOS.start_workflow(Account.report, 1).get_result() == 2

    async def main():
        handle = await DBOS.start_workflow_async(gold.bill, 4)
        return await handle.get_result()

    assert asyncio.run(main()) == ("gold", 12)


def test_async_method_workflows(dbos):
    @DBOS.dbos_class()
    class Greeter(DBOSConfiguredInstance):
        @DBOS.workflow()
        async def greet(self, name: str) -> str:
            await DBOS.sleep_async(0.01)
            return f"{self.config_name} greets {name}"

        @classmethod
        @DBOS.workflow()
        async def kind(cls) -> str:
            return cls.__name__

    greeter = Greeter("en")
    DBOS.launch()

    async def main():
        with SetWorkflowID("g"):
            first = await greeter.greet("ada")
        with SetWorkflowID("g"):
            again = await greeter.greet("bob")
        return first, again, await Greeter.kind()

    assert asyncio.run(main()) == ("en greets ada", "en greets ada", "Greeter")
    status = DBOS.get_workflow_status("g")
    assert (status.class_name, status.config_name) == (Greeter.__qualname__, "en")


def test_the_registered_class_name_is_recorded_and_workflow_names_stay(dbos):
    @DBOS.dbos_class("Ledger")
    class Book(DBOSConfiguredInstance):
        @DBOS.workflow(name="entry")
        def entry(self) -> str:
            return self.config_name

    book = Book("main")
    DBOS.launch()
    with SetWorkflowID("e"):
        assert book.entry() == "main"
    status = DBOS.get_workflow_status("e")
    assert (status.name, status.class_name, status.config_name) == ("entry", "Ledger", "main")


def test_same_id_on_another_instance_or_method_conflicts(dbos):
    runs = []
    Account = define_account(runs)
    gold, silver = Account("gold", 3), Account("silver", 5)
    DBOS.launch()
    with SetWorkflowID("b"):
        gold.bill(1)
    with SetWorkflowID("b"):
        with pytest.raises(DBOSConflictingWorkflowError, match="different config name: gold"):
            silver.bill(1)
    with SetWorkflowID("a"):
        Account.audit(1)

    @DBOS.workflow(name=Account.audit.__qualname__)
    def impostor(n: int) -> None: ...

    with SetWorkflowID("a"):
        with pytest.raises(DBOSConflictingWorkflowError, match="different class name: Account"):
            impostor(1)


def test_two_instances_with_one_config_name_are_refused(dbos):
    Account = define_account([])
    Account("gold", 3)
    with pytest.raises(DBOSException, match="Duplicate instance registration.*'gold'"):
        Account("gold", 4)
    with pytest.raises(DBOSException, match="non-empty string"):
        Account("", 4)


def test_two_classes_with_one_name_are_refused(dbos):
    @DBOS.dbos_class("Shared")
    class First:
        pass

    class Second:
        pass

    with pytest.raises(DBOSException, match="Duplicate type registration for class 'Shared'"):
        DBOS.dbos_class("Shared")(Second)
    assert DBOS.dbos_class("Shared")(First) is First  # decorating again changes nothing


def test_a_subclass_runs_under_its_registered_parent(dbos):
    runs = []
    Account = define_account(runs)

    class Savings(Account):
        pass

    savings = Savings("savings", 2)
    with pytest.raises(DBOSException, match="refuses to register such a subclass"):
        DBOS.dbos_class()(Savings)  # DBOS Transact refuses it too
    DBOS.launch()
    with SetWorkflowID("s"):
        assert savings.bill(5) == ("savings", 10)
    status = DBOS.get_workflow_status("s")
    assert (status.class_name, status.config_name) == ("Account", "savings")


def test_misuse_is_refused_with_what_to_do(dbos):
    with pytest.raises(DBOSException, match="put @classmethod above"):
        class WrongOrder:
            @DBOS.workflow()
            @classmethod
            def run(cls) -> None: ...

    with pytest.raises(DBOSException, match="put @staticmethod above"):
        class WrongStep:
            @DBOS.step()
            @staticmethod
            def run() -> None: ...

    @DBOS.dbos_class()
    class NotConfigured:
        @DBOS.workflow()
        def run(self) -> None: ...

    class Undecorated:
        @DBOS.workflow()
        def run(self) -> None: ...

    Account = define_account([])
    gold = Account("gold", 3)
    DBOS.launch()
    with pytest.raises(DBOSException, match="DBOSConfiguredInstance"):
        NotConfigured().run()
    with pytest.raises(TypeError, match=r"@DBOS.dbos_class\(\)"):
        Undecorated().run()
    gold.config_name = "platinum"  # recovery would look for another instance
    with pytest.raises(DBOSException, match="not the one registered as Account/platinum"):
        gold.bill(1)
    assert DBOS.list_workflows() == []  # nothing was started


def test_an_instance_created_after_launch_is_warned_about(dbos, caplog):
    Account = define_account([])
    DBOS.launch()
    with caplog.at_level(logging.WARNING, logger="dbos_lite"):
        late = Account("late", 1)
    assert "created after DBOS.launch()" in caplog.text
    assert late.bill(1) == ("late", 1)


def test_a_journal_from_before_classes_is_migrated(dbos, config, journal_path):
    conn = apsw.Connection(journal_path)
    for migration in dbos_lite._MIGRATIONS[:3]:
        for statement in migration:
            conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {dbos_lite.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 3")
    conn.execute("INSERT INTO workflow_status (workflow_id, status, name, inputs, output,"
                 " created_at, updated_at, max_recovery_attempts) VALUES"
                 " ('old', 'SUCCESS', 'old', '{\"args\":[],\"kwargs\":{}}', '5', 1, 1, 100)")
    conn.close()
    DBOS.launch()
    status = DBOS.get_workflow_status("old")
    assert (status.output, status.class_name, status.config_name) == (5, None, None)


# ---- recovery after a crash, in real processes ----

ACCOUNT_APP = """
    from dbos_lite import DBOSConfiguredInstance

    DBOS(config=config())

    def pause(what):
        log(DBOS.workflow_id, "pause", what)
        if env("kill_in") == what:
            os.kill(os.getpid(), signal.SIGKILL)  # the crash: between two steps

    @DBOS.dbos_class()
    class Account(DBOSConfiguredInstance):
        def __init__(self, name, rate):
            self.rate = rate
            super().__init__(name)

        @DBOS.step()
        def charge(self, amount: int) -> int:
            log(DBOS.workflow_id, "charge", self.config_name)
            return amount * self.rate

        @DBOS.step()
        def hold(self) -> None:
            pause("bill")

        @DBOS.workflow()
        def bill(self, amount: int) -> dict:
            total = self.charge(amount)
            self.hold()
            return {"account": self.config_name, "total": total}

        @classmethod
        @DBOS.step()
        def count(cls, n: int) -> int:
            log(DBOS.workflow_id, "count", cls.__name__)
            return n + 1

        @classmethod
        @DBOS.step()
        def hold_class(cls) -> None:
            pause("audit")

        @classmethod
        @DBOS.workflow()
        def audit(cls, n: int) -> list:
            counted = cls.count(n)
            cls.hold_class()
            return [cls.__name__, counted]

    if MODE != "no-instance":
        gold = Account("gold", 3)
    Account("silver", 5)  # recovery must take the instance named in the journal
    DBOS.launch()
    summary = {}
    if MODE == "no-instance":
        time.sleep(0.5)  # recovery has looked, and left bill-1 alone
        summary["bill-1"] = status_of("bill-1")
    elif env("kill_in") == "bill":
        with SetWorkflowID("bill-1"):
            gold.bill(7)
    else:
        summary["bill-1"] = DBOS.get_result("bill-1")  # recovered at launch
        if env("kill_in") == "audit":
            with SetWorkflowID("audit-1"):
                Account.audit(4)
        summary["audit-1"] = DBOS.get_result("audit-1")
    print_summary(summary)
    DBOS.destroy()
"""


@pytest.mark.slow
def test_method_workflows_resume_after_kill_9_on_their_instance_or_class(tmp_path):
    with ScriptApps(tmp_path, ACCOUNT_APP) as apps:
        _, code, _, _ = apps.run("crash", kill_in="bill")
        assert code == -9 and apps.count("pause", "bill", "bill-1") == 1

        # Without the instance gold, bill-1 stays PENDING, untouched, and the log says why.
        before = journal_rows(apps.journal, "bill-1")
        _, code, summary, stderr = apps.run("no-instance")
        assert code == 0, stderr
        assert summary["bill-1"]["status"] == "PENDING"
        assert "configured instance 'Account/gold'" in stderr
        assert row_changes(before, journal_rows(apps.journal, "bill-1")) == []

        # With it, launch resumes bill-1 on gold after its last step; then audit-1 crashes.
        _, code, _, stderr = apps.run("crash", kill_in="audit")
        assert code == -9, stderr
        _, code, summary, stderr = apps.run("recover")
        assert code == 0, stderr
        assert summary == {"bill-1": {"account": "gold", "total": 21},
                           "audit-1": ["Account", 5]}
    assert apps.count("charge", "gold", "bill-1") == 1  # a completed step never runs again
    assert apps.count("pause", "bill", "bill-1") == 2
    assert apps.count("count", "Account", "audit-1") == 1
    assert apps.count("pause", "audit", "audit-1") == 2
    assert apps.query("SELECT workflow_id, class_name, config_name, status FROM workflow_status"
                      " ORDER BY workflow_id") == [("audit-1", "Account", None, "SUCCESS"),
                                                   ("bill-1", "Account", "gold", "SUCCESS")]
