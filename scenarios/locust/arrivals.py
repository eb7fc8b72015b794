"""Open-loop arrivals: a seeded non-homogeneous Poisson process of a load shape (pure).

Arrival times come from thinning (Lewis–Shedler): candidates at the shape's peak rate, each kept
with probability rate(t)/peak. A slow shop cannot delay them: the dispatcher starts one journey
per arrival whatever the journeys before it are doing.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from fakalab.contract.shapes import Shape

__all__ = ["GeneratorHealth", "arrival_times", "pick", "saturation"]


def arrival_times(shape: Shape, duration_s: float, seed: int, share: float = 1.0
                  ) -> Iterator[float]:
    """Arrival offsets in seconds, increasing, below `duration_s`; `share` of the shape's rate
    (one of several generator processes, each with its own seed)."""
    rng = random.Random(seed)
    peak = shape.peak() * share
    if peak <= 0:
        return
    t = 0.0
    while True:
        t += rng.expovariate(peak)
        if t >= duration_s:
            return
        if rng.random() * peak < shape.rate(t) * share:
            yield t


def pick(weights: Mapping[str, float], rng: random.Random) -> str:
    """One key, with probability proportional to its weight."""
    names = [name for name, weight in weights.items() if weight > 0]
    return rng.choices(names, [weights[name] for name in names])[0]


@dataclass(frozen=True)
class GeneratorHealth:
    """One sample of the load generator: process CPU % and event-loop lag."""

    at: float
    cpu_pct: float
    loop_lag_s: float


def saturation(samples: list[GeneratorHealth], cpu_limit_pct: float = 90.0,
               lag_limit_s: float = 0.1, sustained: int = 3) -> list[str]:
    """Why a run's load is not trustworthy: CPU above the limit or loop lag above the limit for
    `sustained` samples in a row. Empty when the generator kept up."""
    reasons = []
    for what, over, unit in (
        ("process CPU", [s.cpu_pct > cpu_limit_pct for s in samples], f"{cpu_limit_pct:g}%"),
        ("event-loop lag", [s.loop_lag_s > lag_limit_s for s in samples], f"{lag_limit_s:g} s"),
    ):
        run = longest = 0
        for flag in over:
            run = run + 1 if flag else 0
            longest = max(longest, run)
        if longest >= sustained:
            reasons.append(f"load generator saturated: {what} above {unit} for {longest} samples")
    return reasons
