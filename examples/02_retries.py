# Shows step retries: a flaky step fails twice and succeeds on its third attempt, waiting
# interval_seconds * backoff_rate**i after failure i. The journal records only the success.
import os
import time

from dbos_lite import DBOS, SetWorkflowID

HERE = os.path.dirname(os.path.abspath(__file__))
DBOS(config={"name": "retries", "system_database_url": f"sqlite:///{HERE}/02_retries.sqlite"})
started = time.monotonic()


@DBOS.step(retries_allowed=True, max_attempts=5, interval_seconds=0.2, backoff_rate=2.0)
def flaky_fetch() -> str:
    attempt = DBOS.step_status.current_attempt
    print(f"  t={time.monotonic() - started:4.2f}s attempt {attempt + 1}")
    if attempt < 2:
        raise ConnectionError("the server is busy")
    return "payload"


@DBOS.workflow()
def fetch_job() -> str:
    return flaky_fetch()


if __name__ == "__main__":
    DBOS.reset_system_database()
    DBOS.launch()
    print("Attempts (waits of 0.2 s, then 0.4 s):")
    with SetWorkflowID("fetch-1"):
        print("  result:", fetch_job())
    [step] = DBOS.list_workflow_steps("fetch-1")
    print(f"  journal: {step['function_name']} -> {step['output']!r} (one row for all attempts)")
    DBOS.destroy()
