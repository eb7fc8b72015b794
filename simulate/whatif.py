"""What-if sweeps and capacity planning over the pipeline model (pure; sweeps use processes).

Every point of a sweep runs with the same seeds, so the points share common random numbers and
their differences come from the levers, not from noise.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fakalab.reports.spread import bootstrap_mean
from fakalab.simulate.model import run
from fakalab.simulate.parallel import Progress, run_all
from fakalab.simulate.params import PipelineModel
from fakalab.simulate.results import Summary
from fakalab.simulate.stats import Estimate

__all__ = ["SweepPoint", "aggregate", "grid", "metric", "sweep", "with_params"]



def _set(node: Any, path: list[str], value: Any) -> Any:
    """A copy of ``node`` (dicts and lists from ``model_dump``) with ``path`` set to ``value``.
    List items are addressed by index or by their ``name``."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        if head not in node:
            raise KeyError(f"no parameter {head!r}; known: {sorted(node)}")
        return {**node, head: _set(node[head], rest, value)}
    if isinstance(node, list | tuple):
        names = [item.get("name") if isinstance(item, dict) else None for item in node]
        index = int(head) if head.isdigit() else names.index(head) if head in names else -1
        if not 0 <= index < len(node):
            raise KeyError(f"no item {head!r}; known: {[n for n in names if n]}")
        return [_set(item, rest, value) if k == index else item for k, item in enumerate(node)]
    raise KeyError(f"cannot descend into {head!r}")


def with_params(model: PipelineModel, params: Mapping[str, Any]) -> PipelineModel:
    """``model`` with dotted parameters replaced, e.g. ``{"workers": 8,
    "stages.delivery.service.mean": 0.01}``; the result is validated again."""
    data: Any = model.model_dump()
    for path, value in params.items():
        data = _set(data, path.split("."), value)
    return PipelineModel.model_validate(data)


def grid(levers: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the levers' values."""
    names = list(levers)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*levers.values())]


@dataclass(frozen=True)
class SweepPoint:
    params: dict[str, Any]
    seed: int
    summary: Summary


def _run_point(task: tuple[PipelineModel, dict[str, Any], int]) -> SweepPoint:
    model, params, seed = task
    return SweepPoint(params, seed, run(with_params(model, params), seed).summary)


def sweep(
    model: PipelineModel,
    levers: Mapping[str, Sequence[Any]],
    seeds: Sequence[int],
    *,
    processes: int | None = None,
    progress: Progress | None = None,
) -> list[SweepPoint]:
    """Run every lever combination with every seed, on all cores unless ``processes`` is 1."""
    tasks = [(model, params, seed) for params in grid(levers) for seed in seeds]
    for params in grid(levers):
        with_params(model, params)  # fail fast, in this process, on a bad lever
    return run_all(_run_point, tasks, processes=processes, progress=progress)


def metric(summary: Summary, name: str) -> float:
    """A summary figure by name (``tickets_per_100_delayed`` is 0 when nothing was delayed)."""
    value = getattr(summary, name, None)
    if not isinstance(value, int | float):
        raise KeyError(f"{name!r} is not a numeric summary figure")
    if name == "tickets_per_100_delayed" and math.isnan(value):
        return 0.0
    return float(value)


def aggregate(points: Sequence[SweepPoint], name: str) -> list[tuple[dict[str, Any], Estimate]]:
    """Mean and 95% interval of one figure over seeds, per lever combination (in order). The
    interval is the bootstrap's (percentiles of 2,000 resampled means): it stays within what
    the replications gave, so a rate's never leaves [0, 1] nor a count's goes below 0."""
    groups: dict[str, tuple[dict[str, Any], list[float]]] = {}
    for point in points:
        key = repr(sorted(point.params.items()))
        groups.setdefault(key, (point.params, []))[1].append(metric(point.summary, name))
    return [(params, _bootstrapped(values)) for params, values in groups.values()]


def _bootstrapped(values: list[float]) -> Estimate:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return Estimate(math.nan, math.nan, math.nan)
    lo, hi = bootstrap_mean(finite)
    return Estimate(sum(finite) / len(finite), lo, hi)
