"""`--set key=value` overrides with dotted keys, applied to plain data (pure)."""

from __future__ import annotations

import copy
from typing import Any

import yaml

__all__ = ["apply_overrides", "override_paths", "parse_override"]


def parse_override(text: str) -> tuple[list[str | int], Any]:
    """`load.shape.rate_per_s=5` → (['load', 'shape', 'rate_per_s'], 5); values are YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ValueError(f"{text!r}: an override is KEY=VALUE with a dotted KEY")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    path: list[str | int] = [int(p) if p.isdigit() else p for p in key.split(".")]
    return path, value


def override_paths(sets: list[str]) -> dict[tuple[str | int, ...], str]:
    """The path each override sets -> its text (the last one wins, as in apply_overrides)."""
    return {tuple(parse_override(text)[0]): text for text in sets}


def apply_overrides(data: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    """A copy of `data` with each override set; missing mappings are created, list items
    are addressed by index (`drill.faults.0.duration=20s`)."""
    result = copy.deepcopy(data)
    for text in sets:
        path, value = parse_override(text)
        node: Any = result
        for depth, part in enumerate(path[:-1]):
            node = _child(node, part, path[: depth + 1], text)
        _assign(node, path[-1], value, text)
    return result


def _child(node: Any, part: str | int, where: list[str | int], text: str) -> Any:
    if isinstance(node, list) and isinstance(part, int):
        if part >= len(node):
            raise ValueError(f"{text!r}: {_name(where)} has no item {part}")
        return node[part]
    if not isinstance(node, dict):
        raise ValueError(f"{text!r}: {_name(where[:-1])} is not a mapping")
    if not isinstance(node.get(part), dict | list):
        node[part] = {}
    return node[part]


def _assign(node: Any, part: str | int, value: Any, text: str) -> None:
    in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
    if in_list or isinstance(node, dict):
        node[part] = value
    else:
        raise ValueError(f"{text!r}: cannot set item {part}")


def _name(path: list[str | int]) -> str:
    return ".".join(str(p) for p in path) or "(top)"
