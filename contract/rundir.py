"""The run directory (docs/run-dir.md): its files, their columns, and the rules every reader and
the writer must apply the same way (pure).

The drill writes it (`fakalab.scenarios.export`, the Locust records, the chaos journal); the
reports, the simulator and the audit read it. Each rule here is the one definition:
a delay is measured from when *the buyer* paid, a delay is decided only once the SLA has run
out or the keys arrived, money is written with two decimals, booleans as true/false.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from fakalab.chaos.journal import FAULT_COLUMNS

__all__ = [
    "EVENT_COLUMNS",
    "FAULT_COLUMNS",
    "FORMAT_VERSION",
    "INCIDENT_COLUMNS",
    "ORDER_COLUMNS",
    "POLL_COLUMNS",
    "TICKET_COLUMNS",
    "Delays",
    "buyer_paid_at",
    "cell",
    "delays",
    "money",
]

# Readers accept every version up to this one and refuse a newer one, naming both.
FORMAT_VERSION = 1

ORDER_COLUMNS = ("order_no", "product_id", "priority", "quantity", "amount", "channel",
                 "persona", "created_at", "paid_at", "buyer_paid_at", "delivered_at",
                 "final_state", "delayed")
EVENT_COLUMNS = ("order_no", "seq", "at", "state", "message", "eta_at", "visible", "prev_hash",
                 "hash")
POLL_COLUMNS = ("order_no", "at", "persona", "via", "http_status", "latency_ms", "state_seen",
                "message_seen", "eta_seen")
TICKET_COLUMNS = ("order_no", "at", "reason", "waited_s")
INCIDENT_COLUMNS = ("incident_id", "component", "state", "at", "message")

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def cell(value: Any) -> Any:
    """A value as a CSV cell: empty for "did not happen", `true`/`false` for booleans."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return value


def money(cents: int) -> str:
    """An amount in cents as the decimal string shops and payment channels exchange: 12.05."""
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def buyer_paid_at(paid_at: Any, said_paid_at: Any) -> FloatArray:
    """When the buyer paid, as far as the run can tell: the earlier of the shop's confirmation
    (`paid_at`) and the buyer's "I have paid" (`buyer_paid_at`). A buyer who paid waits from
    then, whether or not the shop heard of it — a lost callback is a delay the buyer lives
    through. NaN (or None) where neither happened."""
    return np.fmin(_floats(paid_at), _floats(said_paid_at))


class Delays(NamedTuple):
    """Per order, from when the buyer paid: `ttd` (seconds to delivery, NaN if not delivered),
    `decided` (delivered, or the SLA ran out before the run ended) and `delayed` (decided and
    not delivered within the SLA). An order still inside its SLA at the end is undecided:
    neither on time nor late."""

    paid: BoolArray
    delivered: BoolArray
    ttd: FloatArray
    decided: BoolArray
    delayed: BoolArray


def delays(paid_at: Any, delivered_at: Any, sla_s: float, ended_at: float) -> Delays:
    """`Delays` of orders whose clock starts at `paid_at` (give it `buyer_paid_at(...)`)."""
    paid_t, delivered_t = _floats(paid_at), _floats(delivered_at)
    paid, delivered = ~np.isnan(paid_t), ~np.isnan(delivered_t)
    ttd = np.where(paid & delivered, delivered_t - paid_t, np.nan)
    with np.errstate(invalid="ignore"):
        undecided = paid & ~delivered & (ended_at - paid_t < sla_s)
        decided = paid & ~undecided
        late = decided & ~(ttd <= sla_s)
    return Delays(paid, delivered, ttd, decided, late)


def _floats(values: Any) -> FloatArray:
    """Times as floats, NaN for None (lists and scalars) or NaN (arrays, Series)."""
    if values is None:
        return np.asarray(np.nan)
    if isinstance(values, list | tuple):
        values = [np.nan if v is None else v for v in values]
    return np.asarray(values, dtype=float)
