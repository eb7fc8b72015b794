"""Whole tables for the admin's CSV export: each table's columns, then its rows as stored —
read on a connection of their own (`Database.rows`), so an export never holds up the writer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from sqlalchemy import Table

from fakalab.reference_shop import db

__all__ = ["TABLES", "columns", "stream_rows"]

_TABLES: dict[str, Table] = {
    "orders": db.orders, "events": db.order_events, "incidents": db.incident_updates,
    "tickets": db.tickets, "callbacks": db.callback_attempts, "keys": db.card_keys,
    "notifications": db.notifications, "products": db.products}
TABLES = tuple(sorted(_TABLES))


class RowSource(Protocol):
    def rows(self, select_sql: str, batch: int = ...) -> AsyncIterator[list[tuple[Any, ...]]]: ...


def columns(table: str) -> list[str]:
    return [c.name for c in _TABLES[table].columns]


async def stream_rows(source: RowSource, table: str) -> AsyncIterator[tuple[Any, ...]]:
    """The rows of ``table`` (one of TABLES), streamed in batches."""
    sql = f"SELECT {', '.join(columns(table))} FROM {_TABLES[table].name}"
    async for batch in source.rows(sql):
        for r in batch:
            yield tuple(r)
