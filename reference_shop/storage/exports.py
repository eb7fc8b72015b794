"""Whole tables for the admin's CSV export: each table's columns, then its rows as stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fakalab.reference_shop import db

__all__ = ["TABLES", "columns", "stream_rows"]

_TABLES: dict[str, Table] = {
    "orders": db.orders, "events": db.order_events, "incidents": db.incident_updates,
    "tickets": db.tickets, "callbacks": db.callback_attempts, "keys": db.card_keys,
    "notifications": db.notifications, "products": db.products}
TABLES = tuple(sorted(_TABLES))


def columns(table: str) -> list[str]:
    return [c.name for c in _TABLES[table].columns]


async def stream_rows(conn: AsyncConnection, table: str) -> AsyncIterator[tuple[Any, ...]]:
    """The rows of ``table`` (one of TABLES), streamed."""
    result = await conn.stream(select(_TABLES[table]))
    async for r in result:
        yield tuple(r)
