"""Runs every example in examples/ and every ```python snippet of README.md twice: on dbos_lite,
then on DBOS Transact with only the import changed, and fails when their result lines differ.

Usage: python compat/run.py [NAME ...]   (an interpreter that has dbos, apsw and msgspec; NAME
picks programs by a part of their name, e.g. `07` or `README`). `make compat` runs it.

Each program runs in a fresh temporary directory per engine, as tests/test_examples.py runs it:
most once, some several times in a row in the same directory (a first run that kills itself with
SIGKILL, then the run that resumes). For DBOS Transact the copy has `from dbos_lite import` (or
`import dbos_lite`) changed to `from dbos import` (`import dbos as dbos_lite`), nothing else, and
the project root is not on its path.

Result lines, the only output compared: for each run, a line with its exit code, then the lines
it printed to stdout (with those of any process it started), sorted, since steps, threads and
other processes print in an order that neither engine promises. The examples print results and
fixed ids (no random ids, no timestamps), so two masks suffice: the run's temporary directory
reads <dir>, and a number of seconds such as the "t=0.31s" of 02_retries.py reads "<n>s"; the
few lines that differ on purpose (DIFFERENT_LINES) are left out. Logs
(stderr) are not compared; a failing run's stderr is shown. A run that exits with neither 0 nor
SIGKILL fails, whatever the other engine did.
"""

import difflib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")

#: The command-line arguments of each run, for programs that are not run once without any.
RUNS = {
    "03_crash_and_resume.py": [[], [], []],  # killed in step 3, resumed, then only replayed
    "04_approval.py": [["demo"], []],  # waits for an approval it sends itself, then replays it
    "07_async_fanout.py": [[], []],  # killed with fetches in flight, then resumed
    "08_queue.py": [["demo"]],  # starts two workers, kills one, starts it again
    "09_schedule.py": [["demo"]],  # the job kills itself mid-run, is down 3 s, starts again
}
#: Result lines that differ on purpose (said in the README), left out of the comparison: the
#: beginning of each such line, by program.
DIFFERENT_LINES = {
    # DBOS Transact's rate limiter counts whole seconds on SQLite.
    "08_queue.py": ["Rate limit held"],
    # DBOS Transact can skip the scheduled time that falls while it launches (README,
    # Schedules): here the second after the restart, on a machine slow enough that launching
    # takes it over half a second (seen on CI's machine while it ran other work).
    "09_schedule.py": ["Later seconds run after the restart",
                       "Scheduled seconds from the first run to 8 seconds after the kill"],
}
TIMEOUT_SEC = 90


def programs():
    """(name, source, runs) for every example, then every ```python snippet of README.md."""
    for name in sorted(os.listdir(EXAMPLES)):
        if name.endswith(".py"):
            with open(os.path.join(EXAMPLES, name)) as f:
                yield name, f.read(), RUNS.get(name, [[]])
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    for match in re.finditer(r"^```python\n(.*?)^```", readme, re.S | re.M):
        line = readme.count("\n", 0, match.start()) + 1
        yield f"README.md:{line}", match.group(1), [[]]


def on_dbos(source):
    """The same program importing dbos instead of dbos_lite."""
    source, changes = re.subn(r"^(\s*)from dbos_lite import", r"\1from dbos import", source,
                              flags=re.M)
    source, more = re.subn(r"^(\s*)import dbos_lite$", r"\1import dbos as dbos_lite", source,
                           flags=re.M)
    if not changes + more:
        raise ValueError("the program does not import dbos_lite")
    return source


def result_lines(source, runs, env):
    """Run the program in a fresh directory; its result lines and the stderr of its last run."""
    with tempfile.TemporaryDirectory(prefix="compat-") as directory:
        script = os.path.join(directory, "program.py")
        with open(script, "w") as f:
            f.write(source)
        lines, stderr = [], ""
        for n, args in enumerate(runs, start=1):
            try:
                run = subprocess.run([sys.executable, script, *args], cwd=directory, env=env,
                                     capture_output=True, text=True, timeout=TIMEOUT_SEC)
                code, stdout, stderr = run.returncode, run.stdout, run.stderr
            except subprocess.TimeoutExpired as timeout:
                code, stdout = f"timeout after {TIMEOUT_SEC} s", timeout.stdout or ""
                stderr = timeout.stderr or ""
                stdout, stderr = (s if isinstance(s, str) else s.decode() for s in (stdout, stderr))
            lines.append(f"--- run {' '.join([str(n), *args])}: exit {describe(code)}")
            lines += sorted(mask(line, directory) for line in stdout.splitlines())
            if code not in (0, -signal.SIGKILL):
                return lines, stderr
        return lines, None


def describe(code):
    return "SIGKILL" if code == -signal.SIGKILL else str(code)


def mask(line, directory):
    line = line.replace(os.path.realpath(directory), "<dir>").replace(directory, "<dir>")
    return re.sub(r"\b\d+(\.\d+)?s\b", "<n>s", line)


def main(selected):
    lite_env = dict(os.environ, PYTHONPATH=ROOT)
    dbos_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    passed = failed = 0
    for name, source, runs in programs():
        if selected and not any(s in name for s in selected):
            continue
        started = time.monotonic()
        lite, lite_error = result_lines(source, runs, lite_env)
        dbos, dbos_error = result_lines(on_dbos(source), runs, dbos_env)
        differing = tuple(DIFFERENT_LINES.get(name, ()))
        if differing:
            lite, dbos = ([line for line in lines if not line.startswith(differing)]
                          for lines in (lite, dbos))
        seconds = time.monotonic() - started
        if lite == dbos and lite_error is None and dbos_error is None:
            passed += 1
            print(f"ok    {name} ({len(lite) - len(runs)} result lines, {seconds:.1f} s)")
            continue
        failed += 1
        print(f"FAIL  {name} ({seconds:.1f} s)")
        for line in difflib.unified_diff(lite, dbos, "dbos_lite", "dbos", lineterm="", n=100):
            print(f"      {line}")
        for engine, stderr in (("dbos_lite", lite_error), ("dbos", dbos_error)):
            if stderr is not None:
                print(f"      {engine} failed; the end of its stderr:")
                for line in stderr.splitlines()[-15:]:
                    print(f"        {line}")
    print(f"compat: {passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
