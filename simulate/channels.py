"""Payments the shop's way (``Payment.failover_rule == "shop"``): pure, one pass in time order.

What ``reference_shop`` does, step by step:

- **Creating the payment** (``payments.create_payment`` from ``ordering.place_order``): the
  channels of ``channel_chain`` in turn — A; with failover B first while A's breaker is
  refusing calls (``Breaker.refusing``: not taking the half-open trial) or A's mean latency over the
  last ``health_window_s`` (``statuspage.ComponentHealth``, every attempt's latency, failures
  included) is above ``slow_ms`` (``slow_upstream_ms``) or A has announced an outage that B
  has not (``simulate.announcements``, heard only with ``provider_signals``). Each channel is one
  ``Upstream.call`` with retries, backoff and its breaker (``simulate.calls``). When no channel
  creates it the order is abandoned (``_abandon``): never paid. The buyer pays after the answer,
  so the time the call took is added to the pay time.
- **Callback**: the channel's callback arrives ``callback_delay`` after the buyer paid, unless
  it is dropped (``Channel.drop_prob`` and the channel's ``Fault`` windows at the moment the
  buyer pays, where the channel decides, ``upstreams/payment.py``); the channel never re-sends
  a dropped callback. A callback that reaches a shop that is down (``Cpu.outages``) fails, and
  the channel tries again after 1, 2, 4, 8 and 16 s (``callback_retries_s``).
- **Reconciliation** (``payments.reconcile_due``): rounds every ``reconcile_interval_s`` ask the
  channel about orders whose buyer said "I have paid" at least ``reconcile_after_s`` ago; one
  loop runs the rounds, so the queries due together go out together (their failures reach the
  breaker in a burst) and the rounds' phase is one per run, drawn per replication (the loop
  starts with the shop, before the load); the query is an ``Upstream.call`` to the channel (its
  faults and breaker); a failed query is asked again at the first round once
  ``max(2, reconcile_after_s)`` has passed.

Creation calls and queries of one channel share its breaker and health, so they are worked out
together, in time order.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fakalab.simulate.announcements import Announced
from fakalab.simulate.calls import OK, Calls
from fakalab.simulate.faults import FaultSchedule
from fakalab.simulate.params import Payment, Upstream, UpstreamFault
from fakalab.simulate.streams import Streams

__all__ = ["ShopPayments", "in_outage", "settle_shop_payments"]

FloatArray = npt.NDArray[np.float64]
CALLBACK, PROVIDER_RETRY, RECONCILIATION = 0, 1, 2
_CREATE, _QUERY = 0, 1
_ROUND_EPS = 1e-6  # seconds: a moment this close before a round is on it


@dataclass(frozen=True)
class ShopPayments:
    paid: npt.NDArray[np.bool_]
    paid_click_at: FloatArray
    paid_at: FloatArray
    channel: npt.NDArray[np.int64]
    confirmed_by: npt.NDArray[np.int64]
    created: npt.NDArray[np.bool_]  # a channel created the payment (else the order expired)


def in_outage(t: float, outages: Sequence[tuple[float, float]]) -> float | None:
    """The end of the outage ``t`` falls in, or None."""
    for start, end in outages:
        if start <= t < end:
            return end
    return None


def _callback_at(
    sent: float, outages: Sequence[tuple[float, float]], retries: Sequence[float]
) -> tuple[float, bool]:
    """When a callback first sent at ``sent`` reaches a running shop: (time, re-sent?)."""
    t, resent = sent, False
    schedule = iter(retries)
    while in_outage(t, outages) is not None:
        step = next(schedule, None)
        if step is None:
            return math.inf, resent
        t, resent = t + step, True
    return t, resent


def settle_shop_payments(
    payment: Payment,
    created_at: FloatArray,
    streams: Streams,
    faults: FaultSchedule,
    upstreams: Sequence[Upstream],
    upstream_faults: Sequence[UpstreamFault],
    outages: Sequence[tuple[float, float]] = (),
    horizon_s: float = math.inf,
    announced: Announced | None = None,
) -> ShopPayments:
    n = len(created_at)
    names = [c.name for c in payment.channels]
    calls = Calls(
        [u for u in upstreams if u.name in names],
        [f for f in upstream_faults if f.target in names],
        {name: streams[f"payment_calls:{name}"] for name in names},
        track_health=names,
    )
    pays = streams["pay_decision"].random(n) < payment.pay_prob
    pay_time = payment.pay_time.sample(streams["pay_time"], n)
    phase = float(streams["reconcile_phase"].random())  # one loop: one phase for the run
    base = {c.name: c.callback_delay.sample(streams[f"callback_delay:{c.name}"], n)
            for c in payment.channels}
    drop_u = {c.name: streams[f"callback_drop:{c.name}"].random(n) for c in payment.channels}
    extra = payment.reconcile_latency.sample(streams["reconcile_latency"], n)

    channel = np.zeros(n, dtype=np.int64)
    made = np.zeros(n, dtype=bool)
    click = np.full(n, np.nan)
    paid_at = np.full(n, np.nan)
    confirmed_by = np.full(n, -1, dtype=np.int64)
    interval = payment.reconcile_interval_s
    requery = max(2.0, payment.reconcile_after_s)

    def next_round(t: float) -> float:
        """The first round at or after ``t`` (a round a hair earlier counts: the shop's rounds
        come a little later than ``interval`` apart, so ``t`` on a round is that round)."""
        if interval <= 0:
            return t
        return (math.ceil(t / interval - phase - _ROUND_EPS) + phase) * interval

    events: list[tuple[float, int, int]] = []  # (time, kind, order): queries as they fall due
    order = np.argsort(created_at, kind="stable")
    k = 0
    while k < len(order) or events:
        if events and (k >= len(order) or events[0][0] < created_at[order[k]]):
            t, _, i = heapq.heappop(events)
            if t > horizon_s or paid_at[i] <= t:  # confirmed meanwhile (NaN compares False)
                continue
            name = names[channel[i]]
            end, result = calls.call(name, t, "query")
            if result == OK:
                if not paid_at[i] <= end + extra[i]:
                    paid_at[i], confirmed_by[i] = end + extra[i], RECONCILIATION
            else:
                heapq.heappush(events, (next_round(t + requery), _QUERY, i))
            continue
        i = int(order[k])
        k += 1
        t = float(created_at[i])
        for c in _chain(payment, calls, t, announced):
            end, result = calls.call(names[c], t, "create")
            if result == OK:
                channel[i], made[i] = c, True
                break
            t = end
        if not made[i] or not pays[i]:
            continue
        click[i] = end + pay_time[i]
        name = names[channel[i]]
        option = payment.channels[channel[i]]
        factor, added, drop_prob = faults.at(name, click[i], option.drop_prob)
        if drop_u[name][i] >= drop_prob:
            sent = click[i] + base[name][i] * factor + added
            arrived, resent = _callback_at(sent, outages, payment.callback_retries_s)
            if math.isfinite(arrived):
                paid_at[i] = arrived
                confirmed_by[i] = PROVIDER_RETRY if resent else CALLBACK
        if payment.reconciliation:
            due = next_round(click[i] + payment.reconcile_after_s)
            if math.isnan(paid_at[i]) or due < paid_at[i]:
                heapq.heappush(events, (due, _QUERY, i))
    paid = made & pays
    return ShopPayments(paid, click, paid_at, channel, confirmed_by, made)


def _chain(payment: Payment, calls: Calls, t: float,
           announced: Announced | None = None) -> list[int]:
    """``payments.channel_chain``: indices of the channels to try, in order."""
    if not payment.failover or len(payment.channels) < 2:
        return [0]
    a, b = payment.channels[0].name, payment.channels[1].name
    if calls.breakers[a].refusing(t) or (
        calls.mean_latency_s(a, t, payment.health_window_s) * 1000 > payment.slow_ms
    ) or (announced is not None and announced.steers_away(a, b, t)):
        return [1, 0]
    return [0, 1]
