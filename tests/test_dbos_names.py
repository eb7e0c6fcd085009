"""compat/support_table.md covers every name of DBOS Transact's API listed in
compat/dbos_names.txt, and says "supported" only of names dbos_lite has (and "not in dbos_lite"
only of names it lacks). DBOS Transact itself is not needed: `make compat` checks that
dbos_names.txt still matches it, and `compat/names.py write` regenerates both files."""

import os
import re

import dbos_lite

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPAT = os.path.join(ROOT, "compat")
STATUS = re.compile(r"supported$|supported, differs: .+|not in dbos_lite: .+")


def dbos_names():
    with open(os.path.join(COMPAT, "dbos_names.txt")) as f:
        return f.read().split()


def table():
    """{name: status} from the rows "| `name` | status |" of the support table."""
    with open(os.path.join(COMPAT, "support_table.md")) as f:
        return dict(re.findall(r"^\| `([\w.]+)` \| (.*?) \|$", f.read(), re.M))


def lite_has(name):
    if name.startswith("DBOS."):
        return name[len("DBOS."):] in dir(dbos_lite.DBOS)
    return hasattr(dbos_lite, name)


def test_the_names_file_lists_the_dbos_api():
    names = dbos_names()
    assert len(names) == len(set(names)) > 100
    assert {"DBOS", "SetWorkflowID", "DBOS.workflow", "DBOS.step", "DBOS.launch"} <= set(names)


def test_every_dbos_name_has_a_row_and_every_row_a_dbos_name():
    rows, names = table(), dbos_names()
    assert [n for n in names if n not in rows] == []
    assert [n for n in rows if n not in names] == []


def test_every_status_says_supported_or_what_differs_or_why_not():
    assert {n: s for n, s in table().items() if not STATUS.fullmatch(s)} == {}


def test_supported_names_are_in_dbos_lite():
    rows = table()
    assert [n for n, s in rows.items() if s.startswith("supported") and not lite_has(n)] == []


def test_names_dbos_lite_has_are_not_listed_as_missing():
    rows = table()
    assert [n for n, s in rows.items() if s.startswith("not in") and lite_has(n)] == []
