# Shows crash and resume. The first run kills itself with SIGKILL in the middle of a five-step
# job. Run it again: launch() resumes the job from its last completed step; the finished steps
# are replayed from the journal, not run. A third run just prints the recorded result.
import os
import signal
import sys

from dbos_lite import DBOS, SetWorkflowID

HERE = os.path.dirname(os.path.abspath(__file__))
DBOS(config={"name": "crash-demo",
             "system_database_url": f"sqlite:///{HERE}/03_crash_and_resume.sqlite"})
ran_here = set()


@DBOS.step()
def process_chunk(n: int) -> int:
    ran_here.add(n)
    print(f"  step {n}: running")
    if n == 3 and not os.environ.get("DEMO_NO_CRASH") and DBOS.get_workflow_status(
            DBOS.workflow_id).recovery_attempts == 1:
        print("  step 3: the process dies now (SIGKILL), before step 3 is recorded")
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return n * n


@DBOS.workflow()
def job(chunks: int) -> int:
    return sum(process_chunk(n) for n in range(1, chunks + 1))


if __name__ == "__main__":
    DBOS.launch()  # resumes the job at once if an earlier run of this script was killed
    with SetWorkflowID("nightly-job"):
        total = job(5)
    print(f"Result: {total}")
    for step in DBOS.list_workflow_steps("nightly-job"):
        how = "ran in this run" if step["function_id"] in ran_here else "replayed from journal"
        print(f"  step {step['function_id']}: {how}")
    print("Delete 03_crash_and_resume.sqlite* to start over.")
    DBOS.destroy()
