"""DBOS.patch / deprecate_patch: changing code under workflows in flight."""

import threading
import time

import pytest

from engine import DBOS, SetWorkflowID

pytestmark = pytest.mark.both_engines  # every test here uses DBOS names only


def test_patch_lets_workflows_in_flight_keep_the_old_path(dbos, config):
    ran = []
    hold = threading.Event()
    version = {"patched": False}

    @DBOS.step()
    def old_step() -> str:
        ran.append("old")
        return "old"

    @DBOS.step()
    def new_step() -> str:
        ran.append("new")
        return "new"

    @DBOS.step()
    def wait_step() -> None:
        if not version["patched"]:
            hold.wait(5)
            raise SystemExit  # the "crash": never recorded

    @DBOS.workflow(name="job")
    def job() -> str:
        if version["patched"] and DBOS.patch("use-new-step"):
            result = new_step()
        else:
            result = old_step()
        wait_step()
        return result

    DBOS.launch()
    with SetWorkflowID("old"):
        DBOS.start_workflow(job)
    deadline = time.monotonic() + 5
    while ran != ["old"] and time.monotonic() < deadline:
        time.sleep(0.01)
    DBOS.destroy()  # the old code's process dies while "old" waits in wait_step
    hold.set()

    version["patched"] = True  # the new code is deployed and launched
    DBOS(config=config)
    DBOS.launch()
    assert DBOS.retrieve_workflow("old").get_result() == "old"  # replayed old_step
    with SetWorkflowID("new"):
        DBOS.start_workflow(job)
    assert DBOS.retrieve_workflow("new").get_result() == "new"
    assert ran == ["old", "new"]
    names = [s["function_name"] for s in DBOS.list_workflow_steps("new")]
    assert names == ["DBOS.patch-use-new-step", new_step.__qualname__, wait_step.__qualname__]


def test_deprecate_patch_replays_patched_workflows_and_records_nothing_new(dbos):
    @DBOS.step()
    def step() -> str:
        return "done"

    mode = {"deprecated": False}

    @DBOS.workflow(name="job")
    def job() -> str:
        if mode["deprecated"]:
            assert DBOS.deprecate_patch("p1")
        else:
            assert DBOS.patch("p1")
        return step()

    DBOS.launch()
    with SetWorkflowID("patched"):
        job()
    mode["deprecated"] = True
    with SetWorkflowID("fresh"):
        assert job() == "done"
    assert [s["function_name"] for s in DBOS.list_workflow_steps("fresh")] == [
        step.__qualname__]
