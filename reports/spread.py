"""The spread of a figure over repeats of a drill, and the intervals behind it (pure statistics).

Shared by the report (a single run says how far its figures can be trusted, from measured
repeats: ``reports.repeatability``) and the simulator (``simulate.repeats``, ``simulate.forecast``):
the report may not import the simulator, so the statistics live here.

- ``t_quantile``: the two-sided Student t quantile;
- ``bootstrap_mean``: the bootstrap percentile interval of a mean;
- ``spread_of(values, rate=...)``: values, mean, sd (n − 1), min, max, the interval of the mean
  and a 95% prediction interval for one more run — mean ± t(n−1) · sd · √(1 + 1/n) on the logit
  of a rate and the log of a positive figure, transformed back (so within the figure's bounds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = ["LEVEL", "METHOD", "FigureSpread", "bootstrap_mean", "spread_of", "t_quantile"]

LEVEL = 0.95
METHOD = {
    "mean_interval": "bootstrap percentile interval of the mean (2,000 resamples)",
    "run_interval": "Student-t prediction interval for one more run, on the logit of a rate and "
                    "the log of a positive figure, transformed back",
}

_EXACT_T975 = {
    1: 12.706204736,
    2: 4.302652730,
    3: 3.182446305,
    4: 2.776445105,
    5: 2.570581836,
    6: 2.446911851,
    7: 2.364624252,
    8: 2.306004135,
    9: 2.262157163,
    10: 2.228138852,
}


def t_quantile(df: int, level: float = 0.95) -> float:
    """Two-sided Student t quantile t_{1-(1-level)/2, df} (Cornish-Fisher expansion, df ≥ 3)."""
    if df < 1:
        raise ValueError("need at least 1 degree of freedom")
    if level == 0.95 and df in _EXACT_T975:  # the expansion is poor for few degrees of freedom
        return _EXACT_T975[df]
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3



def bootstrap_mean(values: Sequence[float], level: float = LEVEL, resamples: int = 2000,
                   seed: int = 0) -> tuple[float, float]:
    finite = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if not len(finite):
        return math.nan, math.nan
    if len(finite) == 1:
        return float(finite[0]), float(finite[0])
    rng = np.random.default_rng(seed)
    means = finite[rng.integers(0, len(finite), (resamples, len(finite)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)



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


