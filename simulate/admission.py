"""The shop's admission control before payment, as ``reference_shop/admission.py`` decides it
(pure; the simulator may not import the shop, so the rule is mirrored here and tested against
it in ``tests/simulate/test_admission.py``).

A new order is refused when the part of its predicted delivery time it would spend waiting
for a worker exceeds ``budget_s`` (``admission_budget()``: by default a tenth of the SLA, at
most 1 s):

- the **backlog** ahead of it: the paid orders queued for a worker, plus the orders let in
  within the paying window (three times the smoothed time buyers take to pay, in [1 s, 5 s];
  at most the orders still waiting for payment) times the share of decided orders that paid
  (a prior of one paid order);
- the **capacity**: workers per mean per-order time (each stage's EWMA, α = 0.2, prior 50 ms,
  plus the latency of a degraded risk service or supplier A), or the throughput of the last
  10 s when that is lower — counted only while the pipeline is saturated (every worker busy
  and orders queued, or orders queued and the shop's CPU at ≥ 0.9 of a core);
- the wait is ⌈backlog⌉ / capacity. A refusal tells the buyer to come back after the time the
  backlog needs to drain to the budget plus the time the buyers refused before (told to come
  back later than now) will take at that capacity: ``Retry-After`` in whole seconds, 1–60.

The measurements are the shop's: the model tells the door, as they are planned, when each stage
ends, when each order leaves the pipeline and when each admitted order is paid or expires;
the door counts an event once its moment has passed (``Door.check`` at that moment). The
event-loop lag refusal (``admission_max_lag_s``) is not modelled: the model has no event loop.
"""

from __future__ import annotations

import bisect
import heapq
import math
from array import array
from collections import deque
from collections.abc import Mapping

from fakalab.contract.rates import recent_rate

__all__ = ["CPU_BOUND", "MAX_RETRY_AFTER_S", "PAYING_S", "Door", "Health", "Log"]

MAX_RETRY_AFTER_S = 60
PAYING_S = 5.0
CPU_BOUND = 0.9
PRIOR_S = 0.05  # reference_shop.eta.StageClock's prior
ALPHA = 0.2  # its EWMA
WINDOW_S = 10.0  # the throughput's and a component health's window
Log = tuple["array[float]", "array[float]", "array[int]"]  # simulate.calls: ends, latency, failed


class Health:
    """An upstream's mean latency over the last 10 s of attempts when it is degraded
    (``statuspage.ComponentHealth``: at least 3 attempts, 5% failed or 20% slower than
    ``slow_s``), from the calls' log, read as attempts end."""

    def __init__(self, log: Log, slow_s: float) -> None:
        self.log, self.slow_s = log, slow_s
        self.read = 0
        self.ahead: list[tuple[float, float, int]] = []  # logged, not yet ended (heap)
        self.window: deque[tuple[float, float, int]] = deque()
        self.sums = [0.0, 0, 0]  # latency, failed, slow

    def penalty(self, now: float) -> float:
        ends, latency, failed = self.log
        while self.read < len(ends):
            k = self.read
            heapq.heappush(self.ahead, (ends[k], latency[k], failed[k]))
            self.read += 1
        while self.ahead and self.ahead[0][0] <= now:
            entry = heapq.heappop(self.ahead)
            self.window.append(entry)
            self._count(entry, 1)
        while self.window and self.window[0][0] < now - WINDOW_S:
            self._count(self.window.popleft(), -1)
        count = len(self.window)
        if count < 3:
            return 0.0
        if self.sums[1] / count >= 0.05 or self.sums[2] / count >= 0.2:
            return float(self.sums[0]) / count
        return 0.0

    def _count(self, entry: tuple[float, float, int], sign: int) -> None:
        self.sums[0] += sign * entry[1]
        self.sums[1] += sign * (1 if entry[2] else 0)
        self.sums[2] += sign * (1 if entry[1] > self.slow_s else 0)


class Door:
    """``Admission.check`` over the model's live measurements."""

    def __init__(self, budget_s: float, workers: int, stages: int,
                 health: Mapping[str, Health] | None = None) -> None:
        self.budget_s, self.workers = budget_s, workers
        self.means = [PRIOR_S] * stages
        self.health = dict(health or {})
        self.time_to_pay_s = 1.0
        self.paid = self.expired = self.pending = 0
        self._events: list[tuple[float, int, int, float]] = []  # (at, kind, seq, value) heap
        self._seq = 0
        self._left: deque[float] = deque()
        self._admitted: deque[float] = deque()
        self._returning: list[float] = []

    # What the model tells the door as it plans (counted once their moment has passed).
    def stage_ends(self, at: float, stage: int, took: float) -> None:
        self._push(at, stage, took)

    def leaves(self, at: float) -> None:
        self._push(at, -1, 0.0)  # an order left the pipeline (delivered or parked)

    def admitted(self, now: float, paid_at: float | None, expires_at: float | None) -> None:
        """An order let in at ``now``, paid at ``paid_at`` (else expiring at ``expires_at``)."""
        self._admitted.append(now)
        self.pending += 1
        if paid_at is not None:
            self._push(paid_at, -2, paid_at - now)
        elif expires_at is not None:
            self._push(expires_at, -3, 0.0)

    def _push(self, at: float, kind: int, value: float) -> None:
        if at == at:  # not NaN
            heapq.heappush(self._events, (at, kind, self._seq, value))
            self._seq += 1

    def _advance(self, now: float) -> None:
        events = self._events
        while events and events[0][0] <= now:
            at, kind, _, value = heapq.heappop(events)
            if kind >= 0:
                self.means[kind] += ALPHA * (max(value, 0.0) - self.means[kind])
            elif kind == -1:
                self._left.append(at)
            elif kind == -2:
                self.paid += 1
                self.pending -= 1
                self.time_to_pay_s += 0.1 * (max(value, 0.0) - self.time_to_pay_s)
            else:
                self.expired += 1
                self.pending -= 1
        while self._left and self._left[0] < now - WINDOW_S:
            self._left.popleft()

    # The shop's rule.
    def per_order(self, now: float) -> float:
        return sum(self.means) + self.penalty(now)

    def penalty(self, now: float) -> float:
        return max((h.penalty(now) for h in self.health.values()), default=0.0)

    def throughput(self, now: float) -> float | None:
        if not self._left:
            return None
        return recent_rate(len(self._left), self._left[0], now, WINDOW_S)

    def backlog(self, now: float, queued: int) -> float:
        recent = self._admitted
        while recent and recent[0] < now - PAYING_S:
            recent.popleft()
        window = min(max(3 * self.time_to_pay_s, 1.0), PAYING_S)
        young = len(recent) - bisect.bisect_left(recent, now - window)
        conversion = (self.paid + 1) / (self.paid + self.expired + 1)
        return queued + min(young, max(self.pending, 0)) * conversion

    def wait(self, now: float, queued: int, busy: int, cpu_share: float = 0.0
             ) -> tuple[float, float]:
        """(the wait for a worker an order placed now is predicted, the capacity assumed)."""
        self._advance(now)
        saturated = queued > 0 and (busy >= self.workers or cpu_share >= CPU_BOUND)
        throughput = self.throughput(now) if saturated else None
        per_order = self.per_order(now)
        capacity = max(self.workers, 1) / per_order if per_order > 0 else math.inf
        if throughput:
            capacity = min(capacity, throughput)
        ahead = math.ceil(self.backlog(now, queued))
        # as the shop computes it — an ETA in epoch seconds less now and the order's own
        # stages — so that a drain of exactly 1 s rounds up as the shop's does
        eta = now + (ahead / capacity if ahead else 0.0) + per_order
        return max(eta - now - per_order, 0.0), capacity

    def check(self, now: float, queued: int, busy: int, cpu_share: float = 0.0) -> int | None:
        """None to admit the order, else the Retry-After (seconds) of the refusal."""
        wait, capacity = self.wait(now, queued, busy, cpu_share)
        if wait <= self.budget_s:
            return None
        heap = self._returning
        while heap and heap[0] <= now:
            heapq.heappop(heap)
        drain = wait - self.budget_s if math.isfinite(capacity) else 1.0
        ahead = len(heap) / capacity if capacity > 0 and math.isfinite(capacity) else 0.0
        retry = min(MAX_RETRY_AFTER_S, max(1, math.ceil(drain + ahead)))
        heapq.heappush(heap, now + retry)
        return retry
