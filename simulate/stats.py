"""Confidence intervals: batch means for one long run, Student t across replications."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fakalab.reports.spread import t_quantile

__all__ = ["BatchAccumulator", "Estimate", "batch_means", "replication_estimate", "t_quantile"]



@dataclass(frozen=True)
class Estimate:
    """A point estimate and its confidence interval."""

    mean: float
    lo: float
    hi: float

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2

    def as_list(self) -> list[float]:
        return [self.lo, self.hi]


def _t_interval(samples: npt.NDArray[np.float64], level: float) -> Estimate:
    mean = float(samples.mean())
    if len(samples) < 2:
        return Estimate(mean, -math.inf, math.inf)
    half = (
        t_quantile(len(samples) - 1, level) * float(samples.std(ddof=1)) / math.sqrt(len(samples))
    )
    return Estimate(mean, mean - half, mean + half)


def batch_means(values: npt.ArrayLike, batches: int = 30, level: float = 0.95) -> Estimate:
    """Mean of a correlated series with a batch-means interval (``batches`` equal batches).

    The tail that does not fill a whole batch is dropped from the interval, not from the mean.
    """
    data = np.asarray(values, dtype=np.float64)
    if len(data) < batches:
        raise ValueError(f"need at least {batches} observations for {batches} batches")
    size = len(data) // batches
    means = data[: size * batches].reshape(batches, size).mean(axis=1)
    half = _t_interval(means, level).half_width
    centre = float(data.mean())
    return Estimate(centre, centre - half, centre + half)


def replication_estimate(values: npt.ArrayLike, level: float = 0.95) -> Estimate:
    """Mean over independent replications with a Student t interval."""
    return _t_interval(np.asarray(values, dtype=np.float64), level)


class BatchAccumulator:
    """Batch means of a long series fed in chunks, without keeping the series.

    The first ``skip`` observations (warm-up) are ignored; the rest fill ``batches`` equal
    batches by position in the series; the tail that does not fill a batch is dropped.
    ``add`` takes a mask to follow a sub-population (one priority class): each batch then
    averages only the masked observations that fall in it.
    """

    def __init__(self, total: int, batches: int = 30, skip: int = 0) -> None:
        if total - skip < batches:
            raise ValueError(f"need at least {batches} observations after the warm-up")
        self.batches, self.skip = batches, skip
        self.size = (total - skip) // batches
        self.sums = np.zeros(batches)
        self.counts = np.zeros(batches)

    def add(
        self,
        first_index: int,
        values: npt.NDArray[np.float64],
        mask: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        position = np.arange(first_index, first_index + len(values)) - self.skip
        keep = (position >= 0) & (position < self.size * self.batches)
        if mask is not None:
            keep &= mask
        batch = position[keep] // self.size
        self.sums += np.bincount(batch, weights=values[keep], minlength=self.batches)
        self.counts += np.bincount(batch, minlength=self.batches)

    def estimate(self, level: float = 0.95) -> Estimate:
        filled = self.counts > 0
        if not filled.any():
            return Estimate(math.nan, math.nan, math.nan)
        half = _t_interval(self.sums[filled] / self.counts[filled], level).half_width
        centre = float(self.sums.sum() / self.counts.sum())
        return Estimate(centre, centre - half, centre + half)
