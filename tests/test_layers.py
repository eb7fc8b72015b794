"""The architecture, enforced (docs/architecture.md): which part may import which, and no
import cycle between modules — counting imports inside functions and under TYPE_CHECKING.

    contract ──► chaos
    reference_shop ──► contract
    simulate, reports ──► contract, chaos (and simulate ──► reports)
    scenarios ──► everything
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("chaos", "contract", "reference_shop", "reports", "scenarios", "simulate")
# part -> the parts it may import (besides itself)
ALLOWED: dict[str, frozenset[str]] = {
    "chaos": frozenset(),
    "contract": frozenset({"chaos"}),
    "reference_shop": frozenset({"contract"}),
    "reports": frozenset({"contract", "chaos"}),
    "simulate": frozenset({"contract", "chaos", "reports"}),
    "scenarios": frozenset(PARTS),
    "fakalab": frozenset(),  # the root command imports its subcommands by name, lazily
}


def _modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the packages (fakalab.<part>.<...>)."""
    found = {"fakalab": ROOT / "fakalab" / "__init__.py"}
    for path in (ROOT / "fakalab").glob("*.py"):
        if path.stem != "__init__":
            found[f"fakalab.{path.stem}"] = path
    for part in PARTS:
        for path in (ROOT / part).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            found[".".join(("fakalab", *parts))] = path
    return found


MODULES = _modules()


def imports_of(path: Path, known: dict[str, Path] = MODULES) -> Iterator[tuple[int, str]]:
    """(line, module) of every fakalab module `path` imports, anywhere in the file."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("fakalab"):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.startswith("fakalab"):
            for alias in node.names:  # `from fakalab.x import y`: y may be a module
                sub = f"{node.module}.{alias.name}"
                yield node.lineno, sub if sub in known else node.module


def _part(module: str) -> str:
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 and pieces[1] in PARTS else "fakalab"


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def layer_violations(modules: dict[str, Path]) -> list[str]:
    problems = []
    for name, path in sorted(modules.items()):
        mine = _part(name)
        for line, target in imports_of(path, modules):
            theirs = _part(target)
            if theirs != mine and theirs not in ALLOWED[mine]:
                problems.append(f"{_shown(path)}:{line}: {mine} imports {target}")
    return problems


def cycles(modules: dict[str, Path]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), and self-imports."""
    graph = {name: sorted({t for _, t in imports_of(path, modules) if t in modules and t != name})
             for name, path in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_every_part_imports_only_what_its_layer_allows() -> None:
    assert layer_violations(MODULES) == []


def test_no_import_cycle_between_modules() -> None:
    assert cycles(MODULES) == []


@pytest.mark.parametrize(("part", "target"), [("reports", "fakalab.scenarios.drill"),
                                              ("simulate", "fakalab.reference_shop.db"),
                                              ("chaos", "fakalab.contract.rundir")])
def test_a_forbidden_import_is_caught(tmp_path: Path, part: str, target: str) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(f"def late() -> None:\n    import {target}\n")
    assert layer_violations({f"fakalab.{part}.planted": planted}) != []


def test_a_cycle_is_caught(tmp_path: Path) -> None:
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import fakalab.x.b\n")
    b.write_text("def f() -> None:\n    from fakalab.x import a\n")
    modules = {"fakalab.x.a": a, "fakalab.x.b": b}
    assert cycles({**modules}) == [["fakalab.x.a", "fakalab.x.b"]]
