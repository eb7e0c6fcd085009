# Shows an async workflow fetching several (simulated) resources concurrently as steps with
# asyncio.gather. The first run is killed with SIGKILL while the slow fetches are in flight; run
# it again: the fetches that finished are replayed from the journal, only the others run.
import asyncio
import os
import signal

from dbos_lite import DBOS, SetWorkflowID

HERE = os.path.dirname(os.path.abspath(__file__))
DBOS(config={"name": "fanout", "system_database_url": f"sqlite:///{HERE}/07_fanout.sqlite"})
fetched_here = set()
DELAYS = {"users": 0.1, "orders": 0.2, "stock": 2.0, "prices": 2.0}


@DBOS.step(retries_allowed=True, max_attempts=3, interval_seconds=0.1)
async def fetch(resource: str) -> dict:
    print(f"  fetching {resource}", flush=True)
    await asyncio.sleep(DELAYS[resource])  # stands for a slow HTTP call
    fetched_here.add(resource)
    return {"resource": resource, "items": len(resource) * 10}


async def crash_soon() -> None:
    await asyncio.sleep(0.5)  # users and orders are done, stock and prices are not
    print("  the process dies now (SIGKILL)", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


@DBOS.workflow()
async def sync_all() -> int:
    results = await asyncio.gather(*[fetch(name) for name in DELAYS])
    return sum(r["items"] for r in results)


async def main() -> None:
    DBOS.launch()
    status = await DBOS.get_workflow_status_async("sync-all")  # in async code, the _async twin
    if status is None and not os.environ.get("DEMO_NO_CRASH"):
        asyncio.create_task(crash_soon())
    with SetWorkflowID("sync-all"):
        total = await sync_all()
    print(f"Total items: {total}")
    fetched = [r for r in DELAYS if r in fetched_here]
    replayed = [r for r in DELAYS if r not in fetched_here]
    print(f"  fetched in this run: {fetched}; replayed from the journal: {replayed}")
    DBOS.destroy()


if __name__ == "__main__":
    asyncio.run(main())
