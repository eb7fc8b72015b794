"""The order-event ledger: append an event to an order's hash chain, read chains back."""

from __future__ import annotations

from typing import Any

from fakalab.reference_shop.ledger import GENESIS, event_hash
from fakalab.reference_shop.storage.rows import EventRow, columns
from fakalab.reference_shop.storage.writer import Cursor

__all__ = ["all_events", "append", "for_order", "settled", "started"]

_COLS = columns(EventRow)
_UNKNOWN = object()


def _event(r: tuple[Any, ...]) -> EventRow:
    return EventRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8])


def append(c: Cursor, order_no: str, *, at: float, state: str, message: str,
           eta_at: float | None, visible: bool) -> EventRow:
    """Append one event to the order's chain (inside the unit's transaction). The end of the
    chain is the writer's memo (Cursor.memo) while the order is in flight, else read."""
    key = ("chain", order_no)
    last = c.memo.get(key, _UNKNOWN)
    if last is _UNKNOWN:
        last = c.one("SELECT seq, hash FROM order_events WHERE order_no = ? "
                     "ORDER BY seq DESC LIMIT 1", order_no)
    seq, prev = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
    fields = {"order_no": order_no, "seq": seq, "at": at, "state": state, "message": message,
              "eta_at": eta_at, "visible": visible}
    digest = event_hash(prev, fields)
    c.run("INSERT INTO order_events (order_no, seq, at, state, message, eta_at, visible, "
          "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
          order_no, seq, at, state, message, eta_at, visible, prev, digest)
    c.memo[key] = (seq, digest)
    return EventRow(order_no, seq, at, state, message, eta_at, visible, prev, digest)


def started(c: Cursor, order_no: str) -> None:
    """A new order: its chain is known to be empty (no read for its first event)."""
    c.memo[("chain", order_no)] = None


def settled(c: Cursor, order_no: str) -> None:
    """The order left the pipeline: its chain's end leaves the writer's memo."""
    c.memo.pop(("chain", order_no), None)


def for_order(c: Cursor, order_no: str) -> list[EventRow]:
    return [_event(r) for r in c.all(
        f"SELECT {_COLS} FROM order_events WHERE order_no = ? ORDER BY seq", order_no)]


def all_events(c: Cursor) -> list[EventRow]:
    """Every order's chain, by order number and sequence."""
    return [_event(r) for r in c.all(
        f"SELECT {_COLS} FROM order_events ORDER BY order_no, seq")]
