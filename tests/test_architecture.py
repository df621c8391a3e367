"""The package's shape: no import cycles, and the domain does no I/O of its own.

Read from the source with ast, as a newcomer reads the tree: every `import` of
an intake module, at the top of a module or inside a function, is an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "intake"
# The domain (records, rules, checks, the decision) may not reach for mail, the store,
# jobs, operators' commands, the worker or the web page.
DOMAIN_MAY_NOT_IMPORT = ("mail", "store", "jobs", "ops", "runtime", "web", "extract", "cli")
# None left: decide is a pure function (issue 15, item 2).
NOT_YET_PURE: list[str] = []


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The intake modules `path` imports (a `from pkg import name` of a module counts as it)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("intake"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("intake"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    paths = [p for p in PACKAGE.rglob("*.py") if "bundled" not in p.parts]
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()
    for start in sorted(graph):
        # depth-first, keeping the path so a cycle can be shown
        def visit(node: str, path: list[str]) -> list[str] | None:
            for nxt in sorted(graph[node]):
                if nxt in path:
                    return path[path.index(nxt):] + [nxt]
                if nxt not in done:
                    found = visit(nxt, path + [nxt])
                    if found:
                        return found
            done.add(node)
            return None
        cycle = visit(start, [start])
        if cycle:
            return cycle
    return None


def test_the_checker_sees_a_cycle_when_there_is_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_module_of_intake_imports_itself_round_a_circle():
    graph = import_graph()
    assert len(graph) > 50  # the walk found the package
    assert find_cycle(graph) is None


def test_the_domain_imports_no_mail_store_jobs_or_web():
    graph = import_graph()
    wrong = sorted(
        f"{module} imports {other}"
        for module, others in graph.items() if module.startswith("intake.domain.")
        for other in others
        if other.split(".")[1] in DOMAIN_MAY_NOT_IMPORT
    )
    assert wrong == NOT_YET_PURE


ROOT = PACKAGE.parent
LONGEST_FILE = 400  # lines: the brief's limit, for the code and its tests alike


def test_no_python_file_is_over_the_line_limit() -> None:
    """Every module of the package, its tests, benchmarks and tools stays readable at a sitting."""
    long_ones = {
        str(path.relative_to(ROOT)): lines
        for folder in ("intake", "tests", "benchmarks", "tools")
        for path in (ROOT / folder).rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > LONGEST_FILE
    }
    assert long_ones == {}
