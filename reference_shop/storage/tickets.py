"""Support tickets buyers file."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from fakalab.reference_shop import db

__all__ = ["add_ticket"]


async def add_ticket(conn: AsyncConnection, *, order_no: str | None, at: float, reason: str,
                     message: str, waited_s: float | None) -> int:
    """Store a ticket; returns its id."""
    result = await conn.execute(insert(db.tickets).values(
        order_no=order_no, at=at, reason=reason, message=message, waited_s=waited_s))
    pk = result.inserted_primary_key
    return int(pk[0]) if pk else 0
