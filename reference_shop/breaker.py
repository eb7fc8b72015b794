"""A circuit breaker per upstream (pure; the clock is passed in).

closed → open after ``failure_threshold`` consecutive failures; open → half_open after
``cooldown_s``; half_open lets one trial call through: success closes, failure re-opens.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Breaker", "BreakerState"]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class Breaker:
    failure_threshold: int = 5
    cooldown_s: float = 5.0
    enabled: bool = True
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    _trial_out: bool = False

    def allow(self, now: float) -> bool:
        """May a call go out now?"""
        if not self.enabled or self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN and now - self.opened_at >= self.cooldown_s:
            self.state = BreakerState.HALF_OPEN
            self._trial_out = False
        if self.state is BreakerState.HALF_OPEN and not self._trial_out:
            self._trial_out = True
            return True
        return False

    def refusing(self, now: float) -> bool:
        """Would a call be refused now? Asks without taking the half-open trial (choosing a
        failover order must not use up the one call that could close the breaker)."""
        if not self.enabled or self.state is BreakerState.CLOSED:
            return False
        if self.state is BreakerState.OPEN:
            return now - self.opened_at < self.cooldown_s
        return self._trial_out

    def record(self, ok: bool, now: float) -> None:
        if ok:
            self.failures = 0
            self.state = BreakerState.CLOSED
            return
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.failure_threshold:
            if self.enabled:
                self.state = BreakerState.OPEN
            self.opened_at = now
            self._trial_out = False

    def code(self) -> int:
        """0 closed, 1 half-open, 2 open (for the metric)."""
        return {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}[
            self.state
        ]
