"""Tolerances of steady-state probes, as pure values and one pure check.

A tolerance is written in a plan as a bool, a number, a string, a `[low, high]` range, or one of
`{range: [low, high]}`, `{regex: PATTERN}`, `{equals: VALUE}`. `parse_tolerance` turns that into a
value; `within(tolerance, observed)` says whether an observation is inside it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import singledispatch
from typing import Any

__all__ = ["Between", "Exactly", "Matches", "Tolerance", "parse_tolerance", "within"]


@dataclass(frozen=True)
class Exactly:
    value: bool | int | float | str


@dataclass(frozen=True)
class Between:
    low: float
    high: float


@dataclass(frozen=True)
class Matches:
    pattern: str


Tolerance = Exactly | Between | Matches


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number, got {value!r}")
    return float(value)


def _between(bounds: Any) -> Between:
    if not isinstance(bounds, list | tuple) or len(bounds) != 2:
        raise ValueError(f"a range is [low, high], got {bounds!r}")
    low, high = _number(bounds[0], "low"), _number(bounds[1], "high")
    if low > high:
        raise ValueError(f"range low {low:g} is above high {high:g}")
    return Between(low, high)


def _matches(pattern: Any) -> Matches:
    if not isinstance(pattern, str):
        raise ValueError(f"regex must be a string, got {pattern!r}")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad regex {pattern!r}: {exc}") from None
    return Matches(pattern)


def parse_tolerance(raw: Any) -> Tolerance:
    """The tolerance a plan wrote; ValueError with a readable reason when it is not one."""
    if isinstance(raw, bool | int | float | str):
        return Exactly(raw)
    if isinstance(raw, list | tuple):
        return _between(raw)
    if isinstance(raw, dict) and len(raw) == 1:
        ((kind, value),) = raw.items()
        if kind == "range":
            return _between(value)
        if kind == "regex":
            return _matches(value)
        if kind == "equals" and isinstance(value, bool | int | float | str):
            return Exactly(value)
    raise ValueError(
        "a tolerance is a bool, a number, a string, [low, high], {range: [low, high]}, "
        f"{{regex: PATTERN}} or {{equals: VALUE}}; got {raw!r}"
    )


@singledispatch
def within(tolerance: Tolerance, observed: Any) -> bool:
    raise TypeError(f"not a tolerance: {tolerance!r}")


@within.register
def _(tolerance: Exactly, observed: Any) -> bool:
    expected = tolerance.value
    if isinstance(expected, bool) or isinstance(observed, bool):
        return isinstance(observed, bool) and observed is expected
    if isinstance(expected, int | float):
        if not isinstance(observed, int | float):
            return False
        return math.isclose(float(observed), float(expected), rel_tol=1e-9, abs_tol=1e-12)
    return isinstance(observed, str) and observed == expected


@within.register
def _(tolerance: Between, observed: Any) -> bool:
    if isinstance(observed, bool) or not isinstance(observed, int | float):
        return False
    return tolerance.low <= float(observed) <= tolerance.high


@within.register
def _(tolerance: Matches, observed: Any) -> bool:
    if observed is None:
        return False
    return re.search(tolerance.pattern, str(observed)) is not None
