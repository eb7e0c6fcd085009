"""Import time: `python -c "import dbos_lite"` against `python -c "import apsw, msgspec"`.

Medians over repeated fresh processes, alternating the two. The module is byte-compiled first
and the children may write bytecode, as on a user's machine (a vendored file is compiled once).
Target: at most 1.25x.

Usage: python benchmarks/bench_import.py [--quick]
"""

import os
import py_compile
import subprocess
import sys
import time

from _common import ROOT, median, print_table

QUICK = "--quick" in sys.argv
RUNS = 10 if QUICK else 40


def run(code, env):
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)
    return time.perf_counter() - start


def main():
    py_compile.compile(os.path.join(ROOT, "dbos_lite.py"), doraise=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = ROOT
    base, ours, bare = [], [], []
    for _ in range(RUNS):
        bare.append(run("pass", env))
        base.append(run("import apsw, msgspec", env))
        ours.append(run("import dbos_lite", env))
    b, o, n = median(base), median(ours), median(bare)
    print_table(f"Import time (median of {RUNS} fresh processes)",
                ("command", "wall time", "ratio", "target"),
                [("python -c pass", f"{n * 1e3:.1f} ms", "", ""),
                 ("import apsw, msgspec", f"{b * 1e3:.1f} ms", "1.00x", ""),
                 ("import dbos_lite", f"{o * 1e3:.1f} ms", f"{o / b:.2f}x", "1.25x")])
    print(f"(dbos_lite adds {(o - b) * 1e3:.1f} ms to apsw + msgspec)")


if __name__ == "__main__":
    main()
