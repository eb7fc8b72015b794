"""Delivery ETA from queue position, recent stage throughput and upstream latency (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from reference_shop.states import OrderState

__all__ = ["STAGES", "Ewma", "StageClock", "estimate_eta"]

S = OrderState
# The stages a paid order still has to pass, from each in-flight state.
STAGES: tuple[OrderState, ...] = (S.RISK_CHECK, S.ALLOCATING, S.DELIVERING)
_REMAINING: dict[OrderState, tuple[OrderState, ...]] = {
    S.PAID: STAGES,
    S.RISK_CHECK: STAGES,
    S.ALLOCATING: STAGES[1:],
    S.DELIVERING: STAGES[2:],
}


@dataclass
class Ewma:
    """Exponentially weighted moving average, seeded with a prior."""

    value: float
    alpha: float = 0.2

    def update(self, sample: float) -> float:
        self.value += self.alpha * (sample - self.value)
        return self.value


@dataclass
class StageClock:
    """Recent mean duration of each stage (seconds), learned from completed stages."""

    prior_s: float = 0.05
    means: dict[OrderState, Ewma] = field(default_factory=dict)

    def observe(self, stage: OrderState, seconds: float) -> None:
        self.means.setdefault(stage, Ewma(self.prior_s)).update(max(seconds, 0.0))

    def mean(self, stage: OrderState) -> float:
        ewma = self.means.get(stage)
        return ewma.value if ewma else self.prior_s

    def per_order(self) -> float:
        return sum(self.mean(s) for s in STAGES)


def estimate_eta(
    now: float,
    state: OrderState,
    *,
    queue_ahead: int,
    workers: int,
    clock: StageClock,
    upstream_penalty_s: float = 0.0,
) -> float | None:
    """Epoch seconds at which the order should be delivered, or None outside the pipeline.

    Orders ahead in the queue drain at ``workers`` per mean per-order service time; then the
    order's own remaining stages run. ``upstream_penalty_s`` adds the current excess latency of
    degraded upstreams (their latency above normal, once per remaining call).
    """
    remaining = _REMAINING.get(state)
    if remaining is None:
        return None
    per_order = clock.per_order() + upstream_penalty_s
    waiting = queue_ahead / max(workers, 1) * per_order if state is S.PAID else 0.0
    own = sum(clock.mean(s) for s in remaining) + upstream_penalty_s
    return now + waiting + own
