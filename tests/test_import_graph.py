"""The package's modules import each other without a cycle, and the report stays below the jobs.

Every ``import`` statement counts, at module level or inside a function (a
lazy import still ties two modules together). Edges are between modules:
``from repurchase_ml.report import x`` is an edge to ``repurchase_ml.report``
(its ``__init__``); ``from repurchase_ml import tracking`` to the submodule.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import repurchase_ml

ROOT = Path(repurchase_ml.__file__).parent
PACKAGE = "repurchase_ml"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _target(name: str, modules: dict[str, Path]) -> str | None:
    """The module ``name`` is, or the nearest package holding it."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _forwarding(node: ast.AST) -> bool:
    """A module ``__getattr__``: names resolved on access only, never on import."""
    return isinstance(node, ast.FunctionDef) and node.name == "__getattr__"


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """module -> modules of the package it imports (any import statement, any depth)."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        skip = {id(n) for f in ast.walk(tree) if _forwarding(f) for n in ast.walk(f)}
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                    + ([base] if base else []))
                # "from pkg import sub" imports the submodule when there is one
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                         for a in node.names]
            for name in names:
                if name.split(".")[0] != PACKAGE:
                    continue
                target = _target(name, modules)
                if target and target != module:
                    graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in graph:
        if v not in index:
            visit(v)
    return out


def _package_level(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between the top-level modules and subpackages (report, features, models ...)."""
    def top(m: str) -> str:
        return ".".join(m.split(".")[:2])

    out: dict[str, set[str]] = {}
    for m, targets in graph.items():
        out.setdefault(top(m), set()).update(top(t) for t in targets if top(t) != top(m))
    for targets in list(out.values()):
        for t in targets:
            out.setdefault(t, set())
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    # a lazy import inside a function counts (jobs imports the report inside run_score)
    assert "repurchase_ml.report" in graph["repurchase_ml.jobs"]
    assert "repurchase_ml.models.evaluate" in graph["repurchase_ml.tracking"]
    assert "repurchase_ml.report.plots" in graph["repurchase_ml.report.lift"]


def test_report_jobs_and_tracking_do_not_import_each_other_in_a_circle():
    graph = _package_level(import_graph())
    tangled = [g for g in cycles(graph) if {"repurchase_ml.report", "repurchase_ml.jobs",
                                              "repurchase_ml.tracking"} & set(g)]
    assert tangled == []
    assert "repurchase_ml.report" not in graph["repurchase_ml.tracking"]
    assert not {"repurchase_ml.jobs", "repurchase_ml.tracking", "repurchase_ml.cli",
                "repurchase_ml.config"} & graph["repurchase_ml.report"]


def test_no_import_cycle_anywhere_in_the_package():
    # before the report became a package: jobs -> report -> tracking -> report, report -> jobs
    assert cycles(import_graph()) == []


def test_importing_the_report_loads_no_jobs_mlflow_or_shap():
    code = ("import sys, repurchase_ml.report, repurchase_ml.i18n; "
            "print(sorted(m for m in ('repurchase_ml.jobs', 'repurchase_ml.tracking', "
            "'repurchase_ml.config', 'mlflow', 'shap') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
