"""Business-level fault switches of the upstream services: validated models, merging, dice (pure).

A drill PATCHes a partial object onto the current switches; ``merge`` validates the result and
raises ``FaultError`` naming the first bad field (``callback_delay.mean_s``), so the admin route can
answer 400 with something a person can act on.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "CallbackDelay",
    "FaultError",
    "FaultSwitch",
    "Faults",
    "NotifierFaults",
    "PaymentFaults",
    "RiskFaults",
    "SupplierFaults",
    "hits",
    "merge",
    "sample_delay",
    "validate",
]

Pct = Annotated[float, Field(ge=0, le=100)]
Millis = Annotated[float, Field(ge=0, le=600_000)]
Seconds = Annotated[float, Field(ge=0, le=3600)]


class Faults(BaseModel):
    """Base of every fault model: immutable, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CallbackDelay(Faults):
    """Time from payment to the first callback attempt."""

    dist: Literal["fixed", "uniform", "exponential", "lognormal"] = "fixed"
    mean_s: Seconds = 0.05
    spread_s: Seconds = 0.0


class PaymentFaults(Faults):
    callback_delay: CallbackDelay = CallbackDelay()
    callback_drop_pct: Pct = 0.0
    duplicate_pct: Pct = 0.0
    wrong_amount_pct: Pct = 0.0
    query_latency_ms: Millis = 0.0
    error_pct: Pct = 0.0
    latency_ms: Millis = 0.0
    retry_scale: Annotated[float, Field(ge=0, le=1000)] = 1.0


class SupplierFaults(Faults):
    out_of_stock_pct: Pct = 0.0
    error_pct: Pct = 0.0
    latency_ms: Millis = 0.0


class RiskFaults(Faults):
    false_positive_pct: Pct = 0.0
    latency_ms: Millis = 0.0
    error_pct: Pct = 0.0


class NotifierFaults(Faults):
    failure_pct: Pct = 0.0
    latency_ms: Millis = 0.0


F = TypeVar("F", bound=Faults)


class FaultError(ValueError):
    """A rejected fault update; ``field`` is the dotted path of the first bad value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def validate(model: type[F], data: Any) -> F:
    """``model`` built from ``data``; a ``FaultError`` naming the field when it is invalid."""
    if not isinstance(data, Mapping):
        raise FaultError("body", "expected a JSON object of fault switches")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise FaultError(field, first["msg"]) from None


def merge(current: F, patch: Any) -> F:
    """``current`` with the partial mapping ``patch`` applied (nested objects merged), validated."""
    if not isinstance(patch, Mapping):
        raise FaultError("body", "expected a JSON object of fault switches")
    return validate(type(current), _deep_merge(current.model_dump(), patch))


class FaultSwitch(Generic[F]):
    """The current switches of one service (mutable holder around immutable models)."""

    def __init__(self, initial: F) -> None:
        self._default = type(initial)()
        self.current: F = initial

    def patch(self, patch: Any) -> F:
        self.current = merge(self.current, patch)
        return self.current

    def reset(self) -> F:
        self.current = self._default
        return self.current


def hits(rng: random.Random, pct: float) -> bool:
    """True with probability ``pct`` percent (never at 0, always at 100)."""
    return pct > 0 and rng.random() * 100 < pct


def sample_delay(delay: CallbackDelay, rng: random.Random) -> float:
    """One draw, in seconds (never negative), of the callback delay distribution.

    ``uniform`` spans mean ± spread; ``exponential`` has the given mean; ``lognormal`` has the
    given mean and standard deviation ``spread_s``.
    """
    mean, spread = delay.mean_s, delay.spread_s
    if delay.dist == "fixed" or mean == 0:
        return mean
    if delay.dist == "uniform":
        return max(0.0, rng.uniform(mean - spread, mean + spread))
    if delay.dist == "exponential":
        return rng.expovariate(1.0 / mean)
    sigma2 = math.log1p((spread / mean) ** 2)
    return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))
