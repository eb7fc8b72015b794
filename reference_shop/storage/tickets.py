"""Support tickets buyers file."""

from __future__ import annotations

from fakalab.reference_shop.storage.writer import Cursor

__all__ = ["add_ticket"]


def add_ticket(c: Cursor, *, order_no: str | None, at: float, reason: str, message: str,
               waited_s: float | None) -> int:
    """Store a ticket; returns its id."""
    found = c.one("INSERT INTO tickets (order_no, at, reason, message, waited_s) "
                  "VALUES (?, ?, ?, ?, ?) RETURNING id", order_no, at, reason, message, waited_s)
    return int(found[0]) if found else 0
