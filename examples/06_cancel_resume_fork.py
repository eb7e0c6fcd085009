# Shows workflow management: cancel a running workflow (it stops at its next step), resume it
# (it continues from its last completed step), and fork a finished one from step 3 (steps 1-2
# are reused from the journal, steps 3-4 run again, e.g. after fixing a bug in step 3).
import os
import time

from dbos_lite import DBOS, SetWorkflowID

HERE = os.path.dirname(os.path.abspath(__file__))
DBOS(config={"name": "manage", "system_database_url": f"sqlite:///{HERE}/06_manage.sqlite"})


@DBOS.step()
def stage(n: int) -> str:
    print(f"  running stage {n}")
    time.sleep(0.3)
    return f"stage {n} ok"


@DBOS.workflow()
def pipeline() -> list[str]:
    return [stage(n) for n in range(1, 5)]


if __name__ == "__main__":
    DBOS.reset_system_database()
    DBOS.launch()
    with SetWorkflowID("pipeline-1"):
        handle = DBOS.start_workflow(pipeline)
    time.sleep(0.45)  # stage 2 is running
    print("Cancel:")
    DBOS.cancel_workflow("pipeline-1")
    time.sleep(0.3)
    print("  status:", handle.get_status().status)
    print("Resume (stage 2 was not recorded, so it runs again):")
    print("  result:", DBOS.resume_workflow("pipeline-1").get_result())
    print("Fork from step 3:")
    with SetWorkflowID("pipeline-1-fork"):
        forked = DBOS.fork_workflow("pipeline-1", 3)
    print("  result:", forked.get_result())
    print("  forked from:", forked.get_status().forked_from)
    DBOS.destroy()
