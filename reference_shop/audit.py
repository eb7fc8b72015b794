"""Invariants of a run (pure checks over the run directory's tables and the shop's database).

Each check returns the rows that break it. The shop must never lose a payment, sell a key twice,
deliver an order twice, let stock and keys disagree, break its ledger, export something other than
what it stored, or show a buyer a state the order was not in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from fakalab.reference_shop.ledger import verify_chain
from fakalab.reference_shop.messages import opaque_label
from fakalab.reference_shop.receipts import StoredLog, audit_log
from fakalab.reference_shop.states import IN_FLIGHT, OrderState

__all__ = ["CHECKS", "AuditInput", "Check", "run_checks"]

ACCOUNTED = {"delivered", "refunded", "needs_review", "needs_attention", "needs_refund"}
HOLDS_KEYS = {"pending_payment", *(s.value for s in IN_FLIGHT), "needs_review",
              "needs_attention"}
SHOWN_LATE_S = 1.0  # a view may lag its event by this much (commit, then the cache update)


@dataclass
class AuditInput:
    orders_csv: pd.DataFrame | None  # None: a live database audited without a run directory
    events: pd.DataFrame
    polls: pd.DataFrame | None
    db_orders: pd.DataFrame
    keys: pd.DataFrame  # card_keys: product_id, secret, status, order_no, source
    products: pd.DataFrame  # id, kind
    ended_at: float
    transparency: str = "transparent"
    stall_after_s: float = 30.0
    reconcile_after_paid_s: float = 5.0  # the shop asks the channel no sooner than this
    receipts: StoredLog | None = None  # the receipt log; None: the shop kept none


@dataclass
class Check:
    name: str
    description: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None  # why the check could not run (it then neither passed nor failed)

    @property
    def passed(self) -> bool:
        return not self.rows

    def as_dict(self, limit: int = 50) -> dict[str, Any]:
        shown = {"name": self.name, "description": self.description, "passed": self.passed,
                 "violations": len(self.rows), "rows": self.rows[:limit]}
        return shown | ({"skipped": self.skipped} if self.skipped else {})


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    return frame[columns].astype(object).where(frame[columns].notna(), None).to_dict("records")


def paid_orders_accounted(a: AuditInput) -> list[dict[str, Any]]:
    o = a.db_orders
    paid = o[o["paid_at"].notna()]
    stuck = paid["state"].isin([s.value for s in IN_FLIGHT]) & (
        paid["updated_at"] < a.ended_at - a.stall_after_s)
    lost = ~paid["state"].isin(ACCOUNTED | {s.value for s in IN_FLIGHT})
    return _records(paid[stuck | lost], ["order_no", "state", "paid_at", "updated_at"])


def payments_confirmed(a: AuditInput) -> list[dict[str, Any]]:
    o = a.db_orders
    unheard = o[o["buyer_paid_at"].notna() & o["paid_at"].isna()
                & (o["buyer_paid_at"]
                   < a.ended_at - a.stall_after_s - a.reconcile_after_paid_s)]
    return _records(unheard, ["order_no", "state", "buyer_paid_at"])


def keys_sold_once(a: AuditInput) -> list[dict[str, Any]]:
    sold = a.keys[a.keys["status"] == "sold"]
    twice = sold[sold.duplicated(["product_id", "secret"], keep=False)]
    return _records(twice, ["product_id", "secret", "order_no"])


def delivered_once(a: AuditInput) -> list[dict[str, Any]]:
    delivered = a.events[a.events["state"] == "delivered"]
    counts = delivered.groupby("order_no").size()
    return [{"order_no": n, "delivered_events": int(c)} for n, c in counts[counts > 1].items()]


def stock_matches_keys(a: AuditInput) -> list[dict[str, Any]]:
    """Sold keys belong to delivered orders, reserved keys to orders that may hold them, and a
    delivered order has exactly as many sold keys as it ordered."""
    state = a.db_orders.set_index("order_no")["state"]
    keys = a.keys[a.keys["order_no"].notna()]
    owner = keys["order_no"].map(state)
    bad = keys[((keys["status"] == "sold") & (owner != "delivered"))
               | ((keys["status"] == "reserved") & ~owner.isin(HOLDS_KEYS))
               | (keys["status"] == "available")]
    rows = _records(bad.assign(order_state=owner[bad.index]),
                    ["order_no", "secret", "status", "order_state"])
    sold = a.keys[a.keys["status"] == "sold"].groupby("order_no").size()
    delivered = a.db_orders[a.db_orders["state"] == "delivered"].set_index("order_no")
    have = sold.reindex(delivered.index, fill_value=0)
    short = delivered[have != delivered["quantity"]]
    rows += [{"order_no": n, "quantity": int(q), "sold_keys": int(have[n])}
             for n, q in short["quantity"].items()]
    return rows


def ledger_verifies(a: AuditInput) -> list[dict[str, Any]]:
    events = a.events.sort_values(["order_no", "seq"], kind="stable")
    rows: list[dict[str, Any]] = [
        {"order_no": b.order_no, "seq": b.seq, "reason": b.reason}
        for b in verify_chain(events.to_dict("records"))]
    last = events.groupby("order_no")["state"].last()
    final = a.db_orders.set_index("order_no")["state"]
    differs = final[final.reindex(last.index).ne(last).reindex(final.index, fill_value=True)]
    rows += [{"order_no": n, "seq": None,
              "reason": f"order is {s} but its ledger ends in {last.get(n, 'nothing')}"}
             for n, s in differs.items()]
    return rows


def orders_match_database(a: AuditInput) -> list[dict[str, Any]]:
    assert a.orders_csv is not None  # run_checks skips it without a run directory
    csv = a.orders_csv.set_index("order_no")
    db = a.db_orders.set_index("order_no")
    rows = [{"order_no": n, "problem": "in the database, not in orders.csv"}
            for n in db.index.difference(csv.index)]
    rows += [{"order_no": n, "problem": "in orders.csv, not in the database"}
             for n in csv.index.difference(db.index)]
    both = csv.index.intersection(db.index)
    state_differs = csv.loc[both, "final_state"].ne(db.loc[both, "state"])
    rows += [{"order_no": n, "problem": f"final_state {csv.at[n, 'final_state']} vs "
              f"{db.at[n, 'state']}"} for n in both[state_differs.to_numpy()]]
    for column in ("paid_at", "delivered_at"):
        x, y = csv.loc[both, column], db.loc[both, column]
        differs = ~((x.isna() & y.isna()) | ((x - y).abs() < 1e-3))
        rows += [{"order_no": n, "problem": f"{column} differs"} for n in both[differs]]
    return rows


def polls_truthful(a: AuditInput) -> list[dict[str, Any]]:
    """Every successful observation shows a state the order was in shortly before it was seen."""
    assert a.polls is not None  # run_checks skips it without a run directory
    polls = a.polls[(a.polls["http_status"] == 200) & a.polls["state_seen"].notna()
                    & (a.polls["state_seen"] != "")].copy()
    if polls.empty:
        return []
    label: Callable[[str], str] = (
        (lambda s: opaque_label(OrderState(s))) if a.transparency == "opaque" else str)
    events = a.events.sort_values(["order_no", "seq"], kind="stable")
    shown = events.assign(shown=events["state"].map(label))
    history = shown.groupby("order_no")[["at", "shown"]].apply(
        lambda g: list(zip(g["at"], g["shown"], strict=True))).to_dict()
    rows = []
    for p in polls.itertuples(index=False):
        start = p.at - (p.latency_ms or 0) / 1000 - SHOWN_LATE_S
        steps = history.get(p.order_no, [])
        allowed = {s for at, s in steps if start <= at <= p.at}
        before = [s for at, s in steps if at < start]
        if before:
            allowed.add(before[-1])
        if p.state_seen not in allowed:
            rows.append({"order_no": p.order_no, "at": p.at, "state_seen": p.state_seen,
                         "states_then": sorted(allowed)})
    return rows


def receipts_verify(a: AuditInput) -> list[dict[str, Any]]:
    assert a.receipts is not None  # run_checks skips it without a receipt log
    return audit_log(a.receipts)


CHECKS: list[tuple[str, str, Callable[[AuditInput], list[dict[str, Any]]]]] = [
    ("paid_orders_accounted", "Every paid order is delivered, refunded, in a visible needs_* "
     "state, or still moving (in flight and changed within stall_after_s of the end).",
     paid_orders_accounted),
    ("payments_confirmed", "Every order whose buyer said they had paid was confirmed paid by "
     "the shop (callback or reconciliation) within stall_after_s + reconcile_after_paid_s.",
     payments_confirmed),
    ("keys_sold_once", "No key was sold twice.", keys_sold_once),
    ("delivered_once", "No order was delivered twice.", delivered_once),
    ("stock_matches_keys", "Sold keys belong to delivered orders, reserved keys to orders that "
     "may hold them; each delivered order has as many sold keys as it ordered.",
     stock_matches_keys),
    ("ledger_verifies", "Every order's event chain verifies and ends in the order's state.",
     ledger_verifies),
    ("orders_match_database", "orders.csv agrees with the shop's database.",
     orders_match_database),
    ("receipts_verify", "Every logged event is as it was logged, and the log still produces "
     "every head the shop signed and the drill recorded (docs/receipts.md).", receipts_verify),
    ("polls_truthful", "Buyers were never shown a state the order was not in at the time.",
     polls_truthful),
]


# Checks that compare the shop's database with what the drill observed (the run directory).
NEEDS_RUN_DIR = frozenset({"orders_match_database", "polls_truthful"})


def run_checks(a: AuditInput) -> list[Check]:
    """Every check; without a run directory, those that need one are skipped, saying so."""
    return [Check(name, description, skipped=_skipped(a, name)) if _skipped(a, name)
            else Check(name, description, fn(a)) for name, description, fn in CHECKS]


def _skipped(a: AuditInput, name: str) -> str | None:
    if name in NEEDS_RUN_DIR and (a.orders_csv is None or a.polls is None):
        return "needs the run directory (what the buyers saw)"
    if name == "receipts_verify" and a.receipts is None:
        return "the shop kept no receipt log (receipts off, or an older database)"
    return None
