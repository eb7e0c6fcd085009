"""Sequential latency against the raw SQLite floor, measured in the same run.

1. One workflow with 2,000 trivial steps: time per step, against one INSERT + COMMIT.
2. 500 one-step workflows called directly: time per workflow, against three commits
   (start, step, finish).
Each measurement is repeated (alternating dbos_lite and the floor) and the best run is kept,
so that noise from the rest of the machine hurts neither side.

A third column splits dbos_lite's cost in two: its own statements (the same rows written with
the same SQL into a journal of its schema, each in its own transaction, committed as dbos_lite
commits a write that is alone: seven in eight in SQLite's autocommit mode, without BEGIN and
COMMIT, one in eight between them to time the COMMIT) run from a loop that does nothing else.
What the statements cost beyond the floor is the schema's (wider rows, an index, the ownership
check) less what leaving out BEGIN and COMMIT saves; the rest of the dbos_lite column is its
Python. The floor keeps its BEGIN IMMEDIATE and COMMIT; the last column is the floor's INSERT
alone in autocommit mode, for comparison.

Usage: python benchmarks/bench_sequential.py [--quick]
"""

import sys

import msgspec
from _common import (Scratch, best, commit_insert, floor_connection, print_table,
                     register_trivial_workflows, timed)

import dbos_lite
from dbos_lite import DBOS, SetWorkflowID

QUICK = "--quick" in sys.argv
STEPS = 400 if QUICK else 2000
WORKFLOWS = 100 if QUICK else 500
REPEATS = 2 if QUICK else 5


def floor_steps(scratch, synchronous, run):
    conn = floor_connection(scratch.file(f"floor-steps-{synchronous}-{run}.sqlite"), synchronous)
    seconds = timed(lambda: [commit_insert(conn, "w", i) for i in range(STEPS)])
    conn.close()
    return seconds / STEPS


def floor_workflows(scratch, synchronous, run, commit=commit_insert):
    conn = floor_connection(scratch.file(f"floor-wf-{synchronous}-{run}-{commit.__name__}"
                                         ".sqlite"), synchronous)

    def work():
        for i in range(WORKFLOWS):
            commit(conn, f"w{i}", 0)  # start
            commit(conn, f"w{i}", 1)  # step
            commit(conn, f"w{i}", 2)  # finish
    seconds = timed(work)
    conn.close()
    return seconds / WORKFLOWS


def insert_alone(conn, workflow_id, function_id):
    """The floor's INSERT in SQLite's autocommit mode: its own transaction."""
    conn.execute("INSERT INTO steps VALUES (?, ?, ?)", (workflow_id, function_id, "1"))


def floor_steps_alone(scratch, synchronous, run):
    conn = floor_connection(scratch.file(f"floor-alone-{synchronous}-{run}.sqlite"),
                            synchronous)
    seconds = timed(lambda: [insert_alone(conn, "w", i) for i in range(STEPS)])
    conn.close()
    return seconds / STEPS


def statements_alone(scratch, synchronous, run):
    """Per step and per one-step workflow: dbos_lite's statements, and no other work."""
    # dbos_lite's writing connection, set up as it sets it up, and its cursor.
    journal = dbos_lite._Journal(scratch.file(f"statements-{synchronous}-{run}.sqlite"),
                                 synchronous=synchronous)
    cursor = journal._cursor
    owner = "a-process-id"

    commits = iter(range(1 << 62))

    def commit(sql, bindings):
        if next(commits) % 8:
            cursor.execute(sql, bindings)
            return
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute(sql, bindings)
        cursor.execute("COMMIT")

    def start(workflow_id):
        now = dbos_lite._now_ms()
        commit(dbos_lite._SQL_INSERT_WORKFLOW, msgspec.structs.astuple(dbos_lite._WorkflowRecord(
            workflow_id, "PENDING", "one_step", '{"args":[1],"kwargs":{}}', None, None,
            "an-executor", owner, "an-application-version", now, now, 1, 100, None, None, None,
            None, None)))

    def step(workflow_id, function_id):
        now = dbos_lite._now_ms()
        commit(dbos_lite._SQL_RECORD_OPERATION,
               (workflow_id, function_id, "trivial", "1", None, None, now, now, workflow_id, owner))

    def finish(workflow_id):
        commit(dbos_lite._SQL_FINISH_WORKFLOW,
               ("SUCCESS", "1", None, dbos_lite._now_ms(), workflow_id, owner))

    def workflows():
        for i in range(WORKFLOWS):
            start(f"w{i}")
            step(f"w{i}", 1)
            finish(f"w{i}")

    start("many")
    per_step = timed(lambda: [step("many", i) for i in range(1, STEPS + 1)]) / STEPS
    per_workflow = timed(workflows) / WORKFLOWS
    journal.close()
    return per_step, per_workflow


def dbos_lite_run(scratch, synchronous, run):
    path = scratch.file(f"dbos-{synchronous}-{run}.sqlite")
    DBOS(config={"name": "bench", "sqlite_synchronous": synchronous,
                 "system_database_url": f"sqlite:///{path}"})
    _, many_steps, one_step = register_trivial_workflows()
    DBOS.launch()
    with SetWorkflowID("many"):
        per_step = timed(lambda: many_steps(STEPS)) / STEPS
    per_workflow = timed(lambda: [one_step(i) for i in range(WORKFLOWS)]) / WORKFLOWS
    DBOS.destroy(destroy_registry=True)
    return per_step, per_workflow


def main():
    rows = []
    with Scratch() as scratch:
        for synchronous in ("FULL", "NORMAL"):
            floors_s, floors_w, ours_s, ours_w, alone_s, alone_w = [], [], [], [], [], []
            auto_s, auto_w = [], []
            for run in range(REPEATS):
                floors_s.append(floor_steps(scratch, synchronous, run))
                floors_w.append(floor_workflows(scratch, synchronous, run))
                auto_s.append(floor_steps_alone(scratch, synchronous, run))
                auto_w.append(floor_workflows(scratch, synchronous, run, insert_alone))
                step, workflow = statements_alone(scratch, synchronous, run)
                alone_s.append(step)
                alone_w.append(workflow)
                step, workflow = dbos_lite_run(scratch, synchronous, run)
                ours_s.append(step)
                ours_w.append(workflow)
            for unit, floor, alone, ours, target, auto in (
                    ("step (2,000 in one workflow)" if not QUICK else "step",
                     floors_s, alone_s, ours_s, "1.3x", auto_s),
                    ("one-step workflow", floors_w, alone_w, ours_w, "1.5x", auto_w)):
                floor, alone, ours, auto = best(floor), best(alone), best(ours), best(auto)
                rows.append((synchronous, unit, f"{floor * 1e6:.1f} us",
                             f"{alone * 1e6:.1f} us ({alone / floor:.2f}x)",
                             f"{ours * 1e6:.1f} us", f"{ours / floor:.2f}x", target,
                             f"{auto * 1e6:.1f} us ({auto / floor:.2f}x)"))
    print_table(f"Sequential latency (dbos_lite {dbos_lite.__version__}, best of {REPEATS})",
                ("synchronous", "unit", "floor", "its statements alone", "dbos_lite", "ratio",
                 "target", "floor, autocommit"), rows)


if __name__ == "__main__":
    main()
