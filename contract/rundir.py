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
from fakalab.contract.disputes import DISPUTE_COLUMNS
from fakalab.contract.traces import TRACES_DIR

__all__ = [
    "ATTEMPT_COLUMNS",
    "ATTEMPT_OUTCOMES",
    "BUYER_RECORD_COLUMNS",
    "DISPUTE_COLUMNS",
    "EVENT_COLUMNS",
    "FAULT_COLUMNS",
    "FORMAT_VERSION",
    "INCIDENT_COLUMNS",
    "KEY_COLUMNS",
    "NOTIFY_COLUMNS",
    "ORDER_COLUMNS",
    "OUTSIDE_ORDER_COLUMNS",
    "OUTSIDE_SOURCES",
    "POLL_COLUMNS",
    "PROBE_COLUMNS",
    "PROVIDER_SIGNAL_COLUMNS",
    "RECORDED_HEADS",
    "TICKET_COLUMNS",
    "TRACES",
    "UNOBSERVABLE_OUTSIDE",
    "Delays",
    "buyer_paid_at",
    "cell",
    "delays",
    "money",
]

# Readers accept every version up to this one and refuse a newer one, naming both.
# 2: run.json says from where the run was seen (`view`: inside | outside), and an outside run
# (an external target) has its own files and columns (below, docs/run-dir.md).
FORMAT_VERSION = 2

ORDER_COLUMNS = ("order_no", "product_id", "priority", "quantity", "amount", "channel",
                 "persona", "created_at", "paid_at", "buyer_paid_at", "delivered_at",
                 "final_state", "delayed")
EVENT_COLUMNS = ("order_no", "seq", "at", "state", "message", "eta_at", "visible", "prev_hash",
                 "hash")
POLL_COLUMNS = ("order_no", "at", "persona", "via", "http_status", "latency_ms", "state_seen",
                "message_seen", "eta_seen")
TICKET_COLUMNS = ("order_no", "at", "reason", "waited_s")
# One row per try at placing an order: outcome created | refused (the shop said busy: 503 or
# 429 with Retry-After) | failed (any other answer, or none) | gave_up (after a refusal).
ATTEMPT_COLUMNS = ("journey", "at", "persona", "attempt", "outcome", "http_status",
                   "latency_ms", "retry_after_s", "order_no")
ATTEMPT_OUTCOMES = ("created", "refused", "failed", "gave_up")
# disputes.csv, only when a buyer claimed non-delivery (load.buyers.claims): one row per claim,
# DISPUTE_COLUMNS; kinds, settlements and outcomes are defined in contract/disputes.py.
RECORDED_HEADS = "receipt_heads.jsonl"  # the receipt log's signed heads, as the drill saw them
# Spans of the shop, each upstream and the buyers, one OTLP JSON file per service
# (traces/<service>.jsonl): the names, the vocabulary and the format are in contract/traces.py.
TRACES = TRACES_DIR
INCIDENT_COLUMNS = ("incident_id", "component", "state", "at", "message")
# What the shop heard from its providers' status pages (shop.provider_signals on): one row
# each time a provider's news changed; via stream (the push) | poll (summary.json);
# incidents and impact are `;`-joined, one per open incident.
PROVIDER_SIGNAL_COLUMNS = ("at", "provider", "via", "indicator", "component_status",
                           "incidents", "impact")
# What each simulated buyer saw of its own orders, one row per thing that happened, written by
# every Locust process (locust/records/buyers-<pid>.csv): `what` is created (value: JSON of
# persona, product_id, quantity, amount, state), cashier (the gateway's cashier URL reached),
# paid (the cashier took the payment), said_paid ("I have paid"), key (the SHA-256 of a key
# shown for the first time) or no_key (the shop said delivered and no key could be fetched).
BUYER_RECORD_COLUMNS = ("order_no", "at", "what", "value")

# An outside run (view "outside": a shop measured as its buyers and its gateway see it).
# orders.csv has ORDER_COLUMNS (priority empty: not observable) and these.
OUTSIDE_ORDER_COLUMNS = (*ORDER_COLUMNS, "trade_no", "gateway_money", "notify_attempts",
                         "acknowledged_at", "gateway_confirmed_at", "keys_shown", "no_key_at",
                         "state_seen")
# Every notification the gateway sent (kind "notify") or the drill's probes (kind = the probe).
NOTIFY_COLUMNS = ("order_no", "trade_no", "at", "kind", "pid", "money", "http_status",
                  "reply", "acknowledged", "seconds")
# Each key the first time a buyer was shown it: only its SHA-256.
KEY_COLUMNS = ("order_no", "at", "key_sha256")
# The drill's test notifications, one row each, and what the buyer saw afterwards.
PROBE_COLUMNS = ("probe", "order_no", "trade_no", "sent_at", "http_status", "reply",
                 "acknowledged", "keys_before", "keys_after", "stages_after", "problem")
# Where each figure of an outside run comes from (run.json `sources`).
OUTSIDE_SOURCES: dict[str, str] = {
    "orders.order_no": "buyer: the shop's answer to create_order",
    "orders.created_at": "buyer: when the shop answered create_order",
    "orders.amount": "buyer: the amount the shop gave (else the money it sent the gateway)",
    "orders.paid_at": "gateway: the first genuine notification the shop answered `success`",
    "orders.buyer_paid_at": "gateway: when the buyer paid at the cashier",
    "orders.delivered_at": "buyer: the first time a key was shown",
    "orders.final_state": "buyer: the last state seen, mapped by the profile (else verbatim)",
    "orders.priority": "not observable from outside",
    "orders.gateway_confirmed_at": "gateway: the first api.php answer telling the shop paid",
    "events.csv": "buyer: each state the first time it was seen (poll, stream or create)",
    "events.prev_hash": "not observable from outside (the shop's ledger)",
    "polls.csv": "buyer", "tickets.csv": "buyer", "attempts.csv": "buyer",
    "notifies.csv": "gateway: every notification and probe, with the shop's reply",
    "keys.csv": "buyer: SHA-256 of each key the first time it was shown",
    "probes.csv": "drill: the test notifications and what the buyer saw after them",
    "incidents.csv": "not observable from outside (the shop's status page)",
}
# What an outside run cannot show (reports say so instead of showing a zero).
UNOBSERVABLE_OUTSIDE = ("priority", "ledger", "incidents", "database")

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
