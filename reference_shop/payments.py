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

from fakalab.contract.shop_settings import ShopSettings
from fakalab.reference_shop import signing
from fakalab.reference_shop.epay_channel import CHANNEL as EPAY
from fakalab.reference_shop.epay_channel import EpayChannel
from fakalab.reference_shop.interfaces import (
    Clock,
    Connection,
    Enqueue,
    Recorder,
    Spawn,
    Storage,
    UpstreamClient,
)
from fakalab.reference_shop.metrics import ShopMetrics
from fakalab.reference_shop.states import OrderState
from fakalab.reference_shop.storage import callbacks, orders, stock
from fakalab.reference_shop.storage.rows import Moved, OrderRow
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
                 clock: Clock = time.time, epay: EpayChannel | None = None) -> None:
        self.db = db
        self.recorder = recorder
        self.channels = channels
        self.settings = settings
        self.metrics = metrics
        self.enqueue = enqueue
        self.spawn = spawn
        self.clock = clock
        self.epay = epay  # the 易支付 gateway, when settings.epay_url names one
        self._queries = asyncio.Semaphore(10)  # reconciliation queries in flight, all rounds

    def loops(self) -> list[Coroutine[Any, Any, None]]:
        """Expiry and reconciliation, to run as tasks."""
        return [self.expiry_loop(), self.reconcile_loop()]

    # -- creating a payment ----------------------------------------------------------------
    def channel_chain(self) -> list[UpstreamClient]:
        """Channel A first; with failover, B as backup — and first while A's breaker is open
        or A is slow."""
        a, b = self.channels["payment-a"], self.channels["payment-b"]
        if not self.settings.failover:
            return [a]
        now = time.time()
        slow = a.health.mean_latency_ms(now) > self.settings.slow_upstream_ms
        if not a.breaker.allow(now) or slow:
            return [b, a]
        return [a, b]

    async def create_payment(self, order_no: str, amount: str) -> tuple[str, str, str]:
        """Create the payment at a channel; returns (channel, payment_id, pay_url)."""
        if self.epay is not None and self.settings.payment_channel == EPAY:
            return await self.epay.create(order_no, amount)
        last: UpstreamError | None = None
        for upstream in self.channel_chain():
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
        outcome, notice = self._verified(channel, fields, source)
        detail, moved, order = "", None, None
        async with self.db.write() as conn:
            if outcome == "accepted":
                try:
                    order = await orders.load(conn, str(notice.get("trade_no")), lock=True)
                except orders.UnknownOrder:
                    outcome = "unknown_order"
            if order is not None and outcome == "accepted":
                outcome, detail, moved = await self._apply_to_order(conn, order, channel, notice)
            await callbacks.record_attempt(conn, at=self.clock(), source=source,
                                           channel=channel, fields=notice or fields,
                                           outcome=outcome, detail=detail)
        self.metrics.callbacks.labels(source, outcome).inc()
        if moved is not None:
            await self.recorder.publish(moved)
            if moved.event.state == S.PAID:
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

    async def _apply_to_order(self, conn: Connection, order: OrderRow, channel: str,
                              fields: dict[str, Any]) -> Applied:
        expected = order.amount
        if order.channel != channel:
            return "wrong_channel", f"order paid via {order.channel}", None
        if order.payment_id and str(fields.get("payment_id")) != order.payment_id:
            return "wrong_payment_id", "", None
        if str(fields.get("amount")) != expected:
            return "amount_mismatch", f"got {fields.get('amount')}, expected {expected}", None
        now = self.clock()
        state = S(order.state)
        if state is S.PENDING_PAYMENT:
            return "accepted", "", await self.recorder.move(conn, order, S.PAID, now,
                                                            paid_at=now)
        if state is not S.EXPIRED:
            return "duplicate", f"order already {state.value}", None
        return await self._late_payment(conn, order, now)

    async def _late_payment(self, conn: Connection, order: OrderRow, now: float) -> Applied:
        """A callback after expiry: accepted inside the window if stock allows, else
        needs_refund."""
        if now - order.expires_at <= self.settings.late_window_s:
            try:
                # reserve takes nothing unless it can take everything.
                await stock.reserve(conn, order.product_id, order.kind, order.order_no,
                                    order.quantity)
                moved = await self.recorder.move(conn, order, S.PAID, now, paid_at=now)
                return "late_accepted", "", moved
            except stock.OutOfStock:
                reason = "out of stock"
        else:
            reason = "outside the late-payment window"
        moved = await self.recorder.move(conn, order, S.NEEDS_REFUND, now, paid_at=now,
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
        """Expire unpaid orders past their time and give their keys back."""
        async with self.db.read() as conn:
            due = await orders.due_to_expire(conn, now)
        for order_no in due:
            async with self.db.write() as conn:
                order = await orders.load(conn, order_no, lock=True)
                if order.state != S.PENDING_PAYMENT:
                    continue
                await stock.release(conn, order_no, order.product_id, order.kind,
                                    order.quantity)
                moved = await self.recorder.move(conn, order, S.EXPIRED, now)
            await self.recorder.publish(moved)
        return len(due)

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
        async with self.db.read() as conn:
            rows = await orders.awaiting_payment_news(
                conn, said_paid_before=now - s.reconcile_after_paid_s,
                created_before=now - s.reconcile_after_created_s,
                expired_after=now - s.late_window_s,
                not_queried_since=now - max(2.0, s.reconcile_after_paid_s))
        if not rows:
            return 0
        async with self.db.write() as conn:
            await orders.mark_queried(conn, [order_no for order_no, _ in rows], now)
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
