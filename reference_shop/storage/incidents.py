"""The status page's incident updates, as stored (the status page carries on from them)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fakalab.reference_shop import db
from fakalab.reference_shop.statuspage import IncidentUpdate
from fakalab.reference_shop.storage.rows import IncidentRow, row

__all__ = ["add_updates", "all_updates", "recent_updates"]

u = db.incident_updates.c


async def add_updates(conn: AsyncConnection, updates: Sequence[IncidentUpdate]) -> None:
    for update in updates:
        await conn.execute(insert(db.incident_updates).values(
            incident_id=update.incident_id, component=update.component, state=update.state,
            at=update.at, message=update.message))


async def all_updates(conn: AsyncConnection) -> list[IncidentRow]:
    """Every update, in the order stored."""
    rows = await conn.execute(select(db.incident_updates).order_by(u.id))
    return [row(IncidentRow, r) for r in rows.mappings()]


async def recent_updates(conn: AsyncConnection, limit: int = 50) -> list[IncidentRow]:
    """The latest updates, newest first."""
    rows = await conn.execute(select(db.incident_updates).order_by(u.id.desc()).limit(limit))
    return [row(IncidentRow, r) for r in rows.mappings()]
