"""The module reads top to bottom: a section (``# ==== Name ====`` banner) uses only names
defined in itself or in the sections above it, and every plan is annotated as one."""

import ast
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = open(os.path.join(ROOT, "dbos_lite.py"), encoding="utf-8").read()
TREE = ast.parse(SOURCE)
BANNER = re.compile(r"^# ==== (.+?) ====$")


def sections() -> list[tuple[int, str]]:
    """(first line, title) of each section, in order."""
    found = [(number, match.group(1)) for number, line in enumerate(SOURCE.splitlines(), 1)
             if (match := BANNER.match(line))]
    return [(0, "header")] + found


def section_of(line: int, banners: list[tuple[int, str]]) -> int:
    return max(index for index, (start, _) in enumerate(banners) if start <= line)


def defined_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    names = set()
    targets = node.targets if isinstance(node, ast.Assign) else (
        [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
    for target in targets:
        for item in ast.walk(target):
            if isinstance(item, ast.Name):
                names.add(item.id)
    return names


class _Uses(ast.NodeVisitor):
    """The module-level names a statement reads when it runs (annotations are not evaluated:
    the module uses ``from __future__ import annotations``)."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.local: list[set[str]] = [set()]

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and not any(node.id in scope for scope in self.local[1:]):
            self.names.add(node.id)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        for decorator in getattr(node, "decorator_list", []):
            self.visit(decorator)
        for default in node.args.defaults + [d for d in node.args.kw_defaults if d]:
            self.visit(default)
        scope = {a.arg for a in node.args.args + node.args.kwonlyargs + node.args.posonlyargs}
        scope |= {a.arg for a in (node.args.vararg, node.args.kwarg) if a}
        body = node.body if isinstance(node.body, list) else [node.body]
        for statement in body:
            for item in ast.walk(statement):
                if isinstance(item, ast.Name) and isinstance(item.ctx, ast.Store):
                    scope.add(item.id)
        self.local.append(scope)
        for statement in body:
            self.visit(statement)
        self.local.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.target)
        if node.value is not None:
            self.visit(node.value)

    def visit_arg(self, node: ast.arg) -> None:
        pass  # an annotation


def test_each_section_uses_only_what_is_above_it():
    banners = sections()
    where: dict[str, int] = {}
    for node in TREE.body:
        for name in defined_names(node):
            where.setdefault(name, section_of(node.lineno, banners))
    problems = []
    for node in TREE.body:
        uses = _Uses()
        uses.visit(node)
        here = section_of(node.lineno, banners)
        for name in sorted(uses.names):
            if name in where and where[name] > here:
                problems.append(f"line {node.lineno} (section {banners[here][1]!r}) uses {name}, "
                                f"defined below in section {banners[where[name]][1]!r}")
    assert not problems, "\n".join(problems)


def test_every_generator_function_is_an_annotated_plan():
    """Calling a plan without a driver or ``yield from`` silently does nothing: every generator
    function of the engine says that it is a plan, in its name and in its annotation."""
    problems = []
    for node in ast.walk(TREE):
        if not isinstance(node, ast.FunctionDef):
            continue
        inner = [n for n in ast.walk(node) if n is not node and isinstance(
            n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]
        nested = {id(x) for n in inner for x in ast.walk(n)}
        yields = any(isinstance(n, (ast.Yield, ast.YieldFrom)) and id(n) not in nested
                     for n in ast.walk(node))
        if not yields:
            continue
        returns = ast.unparse(node.returns) if node.returns is not None else ""
        if returns.startswith("Iterator") or "contextmanager" in ast.unparse(node):
            continue  # a public iterator (read_stream) or a context manager, not a plan
        if not (node.name.endswith("_plan") and returns.startswith("_Plan[")):
            problems.append(f"line {node.lineno}: {node.name} -> {returns or 'no annotation'}")
    assert not problems, "\n".join(problems)
