"""The shop acting on its delay-risk score, in the model (pure; ``reference_shop/delay_risk.py``).

With ``delay_risk: act`` the shop scores an order from its live state (``contract.delay_risk``
FEATURES) and acts on the score. Two of its actions change when orders are delivered, and the
model takes both, at the shop's scoring points and from the model's own live state:

- **paid**: an order whose risk is at least ``act_at`` is served first within its lane
  (``urgent``; ``simulate.lanes.HeapQueue``, as ``reference_shop/queue.py``);
- **allocating**: supplier B goes first when the order's risk through A is at least
  ``act_at`` and lower through B (``DelayRisk.prefer`` in ``fulfilment.supplier_chain``;
  ``Calls.chain``'s ``prefer``), unless the breaker or an announcement already chose.

The third, a warning before payment, changes no delay: no buyer persona reads it, they pay
anyway. Steering between payment channels is not followed: the channel is chosen when the
payment is created, before the model's workers run, so the channel features are 0 here (the
shipped model gives them no weight; ``scenario_model`` says so for a model that does).

The live state, feature by feature: the SLA left since the buyer paid (the earlier of the
shop's confirmation and the buyer's word); the wait, as the shop's ETA would put it — orders
ahead at the pipeline's pace (workers over the recent pass time, or the recent throughput when
lower) plus the order's own remaining time (recent passes: from the start of allocation to
delivery at ``allocating``); the queue's depth and trend (``QueueTrend``); deliveries per
second over the last 10 s; busy workers; and each upstream's mean latency, error rate and
breaker over the shop's health window (``Calls.health``).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Sequence

from fakalab.contract.delay_risk import FEATURES, Linear, QueueTrend
from fakalab.contract.rates import recent_rate
from fakalab.simulate.calls import Calls
from fakalab.simulate.params import RiskActing

__all__ = ["ActingRisk"]

ALPHA = 0.2  # the shop's StageClock EWMA
THROUGHPUT_WINDOW_S = 10.0  # reference_shop/eta.py Throughput
Chain = tuple[str, ...]
_NO_CHANNEL = (0.0, 0.0, 0.0)


class ActingRisk:
    """The scoring and the two delay-changing actions, for one run."""

    def __init__(
        self,
        params: RiskActing,
        *,
        sla_s: float,
        workers: int,
        calls: Calls,
        priority: Sequence[int],
        supplier: Sequence[bool],
        paid_clock: list[float],
        suppliers: Chain = ("supplier-a", "supplier-b"),
    ) -> None:
        self.linear = Linear(FEATURES, params.means, params.scales, params.coefs,
                             params.intercept)
        self.act_at, self.window_s = params.act_at, params.health_window_s
        self.sla_s, self.workers, self.calls = sla_s, workers, calls
        self.priority, self.supplier, self.paid_clock = priority, supplier, paid_clock
        self.suppliers = suppliers
        # the pool's live state, wired in by it
        self.depth: Callable[[], int] = lambda: 0
        self.busy: Callable[[], int] = lambda: 0
        self.trend = QueueTrend()
        self._planned: list[float] = []  # deliveries worked out, not yet happened (a heap)
        self._recent: deque[float] = deque()  # deliveries of the last THROUGHPUT_WINDOW_S
        self.pass_s: float | None = None  # recent pass time: taken by a worker → delivered
        self.rest_s: float | None = None  # recent time from the start of allocation
        self.paid_on_queue = False  # with admission control: paid when queued
        self.urgent: set[int] = set()
        self.steered = 0

    # -- live state ---------------------------------------------------------------------------
    def throughput(self, now: float) -> float:
        planned, recent = self._planned, self._recent
        while planned and planned[0] <= now:
            recent.append(heapq.heappop(planned))
        while recent and recent[0] < now - THROUGHPUT_WINDOW_S:
            recent.popleft()
        return recent_rate(len(recent), recent[0] if recent else None, now,
                           THROUGHPUT_WINDOW_S)

    def delivered(self, taken_at: float, allocation_at: float, delivered_at: float) -> None:
        """A pass worked out to deliver at ``delivered_at``."""
        heapq.heappush(self._planned, delivered_at)
        whole, rest = delivered_at - taken_at, delivered_at - allocation_at
        self.pass_s = whole if self.pass_s is None else self.pass_s + ALPHA * (
            whole - self.pass_s)
        self.rest_s = rest if self.rest_s is None else self.rest_s + ALPHA * (rest - self.rest_s)

    def _wait(self, stage: str, ahead: int, throughput: float) -> float:
        per_order = self.pass_s or 0.0
        if stage == "paid":
            waiting = 0.0
            if ahead and per_order > 0:
                capacity = self.workers / per_order
                if throughput:
                    capacity = min(capacity, throughput)
                waiting = ahead / capacity
            return waiting + per_order
        return self.rest_s or 0.0

    def features(self, i: int, stage: str, now: float, supplier: str | None,
                 ahead: int = 0) -> list[float]:
        sla_left = self.sla_s - (now - self.paid_clock[i])
        throughput = self.throughput(now)
        wait = self._wait(stage, ahead, throughput)
        depth = self.depth()
        upstream = self.calls.health
        chosen = upstream(supplier, now, self.window_s) if supplier else _NO_CHANNEL
        return [sla_left, wait, wait / max(sla_left, 1.0), float(depth),
                self.trend.trend(now, depth), throughput, self.busy() / max(self.workers, 1),
                1.0, float(self.priority[i]), 1.0 if self.supplier[i] else 0.0,
                *_NO_CHANNEL, *chosen, *upstream("risk", now, self.window_s)]

    def risk(self, i: int, stage: str, now: float, supplier: str | None,
             ahead: int = 0) -> float:
        return self.linear.probability(self.features(i, stage, now, supplier, ahead))

    # -- actions ------------------------------------------------------------------------------
    def paid(self, i: int, now: float, ahead: int) -> bool:
        """The paid scoring point: is order ``i`` served first within its lane?"""
        if self.paid_on_queue:
            self.paid_clock[i] = now
        supplier = self.calls.failover_order(self.suppliers, now)[0] if self.supplier[i] \
            else None
        if self.risk(i, "paid", now, supplier, ahead) >= self.act_at:
            self.urgent.add(i)
            return True
        return False

    def prefer(self, i: int) -> Callable[[Chain, float], Chain]:
        """``DelayRisk.prefer`` for order ``i``'s supplier chain at the start of allocation."""

        def choose(chain: Chain, t: float) -> Chain:
            first, second = (self.risk(i, "allocating", t, name) for name in chain[:2])
            if first < self.act_at or second >= first:
                return chain
            self.steered += 1
            return (chain[1], chain[0], *chain[2:])

        return choose
