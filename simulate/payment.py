"""The payment wait, from order creation to the shop confirming payment (vectorised).

Nothing here competes for a shared resource, so every order's payment is computed at once:
buyer pay time, channel choice (failover away from a faulted primary), callback delay and drop
(changed by the channel's faults), the provider's re-sent callback and active reconciliation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fakalab.simulate.faults import FaultSchedule
from fakalab.simulate.params import Payment
from fakalab.simulate.streams import Streams

__all__ = ["CONFIRMED_BY", "Payments", "choose_channels", "settle_payments"]

FloatArray = npt.NDArray[np.float64]
CONFIRMED_BY = ("callback", "provider_retry", "reconciliation")


@dataclass(frozen=True)
class Payments:
    """Per order: whether the buyer paid, when they said so, when the shop confirmed it (NaN:
    never), the channel index and what confirmed it (index into ``CONFIRMED_BY``, −1: none)."""

    paid: npt.NDArray[np.bool_]
    paid_click_at: FloatArray
    paid_at: FloatArray
    channel: npt.NDArray[np.int64]
    confirmed_by: npt.NDArray[np.int64]


def choose_channels(
    payment: Payment, created_at: FloatArray, faults: FaultSchedule
) -> npt.NDArray[np.int64]:
    """Each order's channel: the first channel without a detected fault (the primary when all
    are faulted or failover is off)."""
    channel = np.zeros(len(created_at), dtype=np.int64)
    if not payment.failover:
        return channel
    undecided = np.ones(len(created_at), dtype=bool)
    for k, option in enumerate(payment.channels):
        healthy = ~faults.active_mask(option.name, created_at, payment.failover_detect_s)
        channel[undecided & healthy] = k
        undecided &= ~healthy
    return channel


def _callbacks(
    payment: Payment,
    click: FloatArray,
    channel: npt.NDArray[np.int64],
    streams: Streams,
    faults: FaultSchedule,
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Callback delays and drops; every channel draws for every order (common random numbers)."""
    n = len(click)
    delay, dropped = np.zeros(n), np.zeros(n, dtype=bool)
    for k, option in enumerate(payment.channels):
        base = option.callback_delay.sample(streams[f"callback_delay:{option.name}"], n)
        uniform = streams[f"callback_drop:{option.name}"].random(n)
        latency, drop_prob = faults.apply(option.name, click, base, option.drop_prob)
        mine = channel == k
        delay[mine], dropped[mine] = latency[mine], (uniform < drop_prob)[mine]
    return delay, dropped


def settle_payments(
    payment: Payment, created_at: FloatArray, streams: Streams, faults: FaultSchedule
) -> Payments:
    n = len(created_at)
    paid = streams["pay_decision"].random(n) < payment.pay_prob
    click = created_at + payment.pay_time.sample(streams["pay_time"], n)
    channel = choose_channels(payment, created_at, faults)
    delay, dropped = _callbacks(payment, click, channel, streams, faults)
    reconcile = payment.reconcile_after_s + payment.reconcile_latency.sample(
        streams["reconcile_latency"], n
    )
    options = np.full((3, n), np.inf)
    options[0] = np.where(dropped, np.inf, click + delay)
    if payment.provider_retry_s is not None:
        options[1] = np.where(dropped, click + delay + payment.provider_retry_s, np.inf)
    if payment.reconciliation:
        options[2] = click + reconcile
    confirmed_by = np.where(paid, options.argmin(axis=0), -1)
    paid_at = np.where(paid, options.min(axis=0), np.nan)
    unconfirmed = ~np.isfinite(paid_at)
    paid_at[unconfirmed], confirmed_by[unconfirmed] = np.nan, -1
    return Payments(paid, np.where(paid, click, np.nan), paid_at, channel, confirmed_by)
