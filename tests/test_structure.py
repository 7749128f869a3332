"""The structure the code promises (docs/concepts.md, "Layout of the code"): no import
circles in ``initspec/`` and ``adapters/``, one folder per backend with the same files, the
backend registry as the one list, and no test hooks left in production modules.

The import graph is read from the source (every ``import`` and ``from ... import`` in a
file, function-level ones included), so a circle hidden inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from initspec import backends

ROOT = Path(__file__).resolve().parents[1]
#: Source folder -> the package it installs as.
PACKAGES = {"initspec": "initspec", "adapters": "initspec.adapters"}


def _modules() -> dict[str, Path]:
    out = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The initspec modules ``name`` imports (a package's own ``__init__`` counts only where
    nothing more specific is named).  ``from . import parse_plan`` in ``initspec.plans.table``
    is an edge to ``initspec.plans``: the package's ``__init__`` must have run for the name to
    exist, so a package whose ``__init__`` imports that submodule is a circle."""
    is_package = path.name == "__init__.py"
    base = name if is_package else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            parent = base
            for _ in range(node.level - 1):
                parent = parent.rsplit(".", 1)[0]
            mod = (f"{parent}.{node.module}" if node.module else parent) if node.level else (node.module or "")
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:  # a submodule importing a name from its own package counts too
                found.add(t)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {name: _imports(name, path, known) for name, path in mods.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_circles():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_circle():
    """The check above could pass by finding nothing: it does find a planted circle."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_core_never_imports_an_adapter():
    """The core reaches backends only through the registry (initspec.backends)."""
    graph = _graph()
    bad = {m: sorted(t for t in deps if t.startswith("initspec.adapters"))
           for m, deps in graph.items() if not m.startswith("initspec.adapters")}
    assert {m: d for m, d in bad.items() if d} == {}


def test_adapters_never_import_plans_or_the_file_loader():
    graph = _graph()
    bad = {m: sorted(t for t in deps if t.startswith(("initspec.plans", "initspec.files", "initspec.cli")))
           for m, deps in graph.items() if m.startswith("initspec.adapters")}
    assert {m: d for m, d in bad.items() if d} == {}


@pytest.mark.parametrize("backend", backends.names())
def test_every_backend_is_one_folder_with_the_same_files(backend):
    folder = ROOT / "adapters" / backend
    assert folder.is_dir()
    for name in backends.FILES:
        assert (folder / f"{name}.py").is_file(), f"adapters/{backend}/{name}.py"


@pytest.mark.parametrize("backend", backends.names())
def test_every_backend_file_defines_the_shared_names(backend):
    """Same names in every folder (read from the source: no framework is imported)."""
    want = {"random": {"DRAW", "constant", "uniform", "normal", "truncated_normal", "orthogonal", "identity",
                       "dirac", "delta_orthogonal", "sparse"},
            "model": {"walk", "write"}, "conformance": {"DRIVER"}, "native": {"LAYOUT", "native_call"}}
    for file, names in want.items():
        tree = ast.parse((ROOT / "adapters" / backend / f"{file}.py").read_text(encoding="utf-8"))
        defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        defined |= {t.id for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
                    for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
        assert names <= defined, (backend, file, sorted(names - defined))


def test_no_production_module_keeps_a_test_hook():
    """Fault injection and mutants are arguments, never module globals tests overwrite."""
    for path in [*ROOT.joinpath("initspec").rglob("*.py"), *ROOT.joinpath("adapters").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        for hook in ("HAAR_SIGN_CORRECTION", "faults.HOOK", "import_module(__package__)", "tests patch",
                     "tests replace", "tests monkeypatch"):
            assert hook not in text, f"{path.relative_to(ROOT)}: {hook}"


def test_a_name_taken_from_the_own_package_is_an_edge(tmp_path):
    """``from . import parse_plan`` inside ``pkg.sub``, with ``pkg/__init__`` importing ``sub``,
    is a circle (the check once skipped a submodule's imports of its own package)."""
    (tmp_path / "__init__.py").write_text("from .sub import f\n\ndef parse_plan(): ...\n")
    (tmp_path / "sub.py").write_text("def f():\n    from . import parse_plan\n    return parse_plan\n")
    known = {"pkg", "pkg.sub"}
    graph = {"pkg": _imports("pkg", tmp_path / "__init__.py", known),
             "pkg.sub": _imports("pkg.sub", tmp_path / "sub.py", known)}
    assert graph == {"pkg": {"pkg.sub"}, "pkg.sub": {"pkg"}}
    assert _cycles(graph) == [["pkg", "pkg.sub"]]
