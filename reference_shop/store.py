"""Database operations on orders, keys and the event ledger (the edge under the shop service)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fakalab.reference_shop import db
from fakalab.reference_shop.ledger import GENESIS, event_hash
from fakalab.reference_shop.states import OrderState, check_transition

__all__ = [
    "EventRow",
    "OutOfStock",
    "UnknownOrder",
    "append_event",
    "load_events",
    "load_order",
    "release_keys",
    "reserve_keys",
    "transition",
]


class OutOfStock(Exception):
    """Fewer keys available than ordered."""


class UnknownOrder(LookupError):
    pass


@dataclass(frozen=True)
class EventRow:
    order_no: str
    seq: int
    at: float
    state: str
    message: str
    eta_at: float | None
    visible: bool
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def reserve_keys(conn: AsyncConnection, product: Mapping[str, Any], order_no: str,
                       quantity: int) -> None:
    """Reserve ``quantity`` keys for the order atomically, or raise OutOfStock (nothing taken)."""
    if product["kind"] == "supplier":
        done = await conn.execute(
            update(db.products)
            .where(and_(db.products.c.id == product["id"],
                        db.products.c.supplier_stock >= quantity))
            .values(supplier_stock=db.products.c.supplier_stock - quantity)
        )
        if done.rowcount != 1:
            raise OutOfStock(product["id"])
        return
    pick = (
        select(db.card_keys.c.id)
        .where(and_(db.card_keys.c.product_id == product["id"],
                    db.card_keys.c.status == "available"))
        .order_by(db.card_keys.c.id)
        .limit(quantity)
        .with_for_update(skip_locked=True)
    )
    ids = [row[0] for row in await conn.execute(pick)]
    if len(ids) < quantity:
        raise OutOfStock(product["id"])
    done = await conn.execute(
        update(db.card_keys)
        .where(and_(db.card_keys.c.id.in_(ids), db.card_keys.c.status == "available"))
        .values(status="reserved", order_no=order_no)
    )
    if done.rowcount != quantity:
        raise OutOfStock(product["id"])


async def release_keys(conn: AsyncConnection, order_no: str, product: Mapping[str, Any],
                       quantity: int) -> None:
    """Give an order's reserved (unsold) keys back to stock."""
    if product["kind"] == "supplier":
        await conn.execute(
            update(db.products).where(db.products.c.id == product["id"])
            .values(supplier_stock=db.products.c.supplier_stock + quantity)
        )
        return
    await conn.execute(
        update(db.card_keys)
        .where(and_(db.card_keys.c.order_no == order_no, db.card_keys.c.status == "reserved"))
        .values(status="available", order_no=None)
    )


async def load_order(conn: AsyncConnection, order_no: str, *, lock: bool = False
                     ) -> dict[str, Any]:
    query = select(db.orders).where(db.orders.c.order_no == order_no)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        raise UnknownOrder(order_no)
    return dict(row)


async def load_events(conn: AsyncConnection, order_no: str) -> list[EventRow]:
    rows = await conn.execute(
        select(db.order_events).where(db.order_events.c.order_no == order_no)
        .order_by(db.order_events.c.seq)
    )
    return [_event_from_row(dict(r)) for r in rows.mappings()]


def _event_from_row(r: Mapping[str, Any]) -> EventRow:
    return EventRow(r["order_no"], r["seq"], r["at"], r["state"], r["message"], r["eta_at"],
                    bool(r["visible"]), r["prev_hash"], r["hash"])


async def append_event(conn: AsyncConnection, order_no: str, *, at: float, state: str,
                       message: str, eta_at: float | None, visible: bool) -> EventRow:
    """Append one event to the order's chain (inside the caller's transaction)."""
    last = (await conn.execute(
        select(db.order_events.c.seq, db.order_events.c.hash)
        .where(db.order_events.c.order_no == order_no)
        .order_by(db.order_events.c.seq.desc()).limit(1)
    )).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    fields = {"order_no": order_no, "seq": seq, "at": at, "state": state, "message": message,
              "eta_at": eta_at, "visible": visible}
    digest = event_hash(prev, fields)
    await conn.execute(insert(db.order_events).values(**fields, prev_hash=prev, hash=digest))
    return EventRow(order_no, seq, at, state, message, eta_at, visible, prev, digest)


async def transition(conn: AsyncConnection, order: dict[str, Any], target: OrderState, *,
                     at: float, message: str, eta_at: float | None, visible: bool,
                     **columns: Any) -> EventRow:
    """Move a locked order row to ``target`` (checked by the state machine) and log the event."""
    check_transition(order["state"], target)
    values = {"state": target.value, "updated_at": at, **columns}
    await conn.execute(
        update(db.orders).where(db.orders.c.order_no == order["order_no"]).values(**values)
    )
    order.update(values)
    return await append_event(conn, order["order_no"], at=at, state=target.value,
                              message=message, eta_at=eta_at, visible=visible)


async def order_keys(conn: AsyncConnection, order_no: str) -> list[str]:
    rows = await conn.execute(
        select(db.card_keys.c.secret)
        .where(and_(db.card_keys.c.order_no == order_no, db.card_keys.c.status == "sold"))
        .order_by(db.card_keys.c.id)
    )
    return [r[0] for r in rows]


async def count_by_state(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(
        select(db.orders.c.state, func.count()).group_by(db.orders.c.state)
    )
    return {r[0]: int(r[1]) for r in rows}
