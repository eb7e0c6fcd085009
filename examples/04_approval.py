# Shows a workflow waiting for a human: it records a request, then waits (durably) up to a day
# for an approval message. Terminal 1: `python examples/04_approval.py` starts it and waits.
# Terminal 2: `python examples/04_approval.py approve` (or `reject`) sends the decision.
# Kill terminal 1 while it waits and run it again: it keeps waiting for the same deadline.
# `python examples/04_approval.py demo` does both in one command (the approval after 1 s).
import os
import subprocess
import sys

from dbos_lite import DBOS, SetWorkflowID

HERE = os.path.dirname(os.path.abspath(__file__))
COMMAND = sys.argv[1] if len(sys.argv) > 1 else "wait"
SENDER = COMMAND in ("approve", "reject")
# The sender has an executor id of its own: on DBOS Transact, launch() recovers the unfinished
# workflows of its executor id, so a sender sharing the waiter's would take over the waiting one.
DBOS(config={"name": "approval", "system_database_url": f"sqlite:///{HERE}/04_approval.sqlite",
             "notification_listener_polling_interval_sec": 0.1,
             "executor_id": "sender" if SENDER else "waiter"})
REQUEST_ID = "expense-7"


@DBOS.step()
def record_request(amount: int) -> str:
    print(f"Expense of {amount} EUR submitted; waiting for approval.", flush=True)
    return "submitted"


@DBOS.workflow()
def expense_approval(amount: int) -> str:
    record_request(amount)
    decision = DBOS.recv("approval", timeout_seconds=24 * 3600)
    return "timed out" if decision is None else decision


if __name__ == "__main__":
    DBOS.launch()
    if SENDER:
        DBOS.send(REQUEST_ID, f"{COMMAND}d by {os.environ.get('USER', 'a human')}", "approval")
        print(f"Sent '{COMMAND}' to {REQUEST_ID}.")
    else:
        if COMMAND == "demo":
            subprocess.Popen(
                [sys.executable, "-c", "import time, subprocess, sys; time.sleep(1); "
                 f"subprocess.run([sys.executable, {__file__!r}, 'approve'])"])
        else:
            print(f"In another terminal: python {sys.argv[0]} approve")
        with SetWorkflowID(REQUEST_ID):
            print(f"Decision: {expense_approval(120)}")
        print(f"(Delete {HERE}/04_approval.sqlite* to submit a new request.)")
    DBOS.destroy()
