"""The receipt log's tables: order events not yet logged, the log's leaves, the signed tree
heads and the signing key (``reference_shop/receipts.py`` keeps the tree in memory).

An event's place in the log is its ``order_events.id`` order: the shop has one writer, so ids
grow in the order events were written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from fakalab.contract.receipt import TreeHead
from fakalab.reference_shop.storage.rows import EventRow
from fakalab.reference_shop.storage.writer import Cursor

__all__ = ["LogRow", "append", "events_after", "heads", "latest_head", "leaves",
           "logged_events", "order_entries", "signing_key", "store_signing_key"]

_E = ", ".join(f"e.{f.name}" for f in fields(EventRow))
LogRow = tuple[int, str, int, str]  # event_id, order_no, seq, leaf (hex)


def _event(r: Sequence[Any]) -> EventRow:
    return EventRow(r[0], int(r[1]), float(r[2]), r[3], r[4],
                    None if r[5] is None else float(r[5]), bool(r[6]), r[7], r[8])


def events_after(c: Cursor, event_id: int, limit: int) -> list[tuple[int, EventRow]]:
    """Events written after the one with ``event_id``, in the order they were written."""
    return [(int(r[0]), _event(r[1:])) for r in c.all(
        f"SELECT e.id, {_E} FROM order_events e WHERE e.id > ? ORDER BY e.id LIMIT ?",
        event_id, limit)]


def leaves(c: Cursor) -> list[tuple[str, int]]:
    """(leaf, event_id) of the whole log, in log order."""
    return [(str(r[0]), int(r[1])) for r in c.all(
        "SELECT leaf, event_id FROM receipt_log ORDER BY idx")]


def append(c: Cursor, start: int, rows: Sequence[LogRow], head: TreeHead) -> None:
    """Log ``rows`` from index ``start`` on, and store the head that signs them."""
    c.many("INSERT INTO receipt_log (idx, event_id, order_no, seq, leaf) "
           "VALUES (?, ?, ?, ?, ?)", [(start + i, *r) for i, r in enumerate(rows)])
    c.run("INSERT INTO receipt_heads (size, root, at, signature) VALUES (?, ?, ?, ?)",
          head.size, head.root, head.at, head.signature)


def _head(r: Sequence[Any]) -> TreeHead:
    return TreeHead(int(r[0]), str(r[1]), float(r[2]), str(r[3]))


def latest_head(c: Cursor) -> TreeHead | None:
    found = c.one("SELECT size, root, at, signature FROM receipt_heads "
                  "ORDER BY size DESC LIMIT 1")
    return None if found is None else _head(found)


def heads(c: Cursor) -> list[TreeHead]:
    """Every head the shop signed, oldest first."""
    return [_head(r) for r in c.all(
        "SELECT size, root, at, signature FROM receipt_heads ORDER BY size")]


def order_entries(c: Cursor, order_no: str) -> list[tuple[int | None, EventRow]]:
    """The order's events as stored now, each with its index in the log (None: not logged
    yet)."""
    return [(None if r[0] is None else int(r[0]), _event(r[1:])) for r in c.all(
        f"SELECT l.idx, {_E} FROM order_events e LEFT JOIN receipt_log l "
        "ON l.event_id = e.id WHERE e.order_no = ? ORDER BY e.seq", order_no)]


def logged_events(c: Cursor) -> list[tuple[int, str, EventRow | None]]:
    """Every log entry (idx, leaf) with the event it logged as stored now (None: deleted)."""
    return [(int(r[0]), str(r[1]), None if r[2] is None else _event(r[2:])) for r in c.all(
        f"SELECT l.idx, l.leaf, {_E} FROM receipt_log l LEFT JOIN order_events e "
        "ON e.id = l.event_id ORDER BY l.idx")]


def signing_key(c: Cursor) -> str | None:
    found = c.one("SELECT private_pem FROM receipt_keys WHERE id = 1")
    return None if found is None else str(found[0])


def store_signing_key(c: Cursor, pem: str) -> None:
    c.run("INSERT INTO receipt_keys (id, private_pem) VALUES (1, ?)", pem)
