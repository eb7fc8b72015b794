"""The status page's incident updates, as stored (the status page carries on from them)."""

from __future__ import annotations

from collections.abc import Sequence

from fakalab.reference_shop.statuspage import IncidentUpdate
from fakalab.reference_shop.storage.rows import IncidentRow, columns
from fakalab.reference_shop.storage.writer import Cursor

__all__ = ["add_updates", "all_updates", "recent_updates"]

_COLS = columns(IncidentRow)


def add_updates(c: Cursor, updates: Sequence[IncidentUpdate]) -> None:
    c.many("INSERT INTO incident_updates (incident_id, component, state, at, message) "
           "VALUES (?, ?, ?, ?, ?)",
           [(u.incident_id, u.component, u.state, u.at, u.message) for u in updates])


def all_updates(c: Cursor) -> list[IncidentRow]:
    """Every update, in the order stored."""
    return [IncidentRow(*r) for r in c.all(f"SELECT {_COLS} FROM incident_updates ORDER BY id")]


def recent_updates(c: Cursor, limit: int = 50) -> list[IncidentRow]:
    """The latest updates, newest first."""
    return [IncidentRow(*r) for r in c.all(
        f"SELECT {_COLS} FROM incident_updates ORDER BY id DESC LIMIT ?", limit)]
