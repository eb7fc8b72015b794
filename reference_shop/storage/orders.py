"""Orders: insert, load, transition (with its ledger event), and the queries the services'
loops run over them."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import Any

from fakalab.reference_shop.states import IN_FLIGHT, OrderState, check_transition
from fakalab.reference_shop.storage import events
from fakalab.reference_shop.storage.rows import (
    LookupRow,
    Moved,
    OrderRow,
    StuckRow,
    WorkItem,
    columns,
    has_nul,
)
from fakalab.reference_shop.storage.writer import Cursor

__all__ = [
    "all_orders",
    "awaiting_payment_news",
    "count_by_state",
    "due_to_expire",
    "in_flight",
    "insert_order",
    "load",
    "mark_queried",
    "needing_a_person",
    "note_buyer_paid",
    "recent_by_email",
    "set_payment",
    "stalled",
    "transition",
]

_COLS = columns(OrderRow)
_FIELDS = tuple(f.name for f in dataclasses.fields(OrderRow))
_IN_FLIGHT = tuple(s.value for s in IN_FLIGHT)
_IN_FLIGHT_SQL = "(" + ", ".join("?" for _ in _IN_FLIGHT) + ")"


# The writer's memo (Cursor.memo) holds the rows of orders still in flight, as the writer's
# own statements left them: every statement that changes an order row is in this module and
# keeps the memo true; a final state leaves it (the row is read again if ever needed).
_MEMO_CAP = 100_000


def _remember(c: Cursor, order: OrderRow) -> None:
    if len(c.memo) > _MEMO_CAP:
        c.memo.clear()
    c.memo[("order", order.order_no)] = order


def _amend(c: Cursor, order_no: str, **changes: Any) -> None:
    key = ("order", order_no)
    known = c.memo.get(key)
    if known is not None:
        c.memo[key] = dataclasses.replace(known, **changes)


def insert_order(c: Cursor, order: OrderRow) -> None:
    c.run(f"INSERT INTO orders ({_COLS}) VALUES ({', '.join('?' for _ in _FIELDS)})",
          *dataclasses.astuple(order))
    _remember(c, order)
    events.started(c, order.order_no)


def load(c: Cursor, order_no: str) -> OrderRow | None:
    """The order, or None when there is none (a unit is the writer's: no lock needed)."""
    if has_nul(order_no):
        return None
    known: OrderRow | None = c.memo.get(("order", order_no))
    if known is not None:
        return known
    found = c.one(f"SELECT {_COLS} FROM orders WHERE order_no = ?", order_no)
    if found is None:
        return None
    order = OrderRow(*found)
    if order.state in _IN_FLIGHT or order.state == OrderState.PENDING_PAYMENT.value:
        _remember(c, order)
    return order


def all_orders(c: Cursor) -> list[OrderRow]:
    """Every order, oldest first."""
    return [OrderRow(*r) for r in c.all(f"SELECT {_COLS} FROM orders ORDER BY created_at")]


def transition(c: Cursor, order: OrderRow, target: OrderState, *, at: float, message: str,
               eta_at: float | None, visible: bool, paid_at: float | None = None,
               delivered_at: float | None = None, last_error: str | None = None) -> Moved:
    """Move the order to ``target`` (checked by the state machine) and append its event;
    the optional columns are set when given."""
    check_transition(order.state, target)
    values: dict[str, Any] = {"state": target.value, "updated_at": at}
    values.update((k, v) for k, v in (("paid_at", paid_at), ("delivered_at", delivered_at),
                                      ("last_error", last_error)) if v is not None)
    assignments = ", ".join(f"{k} = ?" for k in values)
    c.run(f"UPDATE orders SET {assignments} WHERE order_no = ?", *values.values(),
          order.order_no)
    event = events.append(c, order.order_no, at=at, state=target.value, message=message,
                          eta_at=eta_at, visible=visible)
    if target.value in _IN_FLIGHT:
        _amend(c, order.order_no, **values)
    else:  # settled or waiting for a person: out of the memo
        c.memo.pop(("order", order.order_no), None)
        events.settled(c, order.order_no)
    return Moved(dataclasses.replace(order, **values), event, order.state)


def set_payment(c: Cursor, order_no: str, channel: str, payment_id: str, pay_url: str) -> None:
    c.run("UPDATE orders SET channel = ?, payment_id = ?, pay_url = ? WHERE order_no = ?",
          channel, payment_id, pay_url, order_no)
    _amend(c, order_no, channel=channel, payment_id=payment_id, pay_url=pay_url)


def note_buyer_paid(c: Cursor, order_no: str, at: float) -> None:
    """The first "I have paid" of an order (later ones change nothing)."""
    c.run("UPDATE orders SET buyer_paid_at = ? WHERE order_no = ? AND buyer_paid_at IS NULL",
          at, order_no)
    known = c.memo.get(("order", order_no))
    if known is not None and known.buyer_paid_at is None:
        _amend(c, order_no, buyer_paid_at=at)


def count_by_state(c: Cursor) -> dict[str, int]:
    return {r[0]: int(r[1]) for r in c.all("SELECT state, COUNT(*) FROM orders GROUP BY state")}


def in_flight(c: Cursor) -> list[WorkItem]:
    """Orders a worker owns, in the order they were paid."""
    return [WorkItem(r[0], r[1]) for r in c.all(
        f"SELECT order_no, priority FROM orders WHERE state IN {_IN_FLIGHT_SQL} "
        "ORDER BY paid_at", *_IN_FLIGHT)]


def stalled(c: Cursor, before: float) -> list[WorkItem]:
    """In-flight orders that have not changed since ``before``."""
    return [WorkItem(r[0], r[1]) for r in c.all(
        f"SELECT order_no, priority FROM orders WHERE state IN {_IN_FLIGHT_SQL} "
        "AND updated_at < ?", *_IN_FLIGHT, before)]


def due_to_expire(c: Cursor, now: float, limit: int = 500) -> list[str]:
    return [r[0] for r in c.all(
        "SELECT order_no FROM orders WHERE state = ? AND expires_at < ? LIMIT ?",
        OrderState.PENDING_PAYMENT.value, now, limit)]


def awaiting_payment_news(c: Cursor, *, said_paid_before: float, created_before: float,
                          expired_after: float, not_queried_since: float, limit: int = 200
                          ) -> list[tuple[str, str]]:
    """(order_no, channel) of orders whose payment callback is overdue: unpaid (or expired
    within the late window after the buyer said "I have paid"), and either said paid before
    ``said_paid_before`` or created before ``created_before``; not queried since
    ``not_queried_since``."""
    rows = c.all(
        "SELECT order_no, channel FROM orders WHERE channel IS NOT NULL "
        "AND (state = ? OR (state = ? AND buyer_paid_at IS NOT NULL AND expires_at > ?)) "
        "AND ((buyer_paid_at IS NOT NULL AND buyer_paid_at < ?) OR created_at < ?) "
        "AND (last_query_at IS NULL OR last_query_at < ?) LIMIT ?",
        OrderState.PENDING_PAYMENT.value, OrderState.EXPIRED.value, expired_after,
        said_paid_before, created_before, not_queried_since, limit)
    return [(r[0], r[1]) for r in rows]


def mark_queried(c: Cursor, order_nos: Sequence[str], at: float) -> None:
    c.many("UPDATE orders SET last_query_at = ? WHERE order_no = ?",
           [(at, n) for n in order_nos])
    for order_no in order_nos:
        _amend(c, order_no, last_query_at=at)


def recent_by_email(c: Cursor, email: str, limit: int = 5) -> list[LookupRow]:
    if has_nul(email):
        return []
    return [LookupRow(*r) for r in c.all(
        "SELECT order_no, state, created_at, query_password_hash FROM orders WHERE email = ? "
        "ORDER BY created_at DESC LIMIT ?", email, limit)]


def needing_a_person(c: Cursor, states: Collection[OrderState], stalled_before: float,
                     limit: int = 1000) -> list[StuckRow]:
    """Orders in ``states``, and in-flight orders unchanged since ``stalled_before``."""
    named = tuple(s.value for s in states)
    placeholders = "(" + ", ".join("?" for _ in named) + ")"
    return [StuckRow(*r) for r in c.all(
        f"SELECT order_no, state, paid_at, updated_at, last_error FROM orders "
        f"WHERE state IN {placeholders} OR (state IN {_IN_FLIGHT_SQL} AND updated_at < ?) "
        f"LIMIT ?", *named, *_IN_FLIGHT, stalled_before, limit)]
