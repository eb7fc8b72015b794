"""Buyer operations: placing an order (keys reserved atomically), "I have paid", lookups,
support tickets."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, insert, select, update

from fakalab.reference_shop import db, store
from fakalab.reference_shop.messages import stage_message
from fakalab.reference_shop.payments import create_payment
from fakalab.reference_shop.states import OrderState
from fakalab.reference_shop.upstream import UpstreamError

if TYPE_CHECKING:
    from fakalab.reference_shop.shop import Shop

__all__ = ["OrderRefused", "buyer_paid", "file_ticket", "lookup", "place_order"]

S = OrderState


class OrderRefused(Exception):
    """The order cannot be placed; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def password_hash(email: str, password: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), email.lower().encode(), 2000).hex()


def new_order_no() -> str:
    return time.strftime("%y%m%d") + secrets.token_hex(5).upper()


async def place_order(shop: Shop, product_id: str, quantity: int, email: str,
                      query_password: str | None, persona: str | None) -> dict[str, Any]:
    """Reserve the keys and create the payment; returns what the buyer needs to pay."""
    now = time.time()
    order_no, token = new_order_no(), secrets.token_urlsafe(24)
    async with shop.db.write() as conn:
        found = (await conn.execute(
            select(db.products).where(db.products.c.id == product_id))).mappings().first()
        if found is None:
            raise OrderRefused(404, f"unknown product {product_id!r}")
        product = dict(found)
        try:
            await store.reserve_keys(conn, product, order_no, quantity)
        except store.OutOfStock:
            raise OrderRefused(409, f"out of stock: fewer than {quantity} keys left") from None
        order = {
            "order_no": order_no, "product_id": product_id, "quantity": quantity,
            "amount_cents": product["price_cents"] * quantity, "priority": product["priority"],
            "kind": product["kind"], "email": email, "token_hash": _sha(token),
            "query_password_hash": password_hash(email, query_password) if query_password
            else None, "persona": persona, "state": S.PENDING_PAYMENT.value,
            "created_at": now, "expires_at": now + shop.settings.order_ttl_s, "updated_at": now,
            "channel": None, "payment_id": None, "pay_url": None, "paid_at": None,
            "delivered_at": None,
        }
        await conn.execute(insert(db.orders).values(**order))
        event = await store.append_event(
            conn, order_no, at=now, state=S.PENDING_PAYMENT.value,
            message=stage_message(S.PENDING_PAYMENT),
            eta_at=None, visible=True)
    view = shop.view_from_row(order, [event])
    shop.views.put(view)
    shop._count(None, S.PENDING_PAYMENT.value)
    amount = view.amount
    try:
        channel, payment_id, pay_url = await create_payment(shop, order_no, amount)
    except UpstreamError as exc:
        await _abandon(shop, order_no)
        raise OrderRefused(503, f"payment channels unavailable: {exc.reason}") from None
    async with shop.db.write() as conn:
        await conn.execute(update(db.orders).where(db.orders.c.order_no == order_no)
                           .values(channel=channel, payment_id=payment_id, pay_url=pay_url))
    view.channel, view.pay_url = channel, pay_url
    view.changed()
    return {"order_no": order_no, "token": token, "amount": amount, "pay_url": pay_url,
            "channel": channel, "expires_at": order["expires_at"],
            "state": S.PENDING_PAYMENT.value}


async def _abandon(shop: Shop, order_no: str) -> None:
    """No channel could create the payment: expire the order at once, keys back in stock."""
    now = time.time()
    async with shop.db.write() as conn:
        order = await store.load_order(conn, order_no, lock=True)
        product = dict((await conn.execute(
            select(db.products).where(db.products.c.id == order["product_id"]))).mappings().one())
        await store.release_keys(conn, order_no, product, order["quantity"])
        event = await shop.record(conn, order, S.EXPIRED, now,
                                  last_error="no payment channel available")
    await shop.committed(order, event, S.PENDING_PAYMENT.value)


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def buyer_paid(shop: Shop, order_no: str) -> None:
    """The buyer says "I have paid": starts the reconciliation clock for this order."""
    async with shop.db.write() as conn:
        await conn.execute(update(db.orders).where(and_(
            db.orders.c.order_no == order_no, db.orders.c.buyer_paid_at.is_(None)))
            .values(buyer_paid_at=time.time()))


async def lookup(shop: Shop, email: str, password: str) -> list[dict[str, Any]]:
    """The buyer's last five orders, if the query password matches."""
    digest = password_hash(email, password)
    async with shop.db.read() as conn:
        rows = await conn.execute(
            select(db.orders.c.order_no, db.orders.c.state, db.orders.c.created_at,
                   db.orders.c.query_password_hash)
            .where(db.orders.c.email == email).order_by(db.orders.c.created_at.desc()).limit(5))
        found = [r for r in rows if r[3] and secrets.compare_digest(r[3], digest)]
    return [{"order_no": r[0], "state": r[1], "created_at": r[2]} for r in found]


async def file_ticket(shop: Shop, order_no: str | None, reason: str, message: str,
                      waited_s: float | None) -> int:
    async with shop.db.write() as conn:
        result = await conn.execute(insert(db.tickets).values(
            order_no=order_no, at=time.time(), reason=reason, message=message,
            waited_s=waited_s))
    shop.metrics.tickets.labels(reason).inc()
    pk = result.inserted_primary_key
    return int(pk[0]) if pk else 0
