"""Payment notices as they arrived (``callback_attempts``): every attempt, forged ones too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fakalab.reference_shop.storage.rows import storable
from fakalab.reference_shop.storage.writer import Cursor

__all__ = ["record_attempt"]


def record_attempt(c: Cursor, *, at: float, source: str, channel: str,
                   fields: Mapping[str, Any], outcome: str, detail: str = "") -> None:
    """Record one attempt. Every stored value is cut to its column's size: the channel comes
    from the URL path, which no body limit bounds, and forged attempts are recorded too."""
    c.run("INSERT INTO callback_attempts (at, source, channel, trade_no, payment_id, amount, "
          "outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
          at, source, storable(channel)[:32], storable(str(fields.get("trade_no")))[:64],
          storable(str(fields.get("payment_id")))[:64],
          storable(str(fields.get("amount")))[:32], outcome, storable(detail)[:500])
