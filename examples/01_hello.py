# Shows the basics: a workflow of two checkpointed steps, and a workflow id that makes a second
# call return the recorded result instead of running the steps again.
import os

from dbos_lite import DBOS, SetWorkflowID

HERE = os.path.dirname(os.path.abspath(__file__))
DBOS(config={"name": "hello", "system_database_url": f"sqlite:///{HERE}/01_hello.sqlite"})


@DBOS.step()
def greet(name: str) -> str:
    print(f"  running step greet({name!r})")
    return f"Hello, {name}"


@DBOS.step()
def shout(text: str) -> str:
    print(f"  running step shout({text!r})")
    return text.upper() + "!"


@DBOS.workflow()
def hello(name: str) -> str:
    return shout(greet(name))


if __name__ == "__main__":
    DBOS.reset_system_database()  # start from an empty journal each time this example runs
    DBOS.launch()
    print("First call runs both steps:")
    with SetWorkflowID("hello-1"):
        print(" ", hello("world"))
    print("Second call with the same workflow id replays the recorded result:")
    with SetWorkflowID("hello-1"):
        print(" ", hello("world"))
    for step in DBOS.list_workflow_steps("hello-1"):
        print(f"  journal: step {step['function_id']} {step['function_name']} -> {step['output']!r}")
    DBOS.destroy()
