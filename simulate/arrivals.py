"""Non-homogeneous Poisson arrivals by thinning (Lewis and Shedler), drawn in vectors."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fakalab.simulate.params import LoadShape

__all__ = ["arrival_times"]

CHUNK = 65_536  # fixed, so that a longer run starts with exactly the arrivals of a shorter one


def arrival_times(
    shape: LoadShape,
    rng: np.random.Generator,
    *,
    orders: int | None = None,
    duration_s: float | None = None,
) -> npt.NDArray[np.float64]:
    """The first ``orders`` arrival times, or every arrival before ``duration_s``.

    Candidates come at the peak rate; each is kept with probability rate(t)/peak.
    """
    if (orders is None) == (duration_s is None):
        raise ValueError("give exactly one of orders and duration_s")
    peak, clock = shape.peak, 0.0
    last_t, last_rate = shape.points[-1]
    kept: list[npt.NDArray[np.float64]] = []
    count = 0
    while True:
        candidates = np.cumsum(np.concatenate(([clock], rng.exponential(1 / peak, CHUNK))))[1:]
        keep = rng.random(CHUNK) * peak < shape.rate(candidates)
        clock = float(candidates[-1])
        kept.append(candidates[keep])
        count += int(keep.sum())
        if orders is not None and count >= orders:
            return np.concatenate(kept)[:orders]
        if orders is not None and last_rate == 0 and clock > last_t:
            raise ValueError(f"the load shape falls to 0 at {last_t:g} s before {orders} orders")
        if duration_s is not None and clock >= duration_s:
            times = np.concatenate(kept)
            return times[times < duration_s]
