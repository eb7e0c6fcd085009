"""The engine that the tests marked ``both_engines`` run on: dbos_lite, or DBOS Transact when
``DBOS_LITE_TEST_ENGINE=dbos`` (``make compat`` does that, in .venv-compat).

Those tests import DBOS's names from here, ``from engine import DBOS, SetWorkflowID, ...``, so
one test body runs on both engines. The names are the ones a program moving to DBOS keeps; only
the errors are imported differently by programs (top-level in dbos_lite, ``dbos.error`` in DBOS),
and this module hides that. Under the dbos engine, tests not marked ``both_engines`` are skipped
(see conftest.py).
"""

import os

NAME = os.environ.get("DBOS_LITE_TEST_ENGINE", "") or "dbos_lite"
if NAME not in ("dbos_lite", "dbos"):
    raise RuntimeError(f"DBOS_LITE_TEST_ENGINE={NAME!r}: use 'dbos_lite' (the default) or 'dbos'")
ON_DBOS = NAME == "dbos"

if ON_DBOS:
    from dbos import DBOS, SetWorkflowID, SetWorkflowTimeout, WorkflowHandle, WorkflowHandleAsync
    from dbos import DBOSClient, Debouncer, DebouncerClient, Queue, SendMessage
    from dbos import SetEnqueueOptions
    from dbos import error  # a module attribute: `from dbos.error import` fails

    DBOSAwaitedWorkflowCancelledError = error.DBOSAwaitedWorkflowCancelledError
    DBOSConflictingWorkflowError = error.DBOSConflictingWorkflowError
    DBOSException = error.DBOSException
    DBOSMaxStepRetriesExceeded = error.DBOSMaxStepRetriesExceeded
    DBOSNonExistentWorkflowError = error.DBOSNonExistentWorkflowError
    DBOSQueueDeduplicatedError = error.DBOSQueueDeduplicatedError
    DBOSStreamTimeoutError = error.DBOSStreamTimeoutError
    DBOSUnexpectedStepError = error.DBOSUnexpectedStepError
else:
    from dbos_lite import (
        DBOS,
        DBOSAwaitedWorkflowCancelledError,
        DBOSClient,
        DBOSConflictingWorkflowError,
        DBOSException,
        DBOSMaxStepRetriesExceeded,
        DBOSNonExistentWorkflowError,
        DBOSQueueDeduplicatedError,
        DBOSStreamTimeoutError,
        DBOSUnexpectedStepError,
        Debouncer,
        DebouncerClient,
        Queue,
        SendMessage,
        SetEnqueueOptions,
        SetWorkflowID,
        SetWorkflowTimeout,
        WorkflowHandle,
        WorkflowHandleAsync,
    )

__all__ = [
    "DBOS", "DBOSAwaitedWorkflowCancelledError", "DBOSClient", "DBOSConflictingWorkflowError",
    "DBOSException", "DBOSMaxStepRetriesExceeded", "DBOSNonExistentWorkflowError",
    "DBOSQueueDeduplicatedError", "DBOSStreamTimeoutError", "DBOSUnexpectedStepError",
    "Debouncer", "DebouncerClient", "NAME", "ON_DBOS", "Queue", "SendMessage",
    "SetEnqueueOptions", "SetWorkflowID", "SetWorkflowTimeout", "WorkflowHandle",
    "WorkflowHandleAsync",
]
