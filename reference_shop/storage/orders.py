"""Orders: insert, load (row-locked for a write), transition (with its ledger event), and the
queries the services' loops run over them."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fakalab.reference_shop import db
from fakalab.reference_shop.states import IN_FLIGHT, OrderState, check_transition
from fakalab.reference_shop.storage import events
from fakalab.reference_shop.storage.rows import (
    LookupRow,
    Moved,
    OrderRow,
    StuckRow,
    WorkItem,
    has_nul,
    row,
)

__all__ = [
    "UnknownOrder",
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

o = db.orders.c
_IN_FLIGHT = [s.value for s in IN_FLIGHT]


class UnknownOrder(LookupError):
    pass


async def insert_order(conn: AsyncConnection, order: OrderRow) -> None:
    await conn.execute(insert(db.orders).values(**order.values()))


async def load(conn: AsyncConnection, order_no: str, *, lock: bool = False) -> OrderRow:
    """The order (``lock``: with its row lock, inside a write transaction); UnknownOrder."""
    if has_nul(order_no):
        raise UnknownOrder(order_no)
    query = select(db.orders).where(o.order_no == order_no)
    if lock:
        query = query.with_for_update()
    found = (await conn.execute(query)).mappings().first()
    if found is None:
        raise UnknownOrder(order_no)
    return row(OrderRow, found)


async def all_orders(conn: AsyncConnection) -> list[OrderRow]:
    """Every order, oldest first."""
    result = await conn.execute(select(db.orders).order_by(o.created_at))
    return [row(OrderRow, r) for r in result.mappings()]


async def transition(conn: AsyncConnection, order: OrderRow, target: OrderState, *, at: float,
                     message: str, eta_at: float | None, visible: bool,
                     paid_at: float | None = None, delivered_at: float | None = None,
                     last_error: str | None = None) -> Moved:
    """Move a locked order to ``target`` (checked by the state machine) and append its event;
    the optional columns are set when given."""
    check_transition(order.state, target)
    changes = {k: v for k, v in (("paid_at", paid_at), ("delivered_at", delivered_at),
                                 ("last_error", last_error)) if v is not None}
    values: dict[str, Any] = {"state": target.value, "updated_at": at, **changes}
    await conn.execute(update(db.orders).where(o.order_no == order.order_no).values(**values))
    event = await events.append(conn, order.order_no, at=at, state=target.value,
                                message=message, eta_at=eta_at, visible=visible)
    return Moved(dataclasses.replace(order, **values), event, order.state)


async def set_payment(conn: AsyncConnection, order_no: str, channel: str, payment_id: str,
                      pay_url: str) -> None:
    await conn.execute(update(db.orders).where(o.order_no == order_no)
                       .values(channel=channel, payment_id=payment_id, pay_url=pay_url))


async def note_buyer_paid(conn: AsyncConnection, order_no: str, at: float) -> None:
    """The first "I have paid" of an order (later ones change nothing)."""
    await conn.execute(update(db.orders).where(and_(
        o.order_no == order_no, o.buyer_paid_at.is_(None))).values(buyer_paid_at=at))


async def count_by_state(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(select(o.state, func.count()).group_by(o.state))
    return {r[0]: int(r[1]) for r in rows}


async def in_flight(conn: AsyncConnection) -> list[WorkItem]:
    """Orders a worker owns, in the order they were paid."""
    rows = await conn.execute(select(o.order_no, o.priority)
                              .where(o.state.in_(_IN_FLIGHT)).order_by(o.paid_at))
    return [WorkItem(r[0], r[1]) for r in rows]


async def stalled(conn: AsyncConnection, before: float) -> list[WorkItem]:
    """In-flight orders that have not changed since ``before``."""
    rows = await conn.execute(select(o.order_no, o.priority).where(and_(
        o.state.in_(_IN_FLIGHT), o.updated_at < before)))
    return [WorkItem(r[0], r[1]) for r in rows]


async def due_to_expire(conn: AsyncConnection, now: float, limit: int = 500) -> list[str]:
    rows = await conn.execute(select(o.order_no).where(and_(
        o.state == OrderState.PENDING_PAYMENT, o.expires_at < now)).limit(limit))
    return [r[0] for r in rows]


async def awaiting_payment_news(conn: AsyncConnection, *, said_paid_before: float,
                                created_before: float, expired_after: float,
                                not_queried_since: float, limit: int = 200
                                ) -> list[tuple[str, str]]:
    """(order_no, channel) of orders whose payment callback is overdue: unpaid (or expired
    within the late window after the buyer said "I have paid"), and either said paid before
    ``said_paid_before`` or created before ``created_before``; not queried since
    ``not_queried_since``."""
    said_paid = and_(o.buyer_paid_at.is_not(None), o.buyer_paid_at < said_paid_before)
    overdue = or_(said_paid, o.created_at < created_before)
    waiting = or_(o.state == OrderState.PENDING_PAYMENT,
                  and_(o.state == OrderState.EXPIRED, o.buyer_paid_at.is_not(None),
                       o.expires_at > expired_after))
    not_recent = or_(o.last_query_at.is_(None), o.last_query_at < not_queried_since)
    rows = await conn.execute(select(o.order_no, o.channel).where(
        and_(waiting, overdue, not_recent, o.channel.is_not(None))).limit(limit))
    return [(r[0], r[1]) for r in rows]


async def mark_queried(conn: AsyncConnection, order_nos: Sequence[str], at: float) -> None:
    await conn.execute(update(db.orders).where(o.order_no.in_(list(order_nos)))
                       .values(last_query_at=at))


async def recent_by_email(conn: AsyncConnection, email: str, limit: int = 5
                          ) -> list[LookupRow]:
    if has_nul(email):
        return []
    rows = await conn.execute(
        select(o.order_no, o.state, o.created_at, o.query_password_hash)
        .where(o.email == email).order_by(o.created_at.desc()).limit(limit))
    return [row(LookupRow, r) for r in rows.mappings()]


async def needing_a_person(conn: AsyncConnection, states: Collection[OrderState],
                           stalled_before: float, limit: int = 1000) -> list[StuckRow]:
    """Orders in ``states``, and in-flight orders unchanged since ``stalled_before``."""
    rows = await conn.execute(
        select(o.order_no, o.state, o.paid_at, o.updated_at, o.last_error).where(or_(
            o.state.in_([s.value for s in states]),
            and_(o.state.in_(_IN_FLIGHT), o.updated_at < stalled_before))).limit(limit))
    return [row(StuckRow, r) for r in rows.mappings()]
