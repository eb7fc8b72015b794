"""Delivery e-mails sent (or failed after their retries), one per delivered order."""

from __future__ import annotations

from sqlalchemy import and_, exists, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fakalab.reference_shop import db
from fakalab.reference_shop.states import OrderState

__all__ = ["record_notification", "unnotified_deliveries"]


async def record_notification(conn: AsyncConnection, order_no: str, status: str, at: float
                              ) -> None:
    await conn.execute(insert(db.notifications).values(order_no=order_no, status=status, at=at))


async def unnotified_deliveries(conn: AsyncConnection) -> list[tuple[str, str]]:
    """(order_no, email) of delivered orders with no notification recorded."""
    o, n = db.orders.c, db.notifications.c
    rows = await conn.execute(select(o.order_no, o.email).where(and_(
        o.state == OrderState.DELIVERED, ~exists().where(n.order_no == o.order_no))))
    return [(r[0], r[1]) for r in rows]
