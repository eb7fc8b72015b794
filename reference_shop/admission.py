"""Admission control before payment (pure): refuse a new order quickly while the shop could not
deliver it within its budget, rather than accept it and let it time out.

The decision is made from live measurements, never a constant rate:

- the **predicted delivery time** of an order placed now: :func:`eta.estimate_eta` for a paid
  order behind the backlog — the paid orders queued for a worker, plus the orders placed within
  three times the time buyers take to pay (measured; at most 5 s) and not yet paid, times the
  share of placed orders that got paid so far (the orders that will join the queue before this
  one) — at the pipeline's capacity (workers
  per mean stage time, or the measured throughput when paid orders are queued and that is
  lower — whatever limits the shop, its workers, its CPU or slow upstreams), with the excess
  latency of degraded upstreams;
- the **event loop's lag**: when the shop's own loop is this late, every answer is, and more
  orders only make it later.

An order is refused when the part of that prediction it would spend waiting for a worker
exceeds the budget (by default a tenth of the SLA, at most a second: the
rest is the margin for a prediction that is wrong, and a short queue keeps the crowd of waiting
buyers — who refresh — small, which leaves the CPU to delivery) or the lag exceeds
``max_lag_s``. The
refusal says when to come back: the time the backlog needs to drain to the budget at that
capacity, plus the time the buyers refused before, who were told to come back later than now,
will take at that capacity (at least one second). Without that second term every refused buyer
of a flash sale is told the same few seconds and they all return at once — the retry storm
that turns refusals into most of the shop's work.

    admission = Admission(promises, counts, settings)
    refusal = admission.check(time.time())   # None: admit
    if refusal: answer 503 with Retry-After: refusal.retry_after_s
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import math
import time
from collections import deque
from dataclasses import dataclass

from fakalab.reference_shop.eta import Promises, estimate_eta
from fakalab.reference_shop.metrics import OrderCounts
from fakalab.reference_shop.states import OrderState

__all__ = ["Admission", "LoopLag", "Refusal", "busy_message"]

S = OrderState
PENDING, PAID, EXPIRED = S.PENDING_PAYMENT.value, S.PAID.value, S.EXPIRED.value
MAX_RETRY_AFTER_S = 60
PAYING_S = 5.0  # the longest paying window (below)
CPU_BOUND = 0.9  # of a core: the shop's CPU, not its workers, limits the pace


@dataclass(frozen=True)
class Refusal:
    reason: str  # backlog | loop_lag
    retry_after_s: int
    predicted_s: float  # predicted paid → delivered of an order placed now (backlog), or the lag

    @property
    def message(self) -> str:
        return busy_message(self.retry_after_s)


def busy_message(retry_after_s: int) -> str:
    """What the buyer is told."""
    unit = "second" if retry_after_s == 1 else "seconds"
    return f"The sale is busy: please try again in {retry_after_s} {unit}."


class LoopLag:
    """How late the event loop runs: a task sleeps `interval_s` and measures the overshoot.
    `seconds` is the median of the last `window` overshoots, so one stall (a start-up, a
    garbage collection) does not refuse orders — a loop late again and again does."""

    def __init__(self, interval_s: float = 0.05, window: int = 9) -> None:
        self.interval_s = interval_s
        self.recent: deque[float] = deque(maxlen=window)
        self.cpu_share = 0.0  # of one core, the process's, smoothed over about a second
        self._cpu_at: tuple[float, float] | None = None  # (wall, process CPU) last sampled

    def observe(self, overshoot_s: float) -> None:
        self.recent.append(max(overshoot_s, 0.0))

    def observe_cpu(self, wall_s: float, cpu_s: float) -> None:
        """A sample of the clocks: the share of a core the process used since the last one
        (an exponential average, about a second at 50 ms probes)."""
        if self._cpu_at is not None and wall_s > self._cpu_at[0]:
            share = (cpu_s - self._cpu_at[1]) / (wall_s - self._cpu_at[0])
            self.cpu_share += 0.05 * (share - self.cpu_share)
        self._cpu_at = (wall_s, cpu_s)

    @property
    def seconds(self) -> float:
        """The median over a full window (an unfilled one counts as on time)."""
        window = self.recent.maxlen or 1
        ordered = sorted([*self.recent, *[0.0] * (window - len(self.recent))])
        return ordered[window // 2]

    async def loop(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(self.interval_s)
            now = time.monotonic()
            self.observe(now - started - self.interval_s)
            self.observe_cpu(now, time.process_time())


class Admission:
    def __init__(self, promises: Promises, counts: OrderCounts, *, budget_s: float,
                 max_lag_s: float, enabled: bool = True, lag: LoopLag | None = None) -> None:
        self.promises = promises
        self.counts = counts
        self.budget_s = budget_s
        self.max_lag_s = max_lag_s
        self.enabled = enabled
        self.lag = lag or LoopLag()
        self.last_predicted_s = 0.0
        self._returning: list[float] = []  # when refused buyers were told to come back (heap)
        self._admitted: deque[float] = deque()  # when orders were let in, the last PAYING_S

    def returning(self, now: float) -> int:
        """Refused buyers told to come back later than `now`."""
        heap = self._returning
        while heap and heap[0] <= now:
            heapq.heappop(heap)
        return len(heap)

    def _refuse(self, now: float, reason: str, wait_s: float, capacity: float,
                predicted: float) -> Refusal:
        ahead = self.returning(now) / capacity if capacity > 0 and math.isfinite(capacity) \
            else 0.0
        retry = min(MAX_RETRY_AFTER_S, max(1, math.ceil(wait_s + ahead)))
        heapq.heappush(self._returning, now + retry)
        return Refusal(reason, retry, predicted)

    def conversion(self) -> float:
        """The share of placed orders that got paid, among those whose payment is decided (a
        prior of one paid order: early in a sale every waiting order is assumed to pay)."""
        paid = self.counts.flows.get((PENDING, PAID), 0)
        expired = self.counts.flows.get((PENDING, EXPIRED), 0)
        return (paid + 1) / (paid + expired + 1)

    def admitted(self, now: float) -> None:
        """An order was let through the door at `now`."""
        self._admitted.append(now)

    def paying_window_s(self) -> float:
        """How recently an unpaid order must have been placed to count as about to be paid:
        three times the smoothed time buyers take to pay, within [1 s, PAYING_S]."""
        return min(max(3 * self.counts.time_to_pay_s, 1.0), PAYING_S)

    def about_to_pay(self, now: float) -> int:
        """Orders waiting for payment that were placed within the paying window: those that
        will join the queue soon. Older ones are buyers who left or pay slowly; they are
        counted once they have paid (an abandoned cart must not hold the door shut)."""
        recent = self._admitted
        while recent and recent[0] < now - PAYING_S:
            recent.popleft()
        since = now - self.paying_window_s()
        young = len(recent) - bisect.bisect_left(recent, since)
        return min(young, max(self.counts.by_state.get(PENDING, 0), 0))

    def backlog(self, now: float) -> float:
        """Orders that will be served before an order placed now."""
        return len(self.promises.queue) + self.about_to_pay(now) * self.conversion()

    def predicted_s(self, now: float) -> tuple[float, float, float]:
        """(seconds from payment to delivery of an order placed now, the part of them it would
        wait for a worker, the capacity in orders per second that prediction assumed)."""
        p = self.promises
        backlog = self.backlog(now)
        # With every worker busy (or the process using a whole core) and paid orders waiting,
        # the pace the shop has just delivered at is its capacity, whatever limits it
        # (workers, CPU, slow upstreams); otherwise that
        # pace is only the demand let in — taking it for capacity would make refusals lower the
        # pace and the lower pace refuse more: under a 3x overload the door let in about 0.7x
        # of capacity, with workers free, because the orders about to be paid, counted at the
        # admitted pace, always looked like a wait of one time-to-pay.
        saturated = p.saturated() or (len(p.queue) > 0 and self.lag.cpu_share >= CPU_BOUND)
        throughput = p.throughput.rate(now) if saturated else None
        penalty = p.upstream_penalty(now)
        eta = estimate_eta(now, S.PAID, queue_ahead=math.ceil(backlog),
                           workers=p.workers, clock=p.clock, upstream_penalty_s=penalty,
                           throughput_per_s=throughput)
        assert eta is not None
        per_order = p.clock.per_order() + penalty
        capacity = max(p.workers, 1) / per_order if per_order > 0 else float("inf")
        if throughput:
            capacity = min(capacity, throughput)
        return eta - now, max(eta - now - per_order, 0.0), capacity

    def check(self, now: float) -> Refusal | None:
        """None to admit the order, else why not and when to come back."""
        if not self.enabled:
            return None
        lag = self.lag.seconds
        predicted, wait, capacity = self.predicted_s(now)
        self.last_predicted_s = predicted
        if lag > self.max_lag_s:
            return self._refuse(now, "loop_lag", 4 * lag, capacity, lag)
        if wait <= self.budget_s:  # an idle shop always admits, however slow its stages
            return None
        drain_s = (wait - self.budget_s) if math.isfinite(capacity) else 1.0
        return self._refuse(now, "backlog", drain_s, capacity, predicted)
