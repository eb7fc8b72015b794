"""Comparison of runs: deltas against a baseline run with seeded, vectorised bootstrap intervals.

Each statistic is resampled by orders (or by the observations it is defined over) within each run,
independently per run; the interval of a delta is the percentile interval of the resampled deltas.
Binary shares use the binomial and ratios of per-order counts the multinomial over distinct count
pairs — both exactly the distribution of index resampling, at a cost independent of the run's size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from fakalab.reports.analysis import Analysis
from fakalab.reports.transparency import stage_visible, waiting

__all__ = ["COMPARED", "RESAMPLES", "SEED", "bootstrap_quantile", "compare"]

RESAMPLES = 1000
SEED = 20261124
CONFIDENCE = 0.95
_CHUNK = 4_000_000  # values drawn at once by bootstrap_quantile

Rng = np.random.Generator


def bootstrap_binary(rng: Rng, successes: int, n: int, size: int) -> np.ndarray:
    if n == 0:
        return np.full(size, np.nan)
    return rng.binomial(n, successes / n, size) / n


def bootstrap_quantile(rng: Rng, values: np.ndarray, q: float, size: int) -> np.ndarray:
    """The q-th percentile of `size` resamples of `values`, drawn in bounded chunks."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return np.full(size, np.nan)
    step = max(1, _CHUNK // values.size)
    parts = [
        np.percentile(
            values[rng.integers(0, values.size, (min(step, size - i), values.size))], q, axis=1
        )
        for i in range(0, size, step)
    ]
    return np.concatenate(parts)


def bootstrap_ratio(
    rng: Rng, numerator: np.ndarray, denominator: np.ndarray, size: int, scale: float = 1.0
) -> np.ndarray:
    """scale * sum(numerator) / sum(denominator) over resamples of the rows."""
    pairs = pd.DataFrame({"n": numerator, "d": denominator}).value_counts()
    if pairs.empty:
        return np.full(size, np.nan)
    counts = rng.multinomial(int(pairs.sum()), (pairs / pairs.sum()).to_numpy(), size)
    num = counts @ pairs.index.get_level_values("n").to_numpy(dtype=float)
    den = counts @ pairs.index.get_level_values("d").to_numpy(dtype=float)
    return np.divide(scale * num, den, out=np.full(size, np.nan), where=den > 0)


def _delay_rate(a: Analysis, rng: Rng, size: int) -> np.ndarray:
    return bootstrap_binary(rng, int(a.out["delayed"].sum()), int(a.out["decided"].sum()), size)


def _ttd_p95(a: Analysis, rng: Rng, size: int) -> np.ndarray:
    return bootstrap_quantile(rng, a.out["ttd"].dropna().to_numpy(), 95, size)


def _tickets(a: Analysis, rng: Rng, size: int) -> np.ndarray:
    oid = a.run.tickets["oid"].to_numpy()
    per_order = np.bincount(oid[oid >= 0], minlength=len(a.out))
    return bootstrap_ratio(rng, per_order, a.out["delayed"].to_numpy(dtype=float), size, 100.0)


def _vacuum(a: Analysis, rng: Rng, size: int) -> np.ndarray:
    return bootstrap_quantile(rng, a.vacuum.to_numpy(), 50, size)


def _eta(a: Analysis, rng: Rng, size: int) -> np.ndarray:
    return bootstrap_binary(rng, int(a.etas["on_time"].sum()), len(a.etas), size)


def _visibility(a: Analysis, rng: Rng, size: int) -> np.ndarray:
    mask = waiting(a.run.orders, a.run.polls)
    shown = int((mask & stage_visible(a.run.polls)).sum())
    return bootstrap_binary(rng, shown, int(mask.sum()), size)


# metric -> (section of the run's metrics, bootstrap of the statistic)
COMPARED: dict[str, tuple[str, Callable[[Analysis, Rng, int], np.ndarray]]] = {
    "delay_rate": ("headline", _delay_rate),
    "ttd_p95_s": ("headline", _ttd_p95),
    "tickets_per_100_delayed": ("transparency", _tickets),
    "vacuum_p50_s": ("transparency", _vacuum),
    "eta_on_time_share": ("transparency", _eta),
    "stage_visibility": ("transparency", _visibility),
}


def delta_row(other: Analysis, metric: str, b: Any, v: Any, deltas: np.ndarray
              ) -> dict[str, Any]:
    """One comparison row: `other`'s value `v` of `metric` against the baseline's `b`, with the
    CONFIDENCE interval of the bootstrapped `deltas` (the finite ones)."""
    finite = deltas[np.isfinite(deltas)]
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = (
        np.percentile(finite, [tail, 100 - tail])
        if finite.size and b is not None and v is not None
        else (None, None)
    )
    return {
        "run_id": other.run.run_id,
        "label": other.run.label,
        "metric": metric,
        "baseline": b,
        "value": v,
        "delta": None if b is None or v is None else v - b,
        "ci_low": None if low is None else float(low),
        "ci_high": None if high is None else float(high),
    }


def _row(base: Analysis, other: Analysis, metric: str, rng: Rng, size: int) -> dict[str, Any]:
    section, boot = COMPARED[metric]
    b, v = base.metrics[section][metric], other.metrics[section][metric]
    return delta_row(other, metric, b, v, boot(other, rng, size) - boot(base, rng, size))


def compare(
    analyses: list[Analysis], resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, Any]:
    """Deltas of every COMPARED metric of each run against the first, with bootstrap intervals."""
    rng = np.random.default_rng(seed)
    base = analyses[0]
    rows = [
        _row(base, other, metric, rng, resamples) for other in analyses[1:] for metric in COMPARED
    ]
    scenarios = {a.run.meta.get("scenario") for a in analyses}
    return {
        "baseline": base.run.run_id,
        "scenario": scenarios.pop() if len(scenarios) == 1 else None,
        "resamples": resamples,
        "seed": seed,
        "confidence": CONFIDENCE,
        "rows": rows,
    }
