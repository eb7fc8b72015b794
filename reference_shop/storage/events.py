"""The order-event ledger: append an event to an order's hash chain, read chains back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fakalab.reference_shop import db
from fakalab.reference_shop.ledger import GENESIS, event_hash
from fakalab.reference_shop.storage.rows import EventRow

__all__ = ["all_events", "append", "for_order"]

e = db.order_events.c


def _event(r: Mapping[Any, Any]) -> EventRow:
    return EventRow(r["order_no"], r["seq"], r["at"], r["state"], r["message"], r["eta_at"],
                    bool(r["visible"]), r["prev_hash"], r["hash"])


async def append(conn: AsyncConnection, order_no: str, *, at: float, state: str, message: str,
                 eta_at: float | None, visible: bool) -> EventRow:
    """Append one event to the order's chain (inside the caller's transaction)."""
    last = (await conn.execute(select(e.seq, e.hash).where(e.order_no == order_no)
                               .order_by(e.seq.desc()).limit(1))).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    fields = {"order_no": order_no, "seq": seq, "at": at, "state": state, "message": message,
              "eta_at": eta_at, "visible": visible}
    digest = event_hash(prev, fields)
    await conn.execute(insert(db.order_events).values(**fields, prev_hash=prev, hash=digest))
    return EventRow(order_no, seq, at, state, message, eta_at, visible, prev, digest)


async def for_order(conn: AsyncConnection, order_no: str) -> list[EventRow]:
    rows = await conn.execute(select(db.order_events).where(e.order_no == order_no)
                              .order_by(e.seq))
    return [_event(r) for r in rows.mappings()]


async def all_events(conn: AsyncConnection) -> list[EventRow]:
    """Every order's chain, by order number and sequence."""
    rows = await conn.execute(select(db.order_events).order_by(e.order_no, e.seq))
    return [_event(r) for r in rows.mappings()]
