"""The hash-chained order-event ledger (pure).

Each event's hash is SHA-256 over the previous event's hash and the event's own fields, so an
edited, inserted, reordered or deleted event breaks the chain from that point on. Anyone with
``events.csv`` can verify it with :func:`verify_chain`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["GENESIS", "ChainBreak", "event_hash", "verify_chain"]

GENESIS = "0" * 64
HASHED_FIELDS = ("order_no", "seq", "at", "state", "message", "eta_at", "visible")


def _norm(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    return value


def event_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of ``prev_hash`` and the event's hashed fields, canonically encoded."""
    payload = json.dumps(
        [prev_hash, *(_norm(event.get(k)) for k in HASHED_FIELDS)],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    order_no: str
    seq: int
    reason: str


def verify_chain(events: Iterable[Mapping[str, Any]]) -> list[ChainBreak]:
    """Check every order's chain; events must be given in ``seq`` order per order.

    Returns the breaks found (empty list: the ledger verifies).
    """
    last: dict[str, tuple[int, str]] = {}
    breaks: list[ChainBreak] = []
    for ev in events:
        order_no, seq = str(ev["order_no"]), int(ev["seq"])
        prev_seq, prev_hash = last.get(order_no, (0, GENESIS))
        if seq != prev_seq + 1:
            breaks.append(ChainBreak(order_no, seq, f"expected seq {prev_seq + 1}, got {seq}"))
        if ev["prev_hash"] != prev_hash:
            breaks.append(ChainBreak(order_no, seq, "prev_hash does not match previous event"))
        if event_hash(str(ev["prev_hash"]), ev) != ev["hash"]:
            breaks.append(ChainBreak(order_no, seq, "hash does not match the event's contents"))
        last[order_no] = (seq, str(ev["hash"]))
    return breaks
