"""Payments: creating a payment at a channel, the signed callback, active reconciliation, expiry.

:meth:`Payments.apply_payment` is the one place a payment is applied, whether it came by
callback or by querying the provider: signature (constant time), trade number, channel, payment
id and exact amount are checked; it runs under the order's row lock and is idempotent; every
attempt is recorded. The caller answers ``success`` only when it returns an accepting outcome.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Mapping
from typing import Any

from opentelemetry import trace

from fakalab.contract.shop_settings import ShopSettings
from fakalab.contract.traces import ORDER_NO
from fakalab.reference_shop import signing
from fakalab.reference_shop.delay_risk import DelayRisk, Subject
from fakalab.reference_shop.epay_channel import CHANNEL as EPAY
from fakalab.reference_shop.epay_channel import EpayChannel
from fakalab.reference_shop.interfaces import (
    Clock,
    Enqueue,
    Recorder,
    Spawn,
    Storage,
    UpstreamClient,
)
from fakalab.reference_shop.metrics import ShopMetrics
from fakalab.reference_shop.provider_signals import ProviderSignals
from fakalab.reference_shop.states import OrderState
from fakalab.reference_shop.storage import callbacks, orders, stock
from fakalab.reference_shop.storage.rows import Moved, OrderRow
from fakalab.reference_shop.storage.writer import Cursor
from fakalab.reference_shop.upstream import UpstreamError, call_with_failover

__all__ = ["ACCEPTING", "CHANNELS", "Payments"]

log = logging.getLogger("fakalab.payments")
S = OrderState
# Outcomes after which the provider must stop retrying.
ACCEPTING = frozenset({"accepted", "duplicate", "late_accepted", "late_refund", "not_paid"})
CHANNELS = ("payment-a", "payment-b")
Applied = tuple[str, str, Moved | None]  # outcome, detail, the transition it made


class Payments:
    def __init__(self, db: Storage, recorder: Recorder, channels: Mapping[str, UpstreamClient],
                 settings: ShopSettings, metrics: ShopMetrics, enqueue: Enqueue, spawn: Spawn,
                 clock: Clock = time.time, epay: EpayChannel | None = None,
                 signals: ProviderSignals | None = None, risk: DelayRisk | None = None
                 ) -> None:
        self.db = db
        self.recorder = recorder
        self.channels = channels
        self.settings = settings
        self.metrics = metrics
        self.enqueue = enqueue
        self.spawn = spawn
        self.clock = clock
        self.epay = epay  # the 易支付 gateway, when settings.epay_url names one
        self.signals = signals or ProviderSignals()  # providers' own announcements
        self.risk = risk  # the delay-risk model (None: off)
        self._queries = asyncio.Semaphore(10)  # reconciliation queries in flight, all rounds

    def loops(self) -> list[Coroutine[Any, Any, None]]:
        """Expiry and reconciliation, to run as tasks."""
        return [self.expiry_loop(), self.reconcile_loop()]

    # -- creating a payment ----------------------------------------------------------------
    def channel_chain(self) -> list[UpstreamClient]:
        """Channel A first; with failover, B as backup — and first while A's breaker is open,
        A is slow, or A has announced a partial or major outage (and B has not)."""
        a, b = self.channels["payment-a"], self.channels["payment-b"]
        if not self.settings.failover:
            return [a]
        now = time.time()
        slow = a.health.mean_latency_ms(now) > self.settings.slow_upstream_ms
        announced = self.signals.degraded(a.name) and not self.signals.degraded(b.name)
        if a.breaker.refusing(now) or slow or announced:
            return [b, a]
        return [a, b]

    async def create_payment(self, order_no: str, amount: str, subject: Subject | None = None
                             ) -> tuple[str, str, str]:
        """Create the payment at a channel; returns (channel, payment_id, pay_url). With the
        delay-risk model acting, ``subject``'s risk through each channel may reorder them."""
        if self.epay is not None and self.settings.payment_channel == EPAY:
            return await self.epay.create(order_no, amount)
        last: UpstreamError | None = None
        chain = self.channel_chain()
        if self.risk is not None and subject is not None:
            chain = self.risk.prefer(chain, subject, "created", "channel")
        for upstream in chain:
            body = {"trade_no": order_no, "amount": amount,
                    "notify_url": f"{self.settings.callback_base()}/api/payments/callback/"
                                  f"{upstream.name}"}
            try:
                _, response = await call_with_failover([upstream], "POST", "/api/payments",
                                                       body, accept=(200, 201))
                data = response.json()
                return upstream.name, str(data["payment_id"]), str(data["pay_url"])
            except (UpstreamError, ValueError, KeyError) as exc:
                last = exc if isinstance(exc, UpstreamError) else UpstreamError(
                    upstream.name, f"bad answer: {exc}")
        assert last is not None
        raise last

    # -- applying one ----------------------------------------------------------------------
    async def apply_payment(self, channel: str, fields: dict[str, Any], source: str) -> str:
        """Apply a signed payment notice; returns the outcome recorded."""
        checked, notice = self._verified(channel, fields, source)  # not on the writer
        now = self.clock()
        trade_no = str(notice.get("trade_no"))
        trace.get_current_span().set_attribute(ORDER_NO, trade_no)  # a no-op when untraced
        eta = self.recorder.eta_of(trade_no, S.PAID, now) if notice else None

        def apply(c: Cursor) -> Applied:
            outcome, detail, moved = checked, "", None
            if outcome == "accepted":
                order = orders.load(c, trade_no)
                if order is None:
                    outcome = "unknown_order"
                else:
                    outcome, detail, moved = self._apply_to_order(c, order, channel, notice,
                                                                  now, eta)
            callbacks.record_attempt(c, at=now, source=source, channel=channel,
                                     fields=notice or fields, outcome=outcome, detail=detail)
            return outcome, detail, moved

        outcome, _, moved = await self.db.run(apply)
        self.metrics.callbacks.labels(source, outcome).inc()
        if moved is not None:
            await self.recorder.publish(moved)
            if moved.event.state == S.PAID:
                if self.risk is not None:
                    self.risk.paid(Subject.of(moved.order), now)
                self.enqueue(moved.order.order_no, moved.order.priority)
        return outcome

    def _verified(self, channel: str, fields: dict[str, Any], source: str
                  ) -> tuple[str, dict[str, Any]]:
        """("accepted", the notice) when `fields` are a genuine payment notice of `channel`,
        else (why not, {}): a channel's HMAC-signed JSON, or the epay gateway's fields."""
        if channel == EPAY:
            return self.epay.check(fields, source) if self.epay else ("unknown_channel", {})
        secret = self.settings.payment_secrets.get(channel)
        if secret is None or not signing.verify(fields, secret):
            return ("bad_signature" if secret else "unknown_channel"), {}
        if fields.get("status") != "paid":
            return "not_paid", {}
        return "accepted", fields

    def _apply_to_order(self, c: Cursor, order: OrderRow, channel: str,
                        fields: dict[str, Any], now: float, eta: float | None) -> Applied:
        expected = order.amount
        if order.channel != channel:
            return "wrong_channel", f"order paid via {order.channel}", None
        if order.payment_id and str(fields.get("payment_id")) != order.payment_id:
            return "wrong_payment_id", "", None
        if str(fields.get("amount")) != expected:
            return "amount_mismatch", f"got {fields.get('amount')}, expected {expected}", None
        state = S(order.state)
        if state is S.PENDING_PAYMENT:
            return "accepted", "", self.recorder.move(c, order, S.PAID, now, eta_at=eta,
                                                      paid_at=now)
        if state is not S.EXPIRED:
            return "duplicate", f"order already {state.value}", None
        return self._late_payment(c, order, now, eta)

    def _late_payment(self, c: Cursor, order: OrderRow, now: float, eta: float | None
                      ) -> Applied:
        """A callback after expiry: accepted inside the window if stock allows, else
        needs_refund."""
        if now - order.expires_at <= self.settings.late_window_s:
            # reserve takes nothing unless it can take everything
            if stock.reserve(c, order.product_id, order.kind, order.order_no, order.quantity):
                moved = self.recorder.move(c, order, S.PAID, now, eta_at=eta, paid_at=now)
                return "late_accepted", "", moved
            reason = "out of stock"
        else:
            reason = "outside the late-payment window"
        moved = self.recorder.move(c, order, S.NEEDS_REFUND, now, paid_at=now,
                                   last_error=reason)
        return "late_refund", reason, moved

    # -- expiry ----------------------------------------------------------------------------
    async def expiry_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.expire_due(self.clock())
            except Exception:
                log.exception("expiry sweep failed")

    async def expire_due(self, now: float) -> int:
        """Expire unpaid orders past their time and give their keys back (one unit)."""

        def expire(c: Cursor) -> list[Moved]:
            moved = []
            for order_no in orders.due_to_expire(c, now):
                order = orders.load(c, order_no)
                if order is None or order.state != S.PENDING_PAYMENT:
                    continue
                stock.release(c, order_no, order.product_id, order.kind, order.quantity)
                moved.append(self.recorder.move(c, order, S.EXPIRED, now))
            return moved

        expired = await self.db.run(expire)
        for moved in expired:
            await self.recorder.publish(moved)
        return len(expired)

    # -- reconciliation --------------------------------------------------------------------
    async def reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reconcile_interval_s)
            if not self.settings.reconciliation:
                continue
            try:
                await self.reconcile_due(self.clock())
            except Exception:
                log.exception("reconciliation failed")

    async def reconcile_due(self, now: float) -> int:
        """Query the provider about orders whose callback is overdue. The queries run as side
        tasks: a channel that answers slowly must not hold up the next round (an order is
        queried again only after ``max(2 s, reconcile_after_paid_s)``, so rounds never query
        it twice)."""
        s = self.settings

        def due(c: Cursor) -> list[tuple[str, str]]:
            rows = orders.awaiting_payment_news(
                c, said_paid_before=now - s.reconcile_after_paid_s,
                created_before=now - s.reconcile_after_created_s,
                expired_after=now - s.late_window_s,
                not_queried_since=now - max(2.0, s.reconcile_after_paid_s))
            orders.mark_queried(c, [order_no for order_no, _ in rows], now)
            return rows

        rows = await self.db.run(due)
        if not rows:
            return 0
        for order_no, channel in rows:
            self.spawn(self._query(order_no, channel))
        return len(rows)

    async def _query(self, order_no: str, channel: str) -> None:
        async with self._queries:
            if channel == EPAY:
                await self._query_epay(order_no)
                return
            try:
                response = await self.channels[channel].call("GET", f"/api/payments/{order_no}")
            except UpstreamError:
                return
            if response.status_code != 200:
                return
            try:
                await self.apply_payment(channel, response.json(), "query")
            except Exception:  # a side task: log here, or nobody would hear of it
                log.exception("reconciliation of %s failed", order_no)

    async def _query_epay(self, order_no: str) -> None:
        answer = await self.epay.query(order_no) if self.epay else None
        if answer is None:
            return
        try:
            await self.apply_payment(EPAY, answer, "query")
        except Exception:  # a side task: log here, or nobody would hear of it
            log.exception("reconciliation of %s failed", order_no)
