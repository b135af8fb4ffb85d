"""The import direction the layout promises: no import cycle among Treeport's modules; `model` imports neither
`api` nor `treeport`; `treeport` imports neither `bench` nor `lambda`; nothing imports `treeport` but itself.

Every import statement counts, those inside functions too (a cycle deferred into a function is still a cycle),
and so does `importlib.import_module` with a literal name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("model", "api", "treeport", "lambda", "bench")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Return {module: the Treeport modules it imports} for every module of PACKAGES."""
    modules = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute | ast.Name)
                and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                candidates = [node.args[0].value]  # importlib.import_module("bench.run") imports too
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                candidates = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for candidate in candidates:
                # the longest known module the import names (`from model import bundle` is model.bundle)
                while candidate and candidate not in modules:
                    candidate = candidate.rpartition(".")[0]
                if candidate and candidate != name:
                    targets.add(candidate)
        graph[name] = targets
    return graph


GRAPH = import_graph()


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return one cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            # a package's __init__ importing its own submodules is not a cycle of the layout
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_the_imports() -> None:
    assert "model.schema" in GRAPH["model.preprocess"]
    assert "model.data" in GRAPH["model.engines"]
    assert "api.app" in GRAPH["api.lambda_adapter"]


def test_no_import_cycle() -> None:
    assert cycles(GRAPH) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    ("importer", "forbidden"),
    [("model", ("api", "treeport", "lambda", "bench")), ("api", ("treeport", "lambda", "bench")),
     ("treeport", ("bench", "lambda"))],
)  # fmt: skip
def test_import_direction(importer: str, forbidden: tuple[str, ...]) -> None:
    wrong = sorted(
        f"{m} imports {t}"
        for m, targets in GRAPH.items()
        if m.split(".")[0] == importer
        for t in targets
        if t.split(".")[0] in forbidden
    )
    assert wrong == []


def test_nothing_imports_treeport() -> None:
    wrong = sorted(f"{m} imports {t}" for m, ts in GRAPH.items() if not m.startswith("treeport") for t in ts
                   if t.split(".")[0] == "treeport")  # fmt: skip
    assert wrong == []
