"""A headless Chromium driven over the DevTools protocol, with the stdlib only, for the tests
of the live page (tests/test_live_page.py).

Chromium is started with ``--remote-debugging-pipe``: it reads protocol commands from its file
descriptor 3 and writes replies and events to descriptor 4, each message JSON ended by a NUL
byte, so no websocket client is needed."""

import fcntl
import json
import os
import shutil
import subprocess
import threading
import time


def find_chromium():
    """The path of a Chromium binary (Debian's ``chromium`` package), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """One headless Chromium with a fresh profile under ``directory``; ``open(url)`` gives a
    Page. Closed (and killed if need be) when the ``with`` ends."""

    def __init__(self, binary, directory):
        profile = os.path.join(directory, "chromium-profile")
        os.makedirs(profile, exist_ok=True)
        self.log_path = os.path.join(directory, "chromium.log")
        commands_in, self._commands = os.pipe()
        self._replies, replies_out = os.pipe()
        # Above 4, so that moving them to 3 and 4 in the child cannot overwrite one another.
        child_in = fcntl.fcntl(commands_in, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(replies_out, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(commands_in)
        os.close(replies_out)

        def give_pipes():  # in the child: dup2 clears close-on-exec on 3 and 4 only
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-extensions", "--remote-debugging-pipe",
                 f"--user-data-dir={profile}", "about:blank"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                preexec_fn=give_pipes, close_fds=False)
        os.close(child_in)
        os.close(child_out)
        self._last_id = 0
        self._answers = {}
        self.events = []
        self._arrived = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _read(self):
        pending = b""
        while data := os.read(self._replies, 1 << 16):
            pending += data
            *messages, pending = pending.split(b"\0")
            with self._arrived:
                for text in messages:
                    message = json.loads(text)
                    if "id" in message:
                        self._answers[message["id"]] = message
                    else:
                        self.events.append(message)
                self._arrived.notify_all()

    def call(self, method, session=None, timeout=15.0, **params):
        """Send one protocol command; its result (RuntimeError if it failed)."""
        self._last_id += 1
        number = self._last_id
        message = {"id": number, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        with self._arrived:
            if not self._arrived.wait_for(lambda: number in self._answers, timeout):
                raise TimeoutError(f"Chromium did not answer {method} in {timeout} s; its log: "
                                   f"{self.log_path}")
            answer = self._answers.pop(number)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def open(self, url):
        """A new tab showing ``url``, with its page, runtime and log events recorded."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session)
        page = Page(self, session)
        page.go(url)
        return page

    def close(self):
        try:
            if self.proc.poll() is None:
                self.call("Browser.close", timeout=5.0)
            self.proc.wait(timeout=5.0)
        except (OSError, TimeoutError, RuntimeError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._commands)


class Page:
    """One tab: evaluate JavaScript in it, wait for a condition, see its events."""

    def __init__(self, browser, session):
        self.browser = browser
        self.session = session

    def go(self, url):
        self.browser.call("Page.navigate", self.session, url=url)
        self.wait_for("document.readyState === 'complete'")

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (JSON-like values only)."""
        result = self.browser.call("Runtime.evaluate", self.session, expression=expression,
                                   returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression, timeout=15.0):
        """Wait until the expression is truthy in the page; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{expression} still false after {timeout} s; the page "
                                     f"says:\n{self.evaluate('document.body.innerText')}")
            time.sleep(0.05)

    def text(self):
        return self.evaluate("document.body.innerText")

    def events(self, method):
        return [event["params"] for event in self.browser.events
                if event.get("sessionId") == self.session and event["method"] == method]
