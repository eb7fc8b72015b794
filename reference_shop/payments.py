"""Payments: creating a payment at a channel, the signed callback, active reconciliation, expiry.

:func:`apply_payment` is the one place a payment is applied, whether it came by callback or by
querying the provider: signature (constant time), trade number, channel, payment id and exact
amount are checked; it runs under the order's row lock and is idempotent; every attempt is
recorded. The caller answers ``success`` only when it returns an accepting outcome.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, insert, or_, select, update

from fakalab.reference_shop import db, signing, store
from fakalab.reference_shop.fulfilment import enqueue
from fakalab.reference_shop.states import OrderState
from fakalab.reference_shop.upstream import Upstream, UpstreamError, call_with_failover

if TYPE_CHECKING:
    from fakalab.reference_shop.shop import Shop

__all__ = ["ACCEPTING", "apply_payment", "create_payment", "expiry_loop", "reconcile_loop"]

log = logging.getLogger("fakalab.payments")
S = OrderState
# Outcomes after which the provider must stop retrying.
ACCEPTING = frozenset({"accepted", "duplicate", "late_accepted", "late_refund", "not_paid"})
CHANNELS = ("payment-a", "payment-b")


def channel_chain(shop: Shop) -> list[Upstream]:
    """Channel A first; with failover, B as backup — and first while A's breaker is open or
    A is slow."""
    a, b = shop.upstreams["payment-a"], shop.upstreams["payment-b"]
    if not shop.settings.failover:
        return [a]
    now = time.time()
    if not a.breaker.allow(now) or a.health.mean_latency_ms(now) > shop.settings.slow_upstream_ms:
        return [b, a]
    return [a, b]


async def create_payment(shop: Shop, order_no: str, amount: str) -> tuple[str, str, str]:
    """Create the payment at a channel; returns (channel, payment_id, pay_url)."""
    last: UpstreamError | None = None
    for upstream in channel_chain(shop):
        body = {"trade_no": order_no, "amount": amount,
                "notify_url": f"{shop.settings.callback_base()}/api/payments/callback/"
                              f"{upstream.name}"}
        try:
            _, response = await call_with_failover([upstream], "POST", "/api/payments", body,
                                                   accept=(200, 201))
            data = response.json()
            return upstream.name, str(data["payment_id"]), str(data["pay_url"])
        except (UpstreamError, ValueError, KeyError) as exc:
            last = exc if isinstance(exc, UpstreamError) else UpstreamError(
                upstream.name, f"bad answer: {exc}")
    assert last is not None
    raise last


async def _attempt(conn: Any, source: str, channel: str, fields: dict[str, Any], outcome: str,
                   detail: str = "") -> None:
    """Record one attempt. Every stored value is cut to its column's size: the channel comes
    from the URL path, which no body limit bounds, and forged attempts are recorded too."""
    await conn.execute(insert(db.callback_attempts).values(
        at=time.time(), source=source, channel=channel[:32],
        trade_no=str(fields.get("trade_no"))[:64],
        payment_id=str(fields.get("payment_id"))[:64], amount=str(fields.get("amount"))[:32],
        outcome=outcome, detail=detail[:500]))


async def apply_payment(shop: Shop, channel: str, fields: dict[str, Any], source: str) -> str:
    """Apply a signed payment notice; returns the outcome recorded."""
    secret = shop.settings.payment_secrets.get(channel)
    outcome, detail, event, order, previous = "accepted", "", None, None, None
    async with shop.db.write() as conn:
        if secret is None or not signing.verify(fields, secret):
            outcome = "bad_signature" if secret else "unknown_channel"
        elif fields.get("status") != "paid":
            outcome = "not_paid"
        else:
            try:
                order = await store.load_order(conn, str(fields.get("trade_no")), lock=True)
            except store.UnknownOrder:
                outcome = "unknown_order"
        if order is not None and outcome == "accepted":
            previous = order["state"]
            outcome, detail, event = await _apply_to_order(shop, conn, order, channel, fields)
        await _attempt(conn, source, channel, fields, outcome, detail)
    shop.metrics.callbacks.labels(source, outcome).inc()
    if event is not None and order is not None:
        await shop.committed(order, event, previous)
        if event.state == S.PAID:
            enqueue(shop, order["order_no"], order["priority"])
    return outcome


async def _apply_to_order(shop: Shop, conn: Any, order: dict[str, Any], channel: str,
                          fields: dict[str, Any]) -> tuple[str, str, store.EventRow | None]:
    expected = f"{order['amount_cents'] // 100}.{order['amount_cents'] % 100:02d}"
    if order["channel"] != channel:
        return "wrong_channel", f"order paid via {order['channel']}", None
    if order["payment_id"] and str(fields.get("payment_id")) != order["payment_id"]:
        return "wrong_payment_id", "", None
    if str(fields.get("amount")) != expected:
        return "amount_mismatch", f"got {fields.get('amount')}, expected {expected}", None
    now = time.time()
    state = S(order["state"])
    if state is S.PENDING_PAYMENT:
        return "accepted", "", await shop.record(conn, order, S.PAID, now, paid_at=now)
    if state is not S.EXPIRED:
        return "duplicate", f"order already {state.value}", None
    return await _late_payment(shop, conn, order, now)


async def _late_payment(shop: Shop, conn: Any, order: dict[str, Any], now: float
                        ) -> tuple[str, str, store.EventRow | None]:
    """A callback after expiry: accepted inside the window if stock allows, else needs_refund."""
    product = dict((await conn.execute(
        select(db.products).where(db.products.c.id == order["product_id"]))).mappings().one())
    if now - order["expires_at"] <= shop.settings.late_window_s:
        try:
            # reserve_keys takes nothing unless it can take everything.
            await store.reserve_keys(conn, product, order["order_no"], order["quantity"])
            event = await shop.record(conn, order, S.PAID, now, paid_at=now)
            return "late_accepted", "", event
        except store.OutOfStock:
            reason = "out of stock"
    else:
        reason = "outside the late-payment window"
    event = await shop.record(conn, order, S.NEEDS_REFUND, now, paid_at=now, last_error=reason)
    return "late_refund", reason, event


async def expiry_loop(shop: Shop) -> None:
    while True:
        await asyncio.sleep(1.0)
        try:
            await expire_due(shop, time.time())
        except Exception:
            log.exception("expiry sweep failed")


async def expire_due(shop: Shop, now: float) -> int:
    """Expire unpaid orders past their time and give their keys back."""
    async with shop.db.read() as conn:
        due = [r[0] for r in await conn.execute(
            select(db.orders.c.order_no).where(and_(
                db.orders.c.state == S.PENDING_PAYMENT, db.orders.c.expires_at < now)).limit(500))]
    for order_no in due:
        async with shop.db.write() as conn:
            order = await store.load_order(conn, order_no, lock=True)
            if order["state"] != S.PENDING_PAYMENT:
                continue
            product = dict((await conn.execute(
                select(db.products).where(db.products.c.id == order["product_id"])
            )).mappings().one())
            await store.release_keys(conn, order_no, product, order["quantity"])
            event = await shop.record(conn, order, S.EXPIRED, now)
        await shop.committed(order, event, S.PENDING_PAYMENT.value)
    return len(due)


async def reconcile_loop(shop: Shop) -> None:
    limit = asyncio.Semaphore(10)  # queries in flight at once, across rounds
    while True:
        await asyncio.sleep(shop.settings.reconcile_interval_s)
        if not shop.settings.reconciliation:
            continue
        try:
            await reconcile_due(shop, time.time(), limit)
        except Exception:
            log.exception("reconciliation failed")


async def reconcile_due(shop: Shop, now: float, limit: asyncio.Semaphore) -> int:
    """Query the provider about orders whose callback is overdue. The queries run as side
    tasks: a channel that answers slowly must not hold up the next round (an order is queried
    again only after ``max(2 s, reconcile_after_paid_s)``, so rounds never query it twice)."""
    s = shop.settings
    o = db.orders.c
    said_paid = and_(o.buyer_paid_at.is_not(None),
                     o.buyer_paid_at < now - s.reconcile_after_paid_s)
    overdue = or_(said_paid, o.created_at < now - s.reconcile_after_created_s)
    waiting = or_(o.state == S.PENDING_PAYMENT,
                  and_(o.state == S.EXPIRED, o.buyer_paid_at.is_not(None),
                       o.expires_at > now - s.late_window_s))
    not_recent = or_(o.last_query_at.is_(None),
                     o.last_query_at < now - max(2.0, s.reconcile_after_paid_s))
    async with shop.db.read() as conn:
        rows = (await conn.execute(select(o.order_no, o.channel).where(
            and_(waiting, overdue, not_recent, o.channel.is_not(None))).limit(200))).all()
    if not rows:
        return 0
    async with shop.db.write() as conn:
        await conn.execute(update(db.orders).where(o.order_no.in_([r[0] for r in rows]))
                           .values(last_query_at=now))

    async def query(order_no: str, channel: str) -> None:
        async with limit:
            try:
                response = await shop.upstreams[channel].call("GET", f"/api/payments/{order_no}")
            except UpstreamError:
                return
            if response.status_code != 200:
                return
            try:
                await apply_payment(shop, channel, response.json(), "query")
            except Exception:  # a side task: log here, or nobody would hear of it
                log.exception("reconciliation of %s failed", order_no)

    for order_no, channel in rows:
        shop.spawn(query(order_no, channel))
    return len(rows)
