"""The external audit: what a buyer, a payment gateway and an auditor can prove about a shop
without its database (pure checks over an outside run directory, docs/run-dir.md).

Each check returns the offending rows; a check about a probe that could not be made is not
judged (`skipped` says why) rather than passed in silence.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["CHECKS", "OutsideCheck", "OutsideInput", "audit_outside", "load_outside",
           "run_outside_checks"]

NOT_YET_PAID = frozenset({"pending_payment", "expired", ""})
ACCOUNTED = frozenset({"delivered", "refunded", "needs_refund", "needs_attention",
                       "needs_review"})
SHOWN_LATE_S = 1.0  # a status may lag the shop's answer to a notification by this much


@dataclass
class OutsideInput:
    orders: pd.DataFrame
    events: pd.DataFrame
    polls: pd.DataFrame
    notifies: pd.DataFrame
    keys: pd.DataFrame
    probes: pd.DataFrame
    ended_at: float
    sla_s: float


@dataclass
class OutsideCheck:
    name: str
    description: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None  # why it could not be judged (None: it was)

    @property
    def passed(self) -> bool:
        return not self.rows

    def as_dict(self, limit: int = 50) -> dict[str, Any]:
        shown = {"name": self.name, "description": self.description, "passed": self.passed,
                 "violations": len(self.rows), "rows": self.rows[:limit]}
        return shown | ({"skipped": self.skipped} if self.skipped else {})


Result = tuple[list[dict[str, Any]], str]  # offending rows, why not judged


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    return frame[columns].astype(object).where(frame[columns].notna(), None).to_dict("records")


def _money(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _shown_keys(a: OutsideInput) -> pd.DataFrame:
    """(order_no, key_sha256) of every key shown: the buyers' orders and the probes'."""
    shown = [a.keys[["order_no", "key_sha256"]]] if not a.keys.empty else []
    for r in a.probes.itertuples():
        for column in ("keys_before", "keys_after"):
            digests = [k for k in str(getattr(r, column, "") or "").split(";") if k]
            if digests:
                shown.append(pd.DataFrame({"order_no": r.order_no, "key_sha256": digests}))
    return pd.concat(shown) if shown else pd.DataFrame(columns=["order_no", "key_sha256"])


def key_delivered_once(a: OutsideInput) -> Result:
    per_key = _shown_keys(a).groupby("key_sha256")["order_no"].agg(lambda s: sorted(set(s)))
    twice = per_key[per_key.map(len) > 1]
    return [{"key_sha256": k, "orders": v} for k, v in twice.items()], ""


def paid_orders_delivered(a: OutsideInput) -> Result:
    o = a.orders
    stranded = o[o["buyer_paid_at"].notna() & o["delivered_at"].isna()
                 & (o["buyer_paid_at"] < a.ended_at - a.sla_s)
                 & ~o["final_state"].isin(list(ACCOUNTED))]
    return _records(stranded, ["order_no", "buyer_paid_at", "final_state", "state_seen",
                               "notify_attempts", "acknowledged_at"]), ""


def delivered_only_when_paid(a: OutsideInput) -> Result:
    o = a.orders
    unpaid = o[o["delivered_at"].notna() & o["buyer_paid_at"].isna()]
    return _records(unpaid, ["order_no", "delivered_at", "trade_no"]), ""


def _probe(a: OutsideInput, kind: str) -> tuple[pd.DataFrame, str]:
    rows = a.probes[a.probes["probe"] == kind] if not a.probes.empty else a.probes
    if rows.empty:
        return rows, f"no {kind} probe in this run"
    made = rows[rows["problem"].fillna("") == ""]
    if made.empty:
        return made, f"the {kind} probe could not be made: {rows['problem'].iloc[0]}"
    return made, ""


def _moved_on(probes: pd.DataFrame) -> pd.DataFrame:
    """Probes after which the order showed a key or a paid-or-later state."""
    def moved(row: Any) -> bool:
        stages = [s for s in str(row.stages_after or "").split(";") if s]
        return bool(str(row.keys_after or "")) or any(s not in NOT_YET_PAID for s in stages)

    return probes[[moved(r) for r in probes.itertuples()]] if not probes.empty else probes


def _probe_check(kind: str) -> Callable[[OutsideInput], Result]:
    def check(a: OutsideInput) -> Result:
        made, why = _probe(a, kind)
        if why:
            return [], why
        return _records(_moved_on(made), ["order_no", "trade_no", "http_status", "reply",
                                          "stages_after", "keys_after"]), ""

    return check


def wrong_amount_refused(a: OutsideInput) -> Result:
    """The probe, and every genuine notification of the wrong amount the shop answered
    `success` to while the gateway had not told it the trade was paid."""
    rows, why = _probe_check("wrong_amount")(a)
    n = a.notifies[(a.notifies["kind"] == "notify") & a.notifies["acknowledged"]]
    o = a.orders.set_index("order_no")
    for r in n.itertuples():
        if r.order_no not in o.index:
            continue
        order = o.loc[r.order_no]
        if _money(r.money) == _money(order["gateway_money"]) or pd.isna(order["delivered_at"]):
            continue
        confirmed = order["gateway_confirmed_at"]
        if pd.notna(confirmed) and confirmed <= order["delivered_at"]:
            continue  # delivered on the gateway's word, whatever the shop said to the notify
        rows.append({"order_no": r.order_no, "trade_no": r.trade_no, "money": r.money,
                     "expected": order["gateway_money"], "acknowledged_at": r.at,
                     "delivered_at": order["delivered_at"]})
    return rows, why if not rows else ""


def replay_delivered_once(a: OutsideInput) -> Result:
    made, why = _probe(a, "replay")
    rows = []
    for r in made.itertuples():
        before = {k for k in str(r.keys_before or "").split(";") if k}
        after = {k for k in str(r.keys_after or "").split(";") if k}
        if after - before:
            rows.append({"order_no": r.order_no, "trade_no": r.trade_no,
                         "keys_before": len(before), "new_keys_after": len(after - before)})
    o = a.orders
    twice = o[o["keys_shown"].fillna(0) > o["quantity"].fillna(1)]
    rows += _records(twice, ["order_no", "quantity", "keys_shown"])
    return rows, why if not rows else ""


def acknowledged_notifies_applied(a: OutsideInput) -> Result:
    """A genuine notification answered `success`, after which the buyer — still looking — never
    saw the order paid, worked on or delivered: the gateway stopped, the buyer is stranded."""
    o = a.orders
    acked = o[o["paid_at"].notna() & o["delivered_at"].isna()]
    if acked.empty:
        return [], ""
    moved = set(a.events.loc[~a.events["state"].fillna("").isin(list(NOT_YET_PAID)),
                             "order_no"])
    ok_polls = a.polls[(a.polls["http_status"] >= 200) & (a.polls["http_status"] < 300)]
    last_look = ok_polls.groupby("order_no")["at"].max()
    rows = []
    for r in acked.itertuples():
        looked = last_look.get(r.order_no)
        if r.order_no in moved or looked is None or looked < r.paid_at + SHOWN_LATE_S:
            continue
        rows.append({"order_no": r.order_no, "acknowledged_at": r.paid_at,
                     "last_looked_at": float(looked), "state_seen": r.state_seen})
    return rows, ""


def status_matches_keys(a: OutsideInput) -> Result:
    o = a.orders
    empty = o[o["no_key_at"].notna()]
    return _records(empty, ["order_no", "no_key_at", "state_seen"]), ""


CHECKS: list[tuple[str, str, Callable[[OutsideInput], Result]]] = [
    ("key_delivered_once", "No key (its SHA-256) was shown to two orders (the probes' "
     "included).", key_delivered_once),
    ("paid_orders_delivered", "Every order paid at the gateway at least sla_s before the end was "
     "delivered, or shows a refund or a needs_* state.", paid_orders_delivered),
    ("delivered_only_when_paid", "No order showed a key without a payment at the gateway.",
     delivered_only_when_paid),
    ("wrong_amount_refused", "A notification with the wrong amount never led to delivery (the "
     "probe, and genuine ones the shop took before the gateway confirmed the payment).",
     wrong_amount_refused),
    ("forged_notify_refused", "A notification with a forged signature never moved an unpaid "
     "order on (no paid-or-later state, no key).", _probe_check("forged_sign")),
    ("other_merchant_refused", "A notification for another merchant's pid never moved an "
     "unpaid order on.", _probe_check("other_pid")),
    ("replay_delivered_once", "A replayed notification delivered nothing new, and no order "
     "showed more keys than it ordered.", replay_delivered_once),
    ("acknowledged_notifies_applied", "Every genuine notification the shop answered `success` "
     "to was applied: the buyer, still looking a second later, saw it paid or delivered.",
     acknowledged_notifies_applied),
    ("status_matches_keys", "No status said delivered while no key could be fetched.",
     status_matches_keys),
]


def run_outside_checks(a: OutsideInput) -> list[OutsideCheck]:
    checks = []
    for name, description, fn in CHECKS:
        rows, skipped = fn(a)
        checks.append(OutsideCheck(name, description, rows, skipped or None))
    return checks


class OutsideAuditError(Exception):
    """The run cannot be audited from outside; the message names what is missing."""


def _csv(path: Path, floats: tuple[str, ...] = (), required: bool = True) -> pd.DataFrame:
    if not path.is_file():
        if required:
            raise OutsideAuditError(f"{path}: file is missing")
        return pd.DataFrame()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in floats:
        if column in frame:
            frame[column] = pd.to_numeric(frame[column].replace("", None), errors="coerce")
    return frame


def _bools(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        if column in frame:
            frame[column] = frame[column].str.lower() == "true"
    return frame


def load_outside(run_dir: Path) -> OutsideInput:
    meta_path = run_dir / "run.json"
    if not meta_path.is_file():
        raise OutsideAuditError(f"{run_dir}: not a run directory (no run.json)")
    meta = json.loads(meta_path.read_text())
    orders = _csv(run_dir / "orders.csv", ("created_at", "paid_at", "buyer_paid_at",
                                            "delivered_at", "acknowledged_at",
                                            "gateway_confirmed_at", "keys_shown", "no_key_at",
                                            "quantity", "notify_attempts"))
    missing = [c for c in ("trade_no", "gateway_money", "no_key_at") if c not in orders]
    if missing:
        raise OutsideAuditError(f"{run_dir / 'orders.csv'}: missing column(s) "
                                f"{', '.join(missing)}: not an outside run directory")
    notifies = _bools(_csv(run_dir / "notifies.csv", ("at", "http_status", "seconds")),
                      "acknowledged")
    probes = _csv(run_dir / "probes.csv", ("sent_at", "http_status"), required=False)
    if probes.empty:
        probes = pd.DataFrame(columns=["probe", "order_no", "problem", "keys_before",
                                       "keys_after"])
    return OutsideInput(orders, _csv(run_dir / "events.csv", ("at",)),
                        _csv(run_dir / "polls.csv", ("at", "http_status")), notifies,
                        _csv(run_dir / "keys.csv", ("at",)), probes,
                        float(meta["ended_at"]), float(meta["sla_s"]))


def audit_outside(run_dir: Path) -> list[OutsideCheck]:
    """Run every check and write audit.json; raises OutsideAuditError when it can't."""
    checks = run_outside_checks(load_outside(run_dir))
    document = {"format_version": 2, "view": "outside", "run_dir": str(run_dir),
                "passed": all(c.passed for c in checks),
                "checks": [c.as_dict() for c in checks]}
    (run_dir / "audit.json").write_text(json.dumps(document, indent=1, default=str))
    return checks
