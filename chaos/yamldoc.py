"""YAML documents validated by pydantic, with problems named by file, line and field (pure).

Shared by drill plans (`chaos/plan.py`) and scenario files (`contract/scenario.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from pydantic import ValidationError

__all__ = ["Lines", "YamlProblems", "dotted", "line_map", "load_mapping", "locate", "problems_of"]

Lines = dict[tuple[Any, ...], int]


class YamlProblems(Exception):
    """The text is not a YAML mapping; ``problems`` are ``file:line: message`` strings."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def line_map(node: yaml.Node, path: tuple[Any, ...] = (), out: Lines | None = None) -> Lines:
    """The 1-based line of every key and item, by its path of keys and indexes."""
    out = {} if out is None else out
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            line_map(value, (*path, key.value), out)
            out[(*path, key.value)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            line_map(item, (*path, index), out)
    return out


def load_mapping(text: str, source: str, expected: str) -> tuple[dict[str, Any], Lines]:
    """Parse ``text`` as a YAML mapping; ``expected`` says what it should be when it is not."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or exc
        raise YamlProblems([f"{source}:{line}: not valid YAML: {problem}"]) from None
    if node is None or not isinstance(data, dict):
        raise YamlProblems([f"{source}:1: {expected}"])
    return data, line_map(node)


def dotted(loc: Iterable[Any], root: str) -> str:
    """``faults[1].start`` from ``("faults", 1, "start")``; ``root`` for the empty path."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or root


def problems_of(exc: ValidationError, lines: Lines, source: str, root: str,
                noise: frozenset[str] = frozenset(),
                overrides: Mapping[tuple[Any, ...], str] | None = None) -> list[str]:
    """Each validation error as ``file:line: field: message``; ``noise`` are union-tag parts
    of pydantic's locations that are not fields of the document. A field set on the command
    line (``overrides``: path -> the ``--set`` text) is blamed on that, not on a line."""
    problems = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if part not in noise)
        where = locate(loc, lines, source, overrides or {})
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {dotted(loc, root)}: {message}")
    return problems


def locate(loc: tuple[Any, ...], lines: Lines, source: str,
           overrides: Mapping[tuple[Any, ...], str]) -> str:
    """``--set TEXT`` when ``loc`` lies in what an override set (the file's lines there are
    stale), else ``file:line`` of the deepest part of ``loc`` the file has."""
    set_by = next((overrides[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in overrides),
                  None)
    if set_by is not None:
        return f"--set {set_by}"
    line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), 1)
    return f"{source}:{line}"
