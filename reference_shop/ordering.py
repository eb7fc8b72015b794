"""Buyer operations: placing an order (keys reserved atomically), "I have paid", lookups,
support tickets."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

from opentelemetry import trace

from fakalab.contract.shop_settings import ShopSettings
from fakalab.contract.traces import ORDER_NO
from fakalab.reference_shop.delay_risk import DelayRisk, Subject
from fakalab.reference_shop.interfaces import Clock, Recorder, Storage
from fakalab.reference_shop.messages import risk_warning, stage_message
from fakalab.reference_shop.metrics import ShopMetrics
from fakalab.reference_shop.states import OrderState
from fakalab.reference_shop.storage import events, orders, products, stock, tickets
from fakalab.reference_shop.storage.rows import EventRow, Moved, OrderRow
from fakalab.reference_shop.storage.writer import Cursor
from fakalab.reference_shop.upstream import UpstreamError

__all__ = ["FoundOrder", "OrderRefused", "Ordering", "PaymentCreator", "PlacedOrder",
           "password_hash"]

S = OrderState


class OrderRefused(Exception):
    """The order cannot be placed; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class PaymentCreator(Protocol):
    """Creates the payment at a channel: (channel, payment_id, pay_url)."""

    async def create_payment(self, order_no: str, amount: str, subject: Subject | None = None
                             ) -> tuple[str, str, str]: ...


@dataclass(frozen=True)
class PlacedOrder:
    """What the buyer needs to pay (and later to see the order: the token)."""

    order_no: str
    token: str
    amount: str
    pay_url: str
    channel: str
    expires_at: float
    state: str
    delivery_risk: float | None = None  # the delay-risk model's score (with a model)
    warning: str | None = None  # said before payment when the order is at risk (act)
    eta_at: float | None = None  # the delivery expected if paid now, with the warning


@dataclass(frozen=True)
class FoundOrder:
    order_no: str
    state: str
    created_at: float


def password_hash(email: str, password: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), email.lower().encode(), 2000).hex()


def new_order_no() -> str:
    return time.strftime("%y%m%d") + secrets.token_hex(5).upper()


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class Ordering:
    def __init__(self, db: Storage, recorder: Recorder, payments: PaymentCreator,
                 settings: ShopSettings, metrics: ShopMetrics, clock: Clock = time.time,
                 risk: DelayRisk | None = None) -> None:
        self.db = db
        self.risk = risk  # the delay-risk model (None: off)
        self.recorder = recorder
        self.payments = payments
        self.settings = settings
        self.metrics = metrics
        self.clock = clock

    async def place_order(self, product_id: str, quantity: int, email: str,
                          query_password: str | None, persona: str | None) -> PlacedOrder:
        """Reserve the keys and create the payment; returns what the buyer needs to pay."""
        now = self.clock()
        order_no, token = new_order_no(), secrets.token_urlsafe(24)
        trace.get_current_span().set_attribute(ORDER_NO, order_no)  # a no-op when untraced
        hashed = password_hash(email, query_password) if query_password else None
        ttl = self.settings.order_ttl_s

        def reserve(c: Cursor) -> tuple[OrderRow, EventRow] | str:
            product = products.product(c, product_id)
            if product is None:
                return "unknown"
            if not stock.reserve(c, product.id, product.kind, order_no, quantity):
                return "out_of_stock"
            order = OrderRow(
                order_no=order_no, product_id=product_id, quantity=quantity,
                amount_cents=product.price_cents * quantity, priority=product.priority,
                kind=product.kind, email=email, query_password_hash=hashed,
                token_hash=_sha(token), persona=persona, channel=None, payment_id=None,
                pay_url=None, state=S.PENDING_PAYMENT.value, created_at=now,
                expires_at=now + ttl, buyer_paid_at=None, paid_at=None, delivered_at=None,
                last_query_at=None, updated_at=now, last_error=None)
            orders.insert_order(c, order)
            first = events.append(c, order_no, at=now, state=S.PENDING_PAYMENT.value,
                                  message=stage_message(S.PENDING_PAYMENT), eta_at=None,
                                  visible=True)
            return order, first

        placed = await self.db.run(reserve)
        if placed == "unknown":
            raise OrderRefused(404, f"unknown product {product_id!r}")
        if placed == "out_of_stock":
            raise OrderRefused(409, f"out of stock: fewer than {quantity} keys left")
        assert not isinstance(placed, str)
        order, first = placed
        view = self.recorder.opened(order, first)
        subject = Subject.of(order) if self.risk is not None else None
        try:
            channel, payment_id, pay_url = await self.payments.create_payment(
                order_no, order.amount, subject)
        except UpstreamError as exc:
            await self._abandon(order_no)
            raise OrderRefused(503, f"payment channels unavailable: {exc.reason}") from None
        await self.db.run(lambda c: orders.set_payment(c, order_no, channel, payment_id,
                                                       pay_url))
        view.channel, view.pay_url = channel, pay_url
        view.changed()
        placed_order = PlacedOrder(order_no, token, order.amount, pay_url, channel,
                                   order.expires_at, S.PENDING_PAYMENT.value)
        if self.risk is None or subject is None:
            return placed_order
        return self._with_risk(placed_order, Subject.of(order, channel))

    def _with_risk(self, placed: PlacedOrder, subject: Subject) -> PlacedOrder:
        """The creation scoring point: the score, and a warning with the honest ETA (the
        delivery expected if paid now) when the order is at risk."""
        assert self.risk is not None
        now = self.clock()
        warned = False
        eta = None
        risk = self.risk.assess("created", subject, now)
        if self.risk.warns(risk):
            eta = self.risk.promises.eta_for(subject.order_no, S.PAID, now, subject.priority)
            warned = eta is not None
        if not warned:
            return dataclasses.replace(placed, delivery_risk=risk)
        assert eta is not None
        self.risk.note(subject.order_no, "warned")
        return dataclasses.replace(placed, delivery_risk=risk, eta_at=eta,
                                   warning=risk_warning(eta - now, self.settings.sla_s))

    async def _abandon(self, order_no: str) -> None:
        """No channel could create the payment: expire the order at once, keys back in
        stock."""
        now = self.clock()

        def expire(c: Cursor) -> Moved | None:
            order = orders.load(c, order_no)
            if order is None or order.state != S.PENDING_PAYMENT:
                return None
            stock.release(c, order_no, order.product_id, order.kind, order.quantity)
            return self.recorder.move(c, order, S.EXPIRED, now,
                                      last_error="no payment channel available")

        moved = await self.db.run(expire)
        if moved is not None:
            await self.recorder.publish(moved)

    async def buyer_paid(self, order_no: str) -> None:
        """The buyer says "I have paid": starts the reconciliation clock for this order."""
        now = self.clock()
        await self.db.run(lambda c: orders.note_buyer_paid(c, order_no, now))

    async def lookup(self, email: str, password: str) -> list[FoundOrder]:
        """The buyer's last five orders, if the query password matches."""
        digest = password_hash(email, password)
        rows = await self.db.run(lambda c: orders.recent_by_email(c, email, limit=5))
        return [FoundOrder(r.order_no, r.state, r.created_at) for r in rows
                if r.query_password_hash and secrets.compare_digest(r.query_password_hash,
                                                                    digest)]

    async def file_ticket(self, order_no: str | None, reason: str, message: str,
                          waited_s: float | None) -> int:
        now = self.clock()
        ticket_id = await self.db.run(lambda c: tickets.add_ticket(
            c, order_no=order_no, at=now, reason=reason, message=message, waited_s=waited_s))
        self.metrics.tickets.labels(reason).inc()
        return ticket_id
