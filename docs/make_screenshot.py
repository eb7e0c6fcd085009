"""Make docs/live_page.png, the live page's screenshot in the README: a short program runs a
workflow with a retried step, an event and a child into a scratch journal, and headless
Chromium (Debian's chromium package) photographs the page of its timeline.

Usage: python docs/make_screenshot.py   (from the repository's root)
"""

import base64
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), os.path.join(os.path.dirname(HERE), "tests")]

from browser import Browser, find_chromium  # noqa: E402

from dbos_lite import DBOS, SetWorkflowID, _LivePage  # noqa: E402

attempts = []


@DBOS.step(retries_allowed=True, max_attempts=3, interval_seconds=0.05)
def charge_card(order: str) -> str:
    attempts.append(order)
    if len(attempts) < 3:
        raise ConnectionError("payment service timed out")
    return f"charged {order}"


@DBOS.step()
def reserve_stock(order: str) -> int:
    return 3


@DBOS.workflow()
def ship(order: str) -> str:
    DBOS.sleep(0.2)
    return f"label for {order}"


@DBOS.workflow()
def place_order(order: str) -> str:
    reserve_stock(order)
    charge_card(order)
    DBOS.set_event("stage", "charged")
    label = ship(order)
    return f"{order}: {label}"


def main():
    chromium = find_chromium()
    if chromium is None:
        sys.exit("No Chromium found: install Debian's chromium package first.")
    target = os.path.join(HERE, "live_page.png")
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)  # the page shows the journal's path from here: orders.sqlite
        DBOS(config={"name": "orders", "system_database_url": "sqlite:///orders.sqlite",
                     "executor_id": "edge-7"})
        DBOS.launch()
        with SetWorkflowID("order-1042"):
            place_order("order-1042")
        DBOS.destroy()
        server = _LivePage("orders.sqlite", port=0).start()
        try:
            with Browser(chromium, scratch) as browser:
                tab = browser.open("about:blank")
                browser.call("Emulation.setDeviceMetricsOverride", tab.session, width=1000,
                             height=600, deviceScaleFactor=1, mobile=False)
                tab.go(server.url + "workflow?id=order-1042")
                tab.wait_for("document.body.innerText.includes('charge_card')")
                shot = browser.call("Page.captureScreenshot", tab.session, format="png")
        finally:
            server.close()
    with open(target, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    print(f"wrote {os.path.relpath(target)}")


if __name__ == "__main__":
    main()
