"""Service-time and delay distributions as plain data, sampled in vectors."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Dist"]

Kind = Literal["const", "exp", "uniform", "lognormal", "gamma", "empirical"]


class Dist(BaseModel):
    """A non-negative distribution given by its mean (and coefficient of variation).

    ``const``: always ``mean``; ``exp``: exponential; ``uniform``: on [low, high];
    ``lognormal`` and ``gamma``: by ``mean`` and ``cv``; ``empirical``: resamples ``values``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind = "exp"
    mean: float = Field(1.0, ge=0)
    cv: float = Field(1.0, gt=0)
    low: float = Field(0.0, ge=0)
    high: float = Field(0.0, ge=0)
    values: tuple[float, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Dist:
        if self.kind == "uniform" and self.high < self.low:
            raise ValueError("uniform needs high >= low")
        if self.kind == "empirical" and not self.values:
            raise ValueError("empirical needs at least one value")
        if self.kind == "empirical" and min(self.values) < 0:
            raise ValueError("empirical values must be non-negative")
        return self

    @classmethod
    def const(cls, value: float) -> Dist:
        return cls(kind="const", mean=value)

    @classmethod
    def exp(cls, mean: float) -> Dist:
        return cls(kind="exp", mean=mean)

    @classmethod
    def lognormal(cls, mean: float, cv: float) -> Dist:
        return cls(kind="lognormal", mean=mean, cv=cv)

    @property
    def expected(self) -> float:
        if self.kind == "uniform":
            return (self.low + self.high) / 2
        if self.kind == "empirical":
            return float(np.mean(self.values))
        return self.mean

    def sample(self, rng: np.random.Generator, size: int) -> npt.NDArray[np.float64]:
        kind, mean = self.kind, self.mean
        if kind == "const" or (mean == 0 and kind != "uniform" and kind != "empirical"):
            return np.full(size, mean, dtype=np.float64)
        if kind == "exp":
            return rng.exponential(mean, size)
        if kind == "uniform":
            return rng.uniform(self.low, self.high, size)
        if kind == "lognormal":
            sigma2 = math.log1p(self.cv**2)
            return rng.lognormal(math.log(mean) - sigma2 / 2, math.sqrt(sigma2), size)
        if kind == "gamma":
            shape = 1 / self.cv**2
            return rng.gamma(shape, mean / shape, size)
        return rng.choice(np.asarray(self.values, dtype=np.float64), size)
