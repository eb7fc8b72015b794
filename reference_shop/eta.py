"""Delivery ETA from queue position, recent stage throughput and upstream latency (pure)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sized
from dataclasses import dataclass, field

from fakalab.contract.rates import recent_rate
from fakalab.reference_shop.queue import WorkQueue
from fakalab.reference_shop.states import OrderState
from fakalab.reference_shop.statuspage import ComponentHealth, ComponentState

__all__ = ["STAGES", "Ewma", "Promises", "StageClock", "Throughput", "estimate_eta"]

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


@dataclass
class Throughput:
    """Orders leaving the pipeline per second, over a sliding window."""

    window_s: float = 10.0
    done: deque[float] = field(default_factory=deque)

    def record(self, now: float) -> None:
        self.done.append(now)
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self.done and self.done[0] < now - self.window_s:
            self.done.popleft()

    def rate(self, now: float) -> float | None:
        """Completions per second over the window — over the part of it since the oldest
        completion still in it when that is shorter (at least 1 s): a burst after a quiet spell
        is measured at its own pace, not diluted by the quiet. None before there is any."""
        self._trim(now)
        if not self.done:
            return None
        return recent_rate(len(self.done), self.done[0], now, self.window_s)


def estimate_eta(
    now: float,
    state: OrderState,
    *,
    queue_ahead: int,
    workers: int,
    clock: StageClock,
    upstream_penalty_s: float = 0.0,
    throughput_per_s: float | None = None,
    overtaking_per_s: float = 0.0,
) -> float | None:
    """Epoch seconds at which the order should be delivered, or None outside the pipeline.

    The pipeline's capacity is ``workers`` per mean per-order service time, or the recent
    measured throughput when that is lower (a promise should not assume the pipeline is faster
    than it has just been). Orders ahead drain at that capacity less the rate of orders of
    higher priority classes arriving meanwhile (``overtaking_per_s``: they will be served
    first); then the order's own remaining stages run. ``upstream_penalty_s`` adds the current
    excess latency of degraded upstreams.
    """
    remaining = _REMAINING.get(state)
    if remaining is None:
        return None
    per_order = clock.per_order() + upstream_penalty_s
    waiting = 0.0
    if state is S.PAID and queue_ahead:
        capacity = max(workers, 1) / per_order if per_order > 0 else float("inf")
        if throughput_per_s:
            capacity = min(capacity, throughput_per_s)
        # Higher classes can starve this one; never promise less than 5% of capacity.
        drain = max(capacity - overtaking_per_s, 0.05 * capacity)
        waiting = queue_ahead / drain
    own = sum(clock.mean(s) for s in remaining) + upstream_penalty_s
    return now + waiting + own


@dataclass
class Promises:
    """The ETA a buyer is promised: :func:`estimate_eta` over the live queue, stage times,
    throughput and the latency of degraded upstreams — never less than ``floor_s`` ahead, in
    whole seconds (a promise to a person)."""

    queue: WorkQueue
    clock: StageClock
    throughput: Throughput
    health: Mapping[str, ComponentHealth]
    workers: int
    floor_s: float
    penalised: tuple[str, ...] = ("risk", "supplier-a")  # upstreams whose slowness delays all
    active: Sized | None = None  # the orders the workers hold now (None: not known)

    def saturated(self) -> bool:
        """Every worker busy and paid orders waiting: the pace the pipeline delivers at now is
        its capacity. Otherwise that pace is only the demand — with a worker free, an order
        queued for a moment is served at once."""
        if not len(self.queue):
            return False
        return self.active is None or len(self.active) >= self.workers

    def eta_for(self, order_no: str, state: OrderState, now: float, priority: int = 1
                ) -> float | None:
        ahead = self.queue.position(order_no)
        if ahead is None:  # about to be queued (the transition to paid comes first)
            ahead = self.queue.ahead_of_new(priority) if state is S.PAID else 0
        eta = estimate_eta(now, state, queue_ahead=ahead, workers=self.workers,
                           clock=self.clock, upstream_penalty_s=self.upstream_penalty(now),
                           throughput_per_s=self.throughput.rate(now),
                           overtaking_per_s=self.queue.overtaking_rate(priority, now))
        if eta is None:
            return None
        return float(math.ceil(max(eta, now + self.floor_s)))

    def upstream_penalty(self, now: float) -> float:
        worst = 0.0
        for name in self.penalised:
            health = self.health.get(name)
            if health is not None and health.state(now) is not ComponentState.OPERATIONAL:
                worst = max(worst, health.mean_latency_ms(now) / 1000)
        return worst
