"""Repeats of one drill: each headline figure's spread across them and its intervals (I/O: reads
run directories with the report's reader).

``repeat_spread(run_dirs)`` is the function ``fakalab drill SCENARIO --repeat N`` can call on the
N run directories it wrote; the single-run report can call it on the catalog's repeats to say
how far one run's figures can be trusted. Figures are the forecast's (``against.measured_figures``:
the report's definitions). For each figure:

- ``values`` (one per run), ``mean``, ``sd`` (n − 1), ``min``, ``max``;
- ``mean_interval``: the bootstrap percentile interval of the mean (2,000 resamples; within the
  figure's bounds);
- ``run_interval``: where one more run of the drill should fall (95%): a Student-t prediction
  interval, mean ± t(n−1) · sd · √(1 + 1/n), computed on the logit of a rate and the log of a
  positive figure and transformed back — so it respects the bounds (rates in (0, 1), counts
  and times > 0); ``None`` with fewer than 2 runs.

All runs must be of the same drill: the same resolved ``scenario.yaml`` (scenario, variant,
seed, settings, faults) — ``RepeatError`` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from fakalab.reports.rundir import load_run
from fakalab.simulate.against import measured_figures
from fakalab.simulate.forecast import FIGURES, bootstrap_mean
from fakalab.simulate.stats import t_quantile

__all__ = ["FigureSpread", "RepeatError", "RepeatSpread", "repeat_spread", "spread_of"]

RATES = frozenset({"delay_rate"})
METHOD = {
    "mean_interval": "bootstrap percentile interval of the mean (2,000 resamples)",
    "run_interval": "Student-t prediction interval for one more run, on the logit of a rate and "
                    "the log of a positive figure, transformed back",
}


class RepeatError(Exception):
    """Run directories that are not repeats of one drill (the message says why)."""


@dataclass(frozen=True)
class FigureSpread:
    values: tuple[float, ...]
    mean: float
    sd: float
    min: float
    max: float
    mean_interval: tuple[float, float]
    run_interval: tuple[float, float] | None

    def as_dict(self) -> dict[str, Any]:
        def clean(v: float) -> float | None:
            return None if v is None or not math.isfinite(v) else float(v)

        return {"values": [clean(v) for v in self.values], "mean": clean(self.mean),
                "sd": clean(self.sd), "min": clean(self.min), "max": clean(self.max),
                "mean_interval": [clean(v) for v in self.mean_interval],
                "run_interval": None if self.run_interval is None
                else [clean(v) for v in self.run_interval]}


@dataclass(frozen=True)
class RepeatSpread:
    scenario: str
    variant: str | None
    run_ids: tuple[str, ...]
    figures: dict[str, FigureSpread]

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "variant": self.variant, "runs": list(self.run_ids),
                "figures": {k: v.as_dict() for k, v in self.figures.items()},
                "method": METHOD}


def _transform(rate: bool) -> tuple[Any, Any]:
    eps = 1e-6
    if rate:
        return (lambda p: math.log(min(max(p, eps), 1 - eps) / (1 - min(max(p, eps), 1 - eps))),
                lambda z: 1 / (1 + math.exp(-z)))
    return (lambda x: math.log(max(x, eps)), math.exp)


def spread_of(values: Sequence[float], *, rate: bool = False) -> FigureSpread:
    """The spread and intervals of one figure over repeats (NaN values are left out)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        nan = math.nan
        return FigureSpread(tuple(values), nan, nan, nan, nan, (nan, nan), None)
    array = np.asarray(finite)
    sd = float(array.std(ddof=1)) if len(array) > 1 else math.nan
    run_interval = None
    if len(array) > 1:
        factor = t_quantile(len(array) - 1) * math.sqrt(1 + 1 / len(array))
        if not rate and array.min() <= 0:  # a count that was 0: no log scale; clipped at 0
            half = factor * sd
            run_interval = (max(0.0, float(array.mean()) - half), float(array.mean()) + half)
        else:
            forward, back = _transform(rate)
            z = np.array([forward(v) for v in array])
            half = factor * float(z.std(ddof=1))
            centre = float(z.mean())
            run_interval = (back(centre - half), back(centre + half))
    return FigureSpread(tuple(finite), float(array.mean()), sd, float(array.min()),
                        float(array.max()), bootstrap_mean(finite), run_interval)


def _scenario(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load((path / "scenario.yaml").read_text(encoding="utf-8"))
    except OSError as exc:
        raise RepeatError(f"{path}: cannot read scenario.yaml: {exc.strerror}") from None
    if isinstance(data, dict):
        data.pop("variants", None)
    return data if isinstance(data, dict) else {}


def repeat_spread(run_dirs: Sequence[str | Path]) -> RepeatSpread:
    """Each headline figure's spread and intervals across repeats of one drill."""
    if not run_dirs:
        raise RepeatError("no run directories")
    runs = [load_run(path) for path in run_dirs]
    first = runs[0]
    reference = _scenario(first.path)
    for run in runs[1:]:
        if (run.meta.get("scenario"), run.meta.get("variant")) != (
                first.meta.get("scenario"), first.meta.get("variant")):
            raise RepeatError(f"{run.path}: a run of {run.meta.get('scenario')!r} "
                              f"(variant {run.meta.get('variant')!r}), not of "
                              f"{first.meta.get('scenario')!r} (variant "
                              f"{first.meta.get('variant')!r})")
        if _scenario(run.path) != reference:
            raise RepeatError(f"{run.path}: its scenario.yaml differs from {first.path}'s "
                              "(seed, settings or faults): not a repeat")
    measured = [measured_figures(run) for run in runs]
    figures = {name: spread_of([m[name] for m in measured], rate=name in RATES)
               for name in FIGURES}
    return RepeatSpread(str(first.meta.get("scenario")), first.meta.get("variant"),
                        tuple(run.run_id for run in runs), figures)
