"""The ETA the transparent shop shows, as the reference shop computes it (vectorised, pure).

The shop learns each stage's recent mean duration (an EWMA over completed stages, ``StageClock``
in ``reference_shop/eta.py``); here, the mean of the last ``window`` completions of the stage
before the moment of the estimate, blended with the configured mean while fewer are known.
On payment: ``now + ahead / workers × per_order + per_order``; at the start of a stage:
``now + the stages still to run``. Only stages that block delivery count, as in the shop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["StageClock", "payment_etas", "stage_clock", "stage_etas"]

FloatArray = npt.NDArray[np.float64]
WINDOW = 9  # an EWMA with α = 0.2 spans about 2/α − 1 = 9 observations


@dataclass(frozen=True)
class StageClock:
    """Per blocking stage: completion times (sorted) and the recent mean after each."""

    ends: list[FloatArray]
    recent: list[FloatArray]
    prior: list[float]

    def mean(self, stage: int, at: FloatArray) -> FloatArray:
        """Recent mean duration of ``stage`` as known at each of ``at``."""
        if not len(self.ends[stage]):
            return np.full(len(at), self.prior[stage])
        seen = np.searchsorted(self.ends[stage], at, side="right")
        known = self.recent[stage][np.maximum(seen - 1, 0)]
        return np.where(seen > 0, known, self.prior[stage])

    def remaining(self, first: int, at: FloatArray) -> FloatArray:
        """Mean time of stages ``first``… (blocking stages only), as known at ``at``."""
        total = np.zeros(len(at))
        for stage in range(first, len(self.ends)):
            total += self.mean(stage, at)
        return total


def _recent_means(durations: FloatArray, prior: float, window: int) -> FloatArray:
    sums = np.concatenate(([0.0], np.cumsum(durations)))
    count = np.arange(1, len(durations) + 1)
    last = sums[count] - sums[np.maximum(count - window, 0)]
    known = np.minimum(count, window)
    return (last + prior * (window - known)) / window


def stage_clock(
    starts: FloatArray, ends: FloatArray, priors: list[float], window: int = WINDOW
) -> StageClock:
    """The clock from stage start/end matrices (one column per blocking stage; NaN: never)."""
    clock_ends, recent = [], []
    for k, prior in enumerate(priors):
        done = ~np.isnan(ends[:, k])
        order = np.argsort(ends[done, k], kind="stable")
        finished = ends[done, k][order]
        durations = finished - starts[done, k][order]
        clock_ends.append(finished)
        recent.append(_recent_means(durations, prior, window))
    return StageClock(clock_ends, recent, priors)


def payment_etas(
    clock: StageClock, paid_at: FloatArray, ahead: FloatArray, workers: int
) -> FloatArray:
    """ETA shown when payment is confirmed and the order joins the queue (NaN: not paid)."""
    per_order = clock.remaining(0, paid_at)
    return paid_at + ahead / workers * per_order + per_order


def stage_etas(clock: StageClock, starts: FloatArray) -> FloatArray:
    """ETA shown at the start of each blocking stage (columns as in ``starts``)."""
    columns = [starts[:, k] + clock.remaining(k, starts[:, k]) for k in range(starts.shape[1])]
    return np.column_stack(columns) if columns else np.empty((len(starts), 0))
