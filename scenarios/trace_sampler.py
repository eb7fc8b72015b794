"""Which buyer journeys are traced (pure): a share of them, and at most so many a second.

The buyers start every order's trace (docs/tracing.md), so their decision is the drill's: the
shop and the upstreams follow the sampled flag of the `traceparent` they are given. Tracing a
journey costs the shop and the upstreams CPU (about a third of a millisecond an order on the
development machine, `bench/bench_tracing.py`): below the shop's capacity that is invisible,
at its capacity it is orders a second. So the sampler takes

- a **share** (`shop.trace_sample`): each journey is sampled with that probability, and
- a **rate** (`shop.trace_rate`, 0 for none): at most that many sampled journeys a second across
  the drill — a token bucket per generator process holding one second's worth of its share of
  the rate, so a burst of arrivals is traced up to the bucket and then at the rate.

Below the rate every journey of the share is traced (every built-in scenario but the flash
sale's peak); above it, the cost of tracing stays bounded whatever the load.

    sampler = TraceSampler(share=1.0, rate_per_s=100, processes=2)
    sampled = sampler.sample(time.monotonic(), rng)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["TraceSampler"]


@dataclass
class TraceSampler:
    share: float = 1.0
    rate_per_s: float = 0.0  # across every generator process; 0: no cap
    processes: int = 1
    sampled: int = 0
    capped: int = 0  # journeys the share chose and the rate left unsampled
    _tokens: float = field(default=-1.0, repr=False)
    _at: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"trace share {self.share} is not within [0, 1]")
        if self.rate_per_s < 0:
            raise ValueError(f"trace rate {self.rate_per_s}/s is negative")
        self.processes = max(1, self.processes)

    @property
    def per_process(self) -> float:
        """This process's part of the rate (journeys a second)."""
        return self.rate_per_s / self.processes

    def sample(self, now: float, rng: random.Random) -> bool:
        """Whether the journey starting at `now` (a monotonic clock, seconds) is traced."""
        if not rng.random() < self.share:
            return False
        if self.rate_per_s > 0:
            burst = max(1.0, self.per_process)
            if self._tokens < 0:  # the first journey: a full bucket
                self._tokens, self._at = burst, now
            self._tokens = min(burst, self._tokens + (now - self._at) * self.per_process)
            self._at = now
            if self._tokens < 1.0:
                self.capped += 1
                return False
            self._tokens -= 1.0
        self.sampled += 1
        return True
