"""Load shapes: the target order arrival rate (orders/s) as a pure function of time.

A shape is a pydantic model with a `kind`; `rate(t)` is the target rate `t` seconds into the run
and `peak()` an upper bound of it (the arrival generator thins a Poisson process at that rate).
No Locust here: the shapes are shared by the load generator, the simulator and the tests.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fakalab.chaos.plan import Duration

__all__ = ["CompressedDay", "DoubleWave", "Ramp", "Shape", "Spike", "Steady", "Step"]

Rate = Annotated[float, Field(ge=0.0)]

# Relative order rate of each hour of a shop's day (00:00 … 23:00): low at night, peaks at lunch
# and in the evening.
_DAY_PROFILE = (0.15, 0.1, 0.08, 0.06, 0.06, 0.08, 0.15, 0.3, 0.45, 0.55, 0.6, 0.7,
                0.85, 0.75, 0.6, 0.55, 0.6, 0.7, 0.8, 0.9, 1.0, 0.95, 0.7, 0.35)


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def rate(self, t: float) -> float:
        raise NotImplementedError

    def peak(self) -> float:
        raise NotImplementedError


class Steady(_Shape):
    """A constant rate."""

    kind: Literal["steady"] = "steady"
    rate_per_s: Rate

    def rate(self, t: float) -> float:
        return self.rate_per_s

    def peak(self) -> float:
        return self.rate_per_s


class Ramp(_Shape):
    """From `start_rate` to `end_rate` linearly over `over`, then hold `end_rate`."""

    kind: Literal["ramp"] = "ramp"
    start_rate: Rate = 0.0
    end_rate: Rate
    over: Duration

    def rate(self, t: float) -> float:
        if self.over <= 0 or t >= self.over:
            return self.end_rate
        return self.start_rate + (self.end_rate - self.start_rate) * max(t, 0.0) / self.over

    def peak(self) -> float:
        return max(self.start_rate, self.end_rate)


class Step(_Shape):
    """`rates[i]` during the i-th interval of length `every`; the last rate holds."""

    kind: Literal["step"] = "step"
    rates: Annotated[list[Rate], Field(min_length=1)]
    every: Duration

    @model_validator(mode="after")
    def _positive(self) -> Step:
        if self.every <= 0:
            raise ValueError("every must be above 0")
        return self

    def rate(self, t: float) -> float:
        index = min(max(int(t // self.every), 0), len(self.rates) - 1)
        return self.rates[index]

    def peak(self) -> float:
        return max(self.rates)


class Spike(_Shape):
    """A flash sale: `base`, rising linearly to `peak_rate` from `at` over `rise`, holding `hold`,
    falling back over `fall`."""

    kind: Literal["spike"] = "spike"
    base: Rate
    peak_rate: Rate
    at: Duration
    rise: Duration = 5.0
    hold: Duration = 30.0
    fall: Duration = 10.0

    def rate(self, t: float) -> float:
        top, start = self.peak_rate, self.at
        if t < start:
            return self.base
        if t < start + self.rise:
            return self.base + (top - self.base) * (t - start) / self.rise
        if t < start + self.rise + self.hold:
            return top
        done = t - start - self.rise - self.hold
        if done < self.fall:
            return top + (self.base - top) * done / self.fall
        return self.base

    def peak(self) -> float:
        return max(self.base, self.peak_rate)


class DoubleWave(_Shape):
    """Two waves per `period`: base + (peak − base)·sin²(2πt/period)."""

    kind: Literal["double_wave"] = "double_wave"
    base: Rate
    peak_rate: Rate
    period: Duration

    @model_validator(mode="after")
    def _positive(self) -> DoubleWave:
        if self.period <= 0:
            raise ValueError("period must be above 0")
        return self

    def rate(self, t: float) -> float:
        wave = math.sin(2 * math.pi * t / self.period) ** 2
        return self.base + (self.peak_rate - self.base) * wave

    def peak(self) -> float:
        return max(self.base, self.peak_rate)


class CompressedDay(_Shape):
    """A shop's 24 hours compressed into `day`: an hourly profile (night low, lunch and evening
    peaks) interpolated linearly, scaled so that the evening peak is `peak_rate`."""

    kind: Literal["day"] = "day"
    peak_rate: Rate
    day: Duration

    @model_validator(mode="after")
    def _positive(self) -> CompressedDay:
        if self.day <= 0:
            raise ValueError("day must be above 0")
        return self

    def rate(self, t: float) -> float:
        hours = (t % self.day) / self.day * 24.0
        hour = int(hours)
        frac = hours - hour
        low, high = _DAY_PROFILE[hour % 24], _DAY_PROFILE[(hour + 1) % 24]
        return self.peak_rate * (low + (high - low) * frac)

    def peak(self) -> float:
        return self.peak_rate


Shape = Annotated[Steady | Ramp | Step | Spike | DoubleWave | CompressedDay,
                  Field(discriminator="kind")]
