"""The live page (``python -m dbos_lite ui``): the workflow list and one workflow's timeline,
served read-only from a journal that a program in another process writes, kept up to date in
the browser without a reload.

The journals here are written by real programs (tests/harness.py ScriptApps); the page is
served in the test's process on a free port; the browser test drives a real headless Chromium
(tests/browser.py) and is skipped only when no Chromium binary is installed."""

import hashlib
import html
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse

import pytest

import sqlite_here
from browser import Browser, find_chromium
from conftest import ROOT
from harness import ScriptApps

from dbos_lite import _LivePage

HOSTILE_ID = "<script>alert(1)</script>"
HOSTILE_NAME = '<b onmouseover="alert(4)">name</b>'
HOSTILE_OUTPUT = '<img src=x onerror="alert(2)">'
HOSTILE_ERROR = "</code><script>alert(3)</script>"

WRITTEN_APP = f"""
    # Writes a journal and exits: a workflow whose id, name, output and a step's error are
    # markup, and plain ones that succeed or fail (for the filters).
    DBOS(config=config("live-page-app"))

    @DBOS.step()
    def shout(text: str) -> str:
        return text

    @DBOS.step()
    def refuse(text: str) -> None:
        raise ValueError(text)

    @DBOS.workflow(name={HOSTILE_NAME!r})
    def hostile(text: str) -> str:
        try:
            refuse({HOSTILE_ERROR!r})
        except ValueError:
            pass
        return shout(text)

    flaky_calls = []

    @DBOS.step(retries_allowed=True, max_attempts=3, interval_seconds=0.01)
    def flaky() -> str:
        flaky_calls.append(1)
        if len(flaky_calls) < 3:
            raise ConnectionError(f"try {{len(flaky_calls)}} timed out")
        return "third time lucky"

    @DBOS.workflow()
    def retried() -> str:
        return flaky()

    @DBOS.workflow()
    def alpha() -> int:
        return 1

    @DBOS.workflow()
    def beta() -> int:
        raise RuntimeError("beta failed")

    DBOS.launch()
    with SetWorkflowID({HOSTILE_ID!r}):
        hostile({HOSTILE_OUTPUT!r})
    with SetWorkflowID("retried"):
        retried()
    for n in range(2):
        with SetWorkflowID(f"alpha-{{n}}"):
            alpha()
    with SetWorkflowID("beta-0"):
        try:
            beta()
        except RuntimeError:
            pass
    DBOS.destroy()
"""


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The journal WRITTEN_APP wrote (the program has exited)."""
    tmp_path = tmp_path_factory.mktemp("live-page")
    with ScriptApps(tmp_path, WRITTEN_APP) as apps:
        _, code, _, stderr = apps.run()
        assert code == 0, stderr
        return apps.journal


@pytest.fixture
def page(written):
    served = _LivePage(written, port=0).start()
    yield served
    served.close()


def get(page, path, method="GET", host=None):
    """(status, headers, body text) of one request to the live page."""
    address = urllib.parse.urlsplit(page.url)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=host is not None)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def workflow_path(workflow_id):
    return "/workflow?id=" + urllib.parse.quote(workflow_id, safe="")


def test_pages_escape_every_text_from_the_journal(page):
    pages = {path: get(page, path) for path in ("/", workflow_path(HOSTILE_ID))}
    for path, (status, headers, body) in pages.items():
        assert status == 200, (path, body)
        assert body.count("<script") == 1, body  # the page's own <script src="/live.js">
        assert "<img" not in body and "<b " not in body, body
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert html.escape(HOSTILE_ID) in body
    list_body = pages["/"][2]
    assert html.escape(HOSTILE_NAME) in list_body
    _, _, timeline = pages[workflow_path(HOSTILE_ID)]
    assert html.escape(repr(HOSTILE_OUTPUT)) in timeline  # the output, and the step's
    assert html.escape(f"ValueError: {HOSTILE_ERROR}") in timeline
    # The JSON endpoint returns the same texts unescaped, as JSON that no browser runs.
    status, headers, body = get(page, "/api/workflow?id=" + urllib.parse.quote(HOSTILE_ID))
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert headers["X-Content-Type-Options"] == "nosniff"
    view = json.loads(body)
    assert (view["workflow_id"], view["name"]) == (HOSTILE_ID, HOSTILE_NAME)
    assert [step["name"] for step in view["steps"]] == ["refuse", "shout"]  # as `show --json`
    assert view["steps"][0]["summary"] == f"ValueError: {HOSTILE_ERROR}"


def test_the_timeline_shows_each_failed_attempt_of_a_step(page):
    status, _, body = get(page, workflow_path("retried"))
    assert status == 200, body
    assert body.count('class="attempt failed"') == 2
    assert "attempt 1 failed" in body and "attempt 2 failed" in body
    assert "ConnectionError: try 1 timed out" in body and "try 2 timed out" in body
    assert "third time lucky" in body
    _, _, data = get(page, "/api/workflow?id=retried")
    (step,) = json.loads(data)["steps"]
    assert [a["error"] for a in step["attempts"]] == [
        "ConnectionError: try 1 timed out", "ConnectionError: try 2 timed out"]


def test_the_list_filters_by_status_and_name(page):
    def listed(query):
        status, _, body = get(page, "/api/workflows" + query)
        assert status == 200, body
        return sorted(w["workflow_id"] for w in json.loads(body))

    assert listed("") == sorted(["alpha-0", "alpha-1", "beta-0", "retried", HOSTILE_ID])
    assert listed("?status=ERROR") == ["beta-0"]
    assert listed("?name=alpha") == ["alpha-0", "alpha-1"]
    assert listed("?status=ERROR&name=alpha") == []
    status, _, body = get(page, "/?status=SUCCESS&name=alpha")
    assert status == 200
    assert "alpha-0" in body and "beta-0" not in body
    assert '<option value="SUCCESS" selected>' in body and 'value="alpha"' in body
    assert 'class="status s-SUCCESS"' in body  # the colour of its status


def test_it_answers_get_only_and_says_what_is_wrong(page):
    for method in ("POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW"):
        status, headers, body = get(page, "/", method)
        assert status == 405, method
        assert headers["Allow"] == "GET"
        if method != "HEAD":
            assert f"it answers GET, not {method}" in body
    status, _, body = get(page, "/admin")
    assert status == 404 and "/workflow?id=ID" in body
    status, _, body = get(page, workflow_path("nope"))
    assert status == 404 and "There is no workflow 'nope' in this journal" in body
    status, _, body = get(page, "/?status=DONE")
    assert status == 400 and "status 'DONE' is not a workflow status" in body
    # A web page whose own name resolves to 127.0.0.1 cannot read it (DNS rebinding).
    status, _, _ = get(page, "/", host="attacker.example:8080")
    assert status == 403
    assert get(page, "/", host="localhost:1234")[0] == 200


def journal_state(path):
    """The journal's bytes, and what SQLite says about commits to it (from a connection opened
    before the page serves, so it sees any commit the page would make)."""
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    wal = path + "-wal"
    return digest, os.path.getsize(wal) if os.path.exists(wal) else 0


def test_serving_pages_never_writes_to_the_journal(written):
    watcher = sqlite_here.connect(written, read_only=True)
    version = watcher.execute("PRAGMA data_version").fetchone()[0]
    before = journal_state(written)
    assert before[1] == 0  # the program exited: its WAL was checkpointed into the file
    page = _LivePage(written, port=0).start()
    try:
        paths = ["/", "/?status=ERROR", "/?name=alpha&part=main", workflow_path(HOSTILE_ID),
                 workflow_path("alpha-0") + "&part=main", "/api/workflows",
                 "/api/workflow?id=beta-0", "/live.js", "/live.css", "/missing"]
        for path in paths:
            get(page, path)
        get(page, "/", "POST")
        # /events: the data_version at once, then nothing while the journal is idle.
        address = urllib.parse.urlsplit(page.url)
        with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
            sock.sendall(b"GET /events HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            stream = sock.makefile("rb")
            lines = []
            while not lines or not lines[-1].startswith(b"data:"):
                lines.append(stream.readline())
            assert b"text/event-stream" in b"".join(lines)
            assert stream.readline() == b"\n"  # the end of that event
            sock.settimeout(0.5)
            with pytest.raises(TimeoutError):
                stream.readline()  # an idle journal: no event (and no table read)
    finally:
        page.close()
    assert journal_state(written) == before
    assert watcher.execute("PRAGMA data_version").fetchone()[0] == version
    watcher.close()


def test_importing_the_module_does_not_import_the_http_server():
    code = "import sys, dbos_lite; print('http.server' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "False"


# ---- in a real browser ----

ADVANCING_APP = f"""
    # A workflow that advances one step each time the test creates a file JOURNAL.go-N: it
    # waits for a message between steps, which this program sends when the file appears.
    DBOS(config=config("live-page-app"))

    @DBOS.step()
    def lesson_step(n: int) -> str:
        log(DBOS.workflow_id, "step", n)
        return f"step {{n}} done"

    @DBOS.workflow()
    def lesson(steps: int) -> str:
        for n in range(1, steps + 1):
            lesson_step(n)
            if n < steps:
                DBOS.recv("go", timeout_seconds=60)
        return "all done"

    @DBOS.workflow()
    def hostile(text: str) -> str:
        return text

    DBOS.launch()
    with SetWorkflowID({HOSTILE_ID!r}):
        hostile({HOSTILE_OUTPUT!r})
    with SetWorkflowID("lesson"):
        handle = DBOS.start_workflow(lesson, 3)
    for n in (1, 2):
        while not os.path.exists(f"{{JOURNAL}}.go-{{n}}"):
            time.sleep(0.02)
        DBOS.send("lesson", "go", topic="go")
    print(handle.get_result())
    DBOS.destroy()
"""

STEPS_SHOWN = "document.querySelectorAll('table.steps tbody tr').length"
LESSON_STEPS_SHOWN = ("[...document.querySelectorAll('table.steps tbody tr')]"
                      ".filter(row => row.cells[1].textContent === 'lesson_step').length")


@pytest.mark.slow
def test_the_page_shows_new_steps_as_the_workflow_advances_in_another_process(tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium binary (install Debian's chromium package; .ci/run does)")
    with ScriptApps(tmp_path, ADVANCING_APP) as apps, Browser(chromium, str(tmp_path)) as browser:
        program = apps.start()
        apps.wait_for_line(program, "step", 1, "lesson")
        page_server = _LivePage(apps.journal, port=0).start()
        try:
            tab = browser.open(page_server.url + "workflow?id=lesson")
            tab.wait_for("document.getElementById('state').textContent === 'live'")
            tab.wait_for("document.body.innerText.includes('step 1 done')")
            assert tab.evaluate(LESSON_STEPS_SHOWN) == 1
            assert "PENDING" in tab.text()
            tab.wait_for("document.body.innerText.includes('Waiting for')")
            assert "'go'" in tab.evaluate("document.querySelector('.waiting').innerText")
            rows = tab.evaluate(STEPS_SHOWN)
            tab.evaluate("window.sameDocument = 'yes'")  # a reload would forget it
            loads = len(tab.events("Page.frameNavigated"))

            for n in (1, 2):
                advanced = time.monotonic()
                open(f"{apps.journal}.go-{n}", "w").close()
                tab.wait_for(f"document.body.innerText.includes('step {n + 1} done')")
                shown_after = time.monotonic() - advanced
                assert tab.evaluate(LESSON_STEPS_SHOWN) == n + 1
                assert tab.evaluate(STEPS_SHOWN) > rows  # and the recv before it
                rows = tab.evaluate(STEPS_SHOWN)
                assert shown_after < 5, shown_after
                print(f"step {n + 1} shown {shown_after:.2f} s after the workflow was told to go")
            tab.wait_for("document.querySelector('.facts .s-SUCCESS') !== null")
            assert "Output: 'all done'" in tab.text()
            assert tab.evaluate("window.sameDocument") == "yes"
            assert len(tab.events("Page.frameNavigated")) == loads
            _, stderr, _ = apps.exited(program, 10)
            assert program.returncode == 0, stderr

            # The list, with a workflow whose id is markup: shown as text, nothing runs.
            tab.go(page_server.url)
            tab.wait_for("document.body.innerText.includes('lesson')")
            assert tab.evaluate("document.scripts.length") == 1
            link = tab.evaluate(f"[...document.querySelectorAll('a.id')].map(a => a.textContent)"
                                f".includes({json.dumps(HOSTILE_ID)})")
            assert link is True
            assert not tab.events("Page.javascriptDialogOpening")
            assert not tab.events("Runtime.exceptionThrown")
            refused = [entry for entry in tab.events("Log.entryAdded")
                       if "Content Security Policy" in entry["entry"]["text"]]
            assert not refused, refused
        finally:
            page_server.close()
