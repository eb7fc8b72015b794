"""What a buyer sees of an order: built from the ledger, cached in memory, pushed over SSE.

A status read must be cheap (buyers refresh in a panic exactly when the shop is under stress), so
the view of each order is kept in memory, updated by the code that writes its events, and served
pre-encoded: a status read does no database query.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from fakalab.contract.stages import Transparency
from fakalab.reference_shop.messages import opaque_label
from fakalab.reference_shop.states import OrderState
from fakalab.reference_shop.storage.rows import EventRow, OrderRow

__all__ = ["OrderView", "ViewCache", "token_hash"]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class OrderView:
    order_no: str
    token_hash: str
    product_id: str
    kind: str
    quantity: int
    amount: str
    channel: str | None
    pay_url: str | None
    created_at: float
    expires_at: float
    paid_at: float | None = None
    delivered_at: float | None = None
    events: list[EventRow] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    eta_override: tuple[float, str] | None = None  # a revised ETA and its note
    priority: int = 1
    queue_ahead: int | None = None  # orders ahead in the delivery queue, while queued
    _encoded: dict[Transparency, bytes] = field(default_factory=dict)

    @classmethod
    def from_row(cls, order: OrderRow, events: list[EventRow]) -> OrderView:
        return cls(order_no=order.order_no, token_hash=order.token_hash,
                   product_id=order.product_id, kind=order.kind, quantity=order.quantity,
                   amount=order.amount, channel=order.channel, pay_url=order.pay_url,
                   created_at=order.created_at, expires_at=order.expires_at,
                   paid_at=order.paid_at, delivered_at=order.delivered_at, events=events,
                   priority=order.priority)

    @property
    def state(self) -> OrderState:
        return OrderState(self.events[-1].state)

    def token_ok(self, token: str | None) -> bool:
        if not token:
            return False
        return hmac.compare_digest(token_hash(token), self.token_hash)

    def eta_at(self) -> float | None:
        if self.eta_override is not None:
            return self.eta_override[0]
        return self.events[-1].eta_at if self.events else None

    def body(self, mode: Transparency) -> dict[str, Any]:
        if mode is Transparency.OPAQUE:
            return self._opaque()
        last = self.events[-1]
        message = last.message
        if self.queue_ahead is not None and last.state == OrderState.PAID:
            message += f" Orders ahead of yours: {self.queue_ahead}."
        if self.eta_override:
            message += f" {self.eta_override[1]}"
        return {
            "order_no": self.order_no, "state": last.state, "message": message,
            "queue_ahead": self.queue_ahead if last.state == OrderState.PAID else None,
            "eta_at": self.eta_at(), "created_at": self.created_at,
            "expires_at": self.expires_at, "paid_at": self.paid_at,
            "delivered_at": self.delivered_at, "amount": self.amount, "channel": self.channel,
            "pay_url": self.pay_url, "product_id": self.product_id, "quantity": self.quantity,
            "timeline": [{"state": e.state, "at": e.at, "message": e.message, "eta_at": e.eta_at}
                         for e in self.events],
            "keys": self.keys, "transparency": mode.value,
        }

    def _opaque(self) -> dict[str, Any]:
        label = opaque_label(self.state)
        return {
            "order_no": self.order_no, "state": label, "message": label,
            "eta_at": None, "created_at": self.created_at, "amount": self.amount,
            "pay_url": self.pay_url if label == "unpaid" else None,
            "product_id": self.product_id, "quantity": self.quantity,
            "timeline": [], "keys": self.keys, "transparency": Transparency.OPAQUE.value,
        }

    def encoded(self, mode: Transparency) -> bytes:
        """The view as JSON without its closing brace, so per-request fields can be appended."""
        cached = self._encoded.get(mode)
        if cached is None:
            cached = json.dumps(self.body(mode), ensure_ascii=False,
                                separators=(",", ":")).encode()[:-1]
            self._encoded[mode] = cached
        return cached

    def changed(self) -> None:
        self._encoded.clear()


class ViewCache:
    """A bounded LRU of order views plus the SSE subscribers of each order."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._views: OrderedDict[str, OrderView] = OrderedDict()
        self._subscribers: dict[str, set[asyncio.Queue[OrderView]]] = {}

    def get(self, order_no: str) -> OrderView | None:
        return self._views.get(order_no)

    def put(self, view: OrderView) -> None:
        self._views[view.order_no] = view
        if len(self._views) > self.capacity:
            self._views.popitem(last=False)

    def drop(self, order_no: str) -> None:
        self._views.pop(order_no, None)

    def __len__(self) -> int:
        return len(self._views)

    def publish(self, view: OrderView) -> None:
        view.changed()
        for queue in self._subscribers.get(view.order_no, ()):
            queue.put_nowait(view)

    def subscribe(self, order_no: str) -> asyncio.Queue[OrderView]:
        queue: asyncio.Queue[OrderView] = asyncio.Queue()
        self._subscribers.setdefault(order_no, set()).add(queue)
        return queue

    def unsubscribe(self, order_no: str, queue: asyncio.Queue[OrderView]) -> None:
        subs = self._subscribers.get(order_no)
        if subs is not None:
            subs.discard(queue)
            if not subs:
                del self._subscribers[order_no]

    def watched(self) -> list[str]:
        return list(self._subscribers)
