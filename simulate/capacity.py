"""Capacity planning: the smallest worker count that meets an SLO at the peak arrival rate."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

from fakalab.simulate.parallel import Progress
from fakalab.simulate.params import LoadShape, PipelineModel
from fakalab.simulate.results import Summary
from fakalab.simulate.stats import Estimate
from fakalab.simulate.whatif import aggregate, sweep

__all__ = [
    "SLO_FIGURES",
    "CapacityPlan",
    "Slo",
    "at_peak",
    "capacity",
    "lever_effects",
    "parse_slo",
]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}
# The summary figures an SLO may bound: the numbers of a run's Summary.
SLO_FIGURES = tuple(f.name for f in fields(Summary) if f.type in ("int", "float", int, float))
_SLO = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|>=|<|>)\s*([0-9.eE+-]+)\s*(%?)\s*$")


@dataclass(frozen=True)
class Slo:
    """A target on one summary figure, e.g. ``delay_rate <= 0.01``."""

    metric: str
    op: str
    target: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.target:g}"

    def met_by(self, estimate: Estimate, *, conservative: bool = True) -> bool:
        """Whether the estimate meets the target; conservatively, its whole 95% interval must."""
        if math.isnan(estimate.mean):
            return False
        value = estimate.mean
        if conservative:
            value = estimate.hi if self.op in ("<=", "<") else estimate.lo
        return self.met_by_value(value)

    def met_by_value(self, value: float) -> bool:
        """Whether one value (a drill's measurement, a forecast's mean) meets the target."""
        return not math.isnan(value) and bool(_OPS[self.op](value, self.target))


def parse_slo(text: str) -> Slo:
    """``"delay_rate<=0.01"`` or ``"delay_rate<=1%"`` → Slo."""
    match = _SLO.match(text)
    if match is None:
        raise ValueError(f"cannot read SLO {text!r}: write e.g. 'delay_rate<=1%' or 'p95_s<30'")
    name, op, number, percent = match.groups()
    if name not in SLO_FIGURES:
        raise ValueError(f"cannot read SLO {text!r}: no figure {name!r} (one of: "
                         f"{', '.join(SLO_FIGURES)})")
    return Slo(name, op, float(number) / (100 if percent else 1))


def at_peak(model: PipelineModel) -> PipelineModel:
    """The model with its arrival rate held at the load shape's peak for the whole run."""
    held = LoadShape.constant(model.arrivals.peak)
    return model.model_copy(update={"arrivals": held, "arrival_times": None})


@dataclass(frozen=True)
class CapacityPlan:
    """``workers`` is the answer (None: not met up to the limit); ``tried`` every evaluation."""

    slo: Slo
    peak_rate: float
    workers: int | None
    tried: dict[int, Estimate]
    door_off: bool = False  # planned with every order admitted (the model had admission on)
    held_peak: bool = True  # the peak rate held for the whole run (else the shape as written)


def capacity(
    model: PipelineModel,
    slo: str | Slo,
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    max_workers: int = 1024,
    conservative: bool = True,
    hold_peak: bool = True,
    processes: int | None = None,
    progress: Progress | None = None,
) -> CapacityPlan:
    """Smallest worker count whose replications meet ``slo``.

    With ``hold_peak`` the load shape's peak rate is held for the whole run (the search starts
    at the least stable count, offered load + 1); otherwise the model runs as given (from 1).
    The step doubles until the SLO is met, then bisects, assuming the figure improves with more
    workers. Replications use the same seeds at every count (common random numbers).

    The plan admits every order: with admission control a shop of one worker "meets" any delay
    SLO by refusing nearly every buyer at the door, which answers nothing about serving the sale
    (the door is for the sale nobody planned for).
    """
    target = parse_slo(slo) if isinstance(slo, str) else slo
    peak = _serving_all(at_peak(model) if hold_peak else model)
    tried: dict[int, Estimate] = {}

    def meets(workers: int) -> bool:
        if workers not in tried:
            points = sweep(peak, {"workers": [workers]}, seeds, processes=processes)
            tried[workers] = aggregate(points, target.metric)[0][1]
            if progress is not None:
                progress(len(tried), len(tried) + 1)
        return target.met_by(tried[workers], conservative=conservative)

    low = int(peak.arrivals.peak * peak.job_mean_s) + 1 if hold_peak else 1
    low = min(low, max_workers)
    answer = _search(meets, low, max_workers)
    return CapacityPlan(target, model.arrivals.peak, answer, dict(sorted(tried.items())),
                        door_off=model.admission is not None, held_peak=hold_peak)


def _serving_all(model: PipelineModel) -> PipelineModel:
    """The model with every order admitted (admission control off)."""
    return model if model.admission is None else model.model_copy(update={"admission": None})


def _search(meets: Callable[[int], bool], low: int, high: int) -> int | None:
    """Smallest n in [low, high] with meets(n), for a monotone predicate (galloping, bisection)."""
    failing, step, probe = low - 1, 1, low
    while not meets(probe):
        if probe >= high:
            return None
        failing, probe, step = probe, min(probe + step, high), step * 2
    while probe - failing > 1:
        middle = (failing + probe) // 2
        failing, probe = (failing, middle) if meets(middle) else (middle, probe)
    return probe


def lever_effects(
    model: PipelineModel,
    workers: int,
    slo: Slo,
    levers: dict[str, Sequence[object]],
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    processes: int | None = None,
    hold_peak: bool = True,
) -> list[tuple[dict[str, object], Estimate]]:
    """The SLO figure at the peak (or over the shape as written) with ``workers``, as given and
    with each lever changed alone (the same seeds everywhere, so differences come from the
    lever)."""
    peak = _serving_all(at_peak(model) if hold_peak else model).model_copy(
        update={"workers": workers})
    out = aggregate(sweep(peak, {"workers": [workers]}, seeds, processes=processes), slo.metric)
    for name, values in levers.items():
        points = sweep(peak, {name: list(values)}, seeds, processes=processes)
        out += aggregate(points, slo.metric)
    return out
