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

__all__ = ["StageClock", "payment_etas", "shop_payment_etas", "stage_clock", "stage_etas"]

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


def _rate(times: FloatArray, at: FloatArray, window_s: float) -> FloatArray:
    """Events per second in (at − window_s, at] (``times`` sorted)."""
    upto = np.searchsorted(times, at, side="right")
    since = np.searchsorted(times, at - window_s, side="right")
    return (upto - since) / window_s


def shop_payment_etas(
    clock: StageClock,
    paid_at: FloatArray,
    ahead: FloatArray,
    workers: int,
    *,
    priority: npt.NDArray[np.int64],
    left_at: FloatArray,
    floor_s: float = 5.0,
    window_s: float = 10.0,
    penalty: FloatArray | None = None,
) -> FloatArray:
    """The ETA the shop shows on payment now (``reference_shop/eta.py`` ``estimate_eta`` and
    ``Shop.eta_for``): the queue ahead drains at the pipeline's capacity — ``workers`` per mean
    per-order time, or the throughput of the last ``window_s`` when lower (orders leaving the
    pipeline: ``left_at``, sorted) — less the rate at which orders of higher classes joined the
    queue in the last ``window_s`` (they overtake), but never below 5% of the capacity; then the
    order's own stages. ``penalty``, the mean latency of a degraded risk service or supplier A
    (``Shop._upstream_penalty``), is added to the per-order time, so it also slows the drain.
    Never closer than ``floor_s``, rounded up to a whole second."""
    per_order = clock.remaining(0, paid_at)
    if penalty is not None:
        per_order = per_order + penalty
    capacity = np.where(per_order > 0, max(workers, 1) / np.where(per_order > 0, per_order, 1),
                        np.inf)
    throughput = _rate(left_at, paid_at, window_s)
    capacity = np.where(throughput > 0, np.minimum(capacity, throughput), capacity)
    overtaking = np.zeros(len(paid_at))
    joined = ~np.isnan(paid_at)
    for cls in np.unique(priority[joined]):
        higher = np.sort(paid_at[joined & (priority < cls)])
        mine = joined & (priority == cls)
        overtaking[mine] = _rate(higher, paid_at[mine], window_s)
    drain = np.maximum(capacity - overtaking, 0.05 * capacity)
    with np.errstate(invalid="ignore", divide="ignore"):
        waiting = np.where(ahead > 0, ahead / drain, 0.0)
    eta = paid_at + waiting + per_order
    return np.ceil(np.maximum(eta, paid_at + floor_s))
