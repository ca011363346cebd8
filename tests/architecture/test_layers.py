"""The layer rule of ARCHITECTURE.md, kept by walking every import (ast, nothing is imported):

- ``grammar`` imports nothing of molgen and no torch;
- ``molgen.chem`` and ``molgen.data`` import no model code, and chemistry does not import the data layer;
- nothing in the library imports the CLI (``molgen.commands``, ``molgen.cli``) or the app (``apps``);
- no import cycles between modules (imports inside functions count: they are cycles deferred, not removed).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("grammar", "molgen", "apps")
MODEL_CODE = ("molgen.vae", "molgen.organ", "molgen.masking", "molgen.training", "molgen.families", "molgen.api", "molgen.sampling",
              "molgen.scoring", "molgen.evaluation", "molgen.dashboard", "torch")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str:
    """The longest known module prefix of ``name`` (``molgen.chem.mol.to_mol`` -> ``molgen.chem.mol``)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        cand = ".".join(parts[:i])
        if cand in MODULES:
            return cand
    return name


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(module: str) -> set[str]:
    """Every module ``module`` imports, at module level or inside functions (not under TYPE_CHECKING)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(_resolve(a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for a in node.names:
                out.add(_resolve(f"{prefix}.{a.name}"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    out.discard(module)
    return out


GRAPH = {m: imports(m) for m in MODULES}


def _violations(sources: str | tuple[str, ...], forbidden: tuple[str, ...], allow: tuple[str, ...] = ()) -> list[str]:
    sources = (sources,) if isinstance(sources, str) else sources
    bad = []
    for mod, deps in sorted(GRAPH.items()):
        if not any(mod == s or mod.startswith(s + ".") for s in sources) or mod in allow:
            continue
        for dep in sorted(deps):
            if any(dep == f or dep.startswith(f + ".") for f in forbidden):
                bad.append(f"{mod} imports {dep}")
    return bad


def test_grammar_imports_no_molgen_and_no_torch():
    assert _violations("grammar", ("molgen", "torch", "apps")) == []


def test_chemistry_and_data_import_no_model_code():
    assert _violations(("molgen.chem", "molgen.data"), MODEL_CODE + ("molgen.commands", "molgen.cli")) == []


def test_chemistry_does_not_import_the_data_layer():
    assert _violations("molgen.chem", ("molgen.data",)) == []


def test_the_library_imports_neither_the_cli_nor_the_app():
    """The CLI layer is ``molgen.commands``, ``molgen.cli`` and ``molgen.__main__`` (``python -m molgen``)."""
    assert _violations("molgen", ("molgen.commands", "molgen.cli", "molgen.__main__", "apps"),
                       allow=tuple(m for m in MODULES if m.startswith("molgen.commands")) + ("molgen.cli", "molgen.__main__")) == []
    assert _violations("molgen", ("apps",)) == []


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), ignoring a package's
    ``__init__`` importing its own submodules (Python runs the package first either way)."""
    graph = {m: {d for d in deps if d in GRAPH and not d.startswith(m + ".") and not m.startswith(d + ".")}
             for m, deps in GRAPH.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def test_no_import_cycles():
    assert _cycles() == []


@pytest.mark.parametrize("source, expected", [
    ("from molgen.chem.mol import to_mol", {"molgen.chem.mol"}),
    ("from .mol import to_mol", {"molgen.chem.mol"}),
    ("def f():\n    import torch", {"torch"}),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import molgen.api", {"typing.TYPE_CHECKING"}),
])
def test_the_walker_sees_each_kind_of_import(source, expected, monkeypatch, tmp_path):
    """The checks above are only as good as the walker: it sees relative and function-level imports."""
    fake = tmp_path / "probe.py"
    fake.write_text(source)
    monkeypatch.setitem(MODULES, "molgen.chem.probe", fake)
    assert imports("molgen.chem.probe") == expected
