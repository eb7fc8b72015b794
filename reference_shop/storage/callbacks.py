"""Payment notices as they arrived (``callback_attempts``): every attempt, forged ones too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from fakalab.reference_shop import db
from fakalab.reference_shop.storage.rows import storable

__all__ = ["record_attempt"]


async def record_attempt(conn: AsyncConnection, *, at: float, source: str, channel: str,
                         fields: Mapping[str, Any], outcome: str, detail: str = "") -> None:
    """Record one attempt. Every stored value is cut to its column's size: the channel comes
    from the URL path, which no body limit bounds, and forged attempts are recorded too."""
    await conn.execute(insert(db.callback_attempts).values(
        at=at, source=source, channel=storable(channel)[:32],
        trade_no=storable(str(fields.get("trade_no")))[:64],
        payment_id=storable(str(fields.get("payment_id")))[:64],
        amount=storable(str(fields.get("amount")))[:32],
        outcome=outcome, detail=storable(detail)[:500]))
