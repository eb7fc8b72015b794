"""The run directory of a shop seen from the outside (docs/run-dir.md, view "outside").

No shop database: what the buyers saw (their records, polls and tickets), what fakalab's 易支付
gateway saw (its journal: trades, payments, every notification and the shop's reply, api.php
queries) and what the drill did (faults, probes) become orders.csv, events.csv (each state the
first time a buyer saw it), notifies.csv and keys.csv. `outside_tables` is pure; `export_outside`
reads and writes the files.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakalab.chaos.journal import write_faults_csv
from fakalab.contract import epay
from fakalab.contract.profile import Profile
from fakalab.contract.rundir import (
    EVENT_COLUMNS,
    KEY_COLUMNS,
    NOTIFY_COLUMNS,
    OUTSIDE_ORDER_COLUMNS,
    buyer_paid_at,
    cell,
    delays,
)
from fakalab.scenarios.locust.records import buyer_records, merge_records

__all__ = ["OutsideTables", "Trade", "export_outside", "outside_tables", "read_journal"]


@dataclass
class Trade:
    """One trade at the gateway, as its journal tells it."""

    trade_no: str
    out_trade_no: str
    money: str
    created_at: float
    paid_at: float | None = None
    confirmed_at: float | None = None  # first api.php answer "paid" to the shop
    notifies: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Buyer:
    order_no: str
    created_at: float
    persona: str = ""
    product_id: str = ""
    quantity: int = 1
    amount: str = ""
    state: str = ""
    trade_no: str = ""
    paid_at: float | None = None  # the cashier took the payment (the buyer's clock)
    keys: list[tuple[float, str]] = field(default_factory=list)
    no_key_at: float | None = None


@dataclass(frozen=True)
class OutsideTables:
    orders: list[dict[str, Any]]
    events: list[dict[str, Any]]
    notifies: list[dict[str, Any]]
    keys: list[dict[str, Any]]


def read_journal(lines: Iterable[str]) -> dict[str, Trade]:
    """Trades by the gateway's trade number (torn or foreign lines are skipped)."""
    trades: dict[str, Trade] = {}
    by_out: dict[str, str] = {}
    for line in lines:
        try:
            entry = json.loads(line)
            op = entry["op"]
            if op == "create":
                trades[entry["trade_no"]] = Trade(entry["trade_no"], entry["out_trade_no"],
                                                  str(entry["money"]), entry["created_at"])
                by_out[entry["out_trade_no"]] = entry["trade_no"]
            elif op == "pay":
                trades[entry["trade_no"]].paid_at = entry["paid_at"]
            elif op in ("notify", "probe"):
                trades[entry["trade_no"]].notifies.append(entry)
            elif op == "request" and entry.get("endpoint") == "api.php" and \
                    entry.get("outcome") == "status 1":
                out = entry["fields"].get("out_trade_no") or ""
                trade = trades.get(entry["fields"].get("trade_no") or by_out.get(out, ""))
                if trade is not None and trade.confirmed_at is None:
                    trade.confirmed_at = entry["at"]
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return trades


def _buyers(records: Sequence[dict[str, str]]) -> dict[str, _Buyer]:
    buyers: dict[str, _Buyer] = {}
    for row in records:
        no, at, what, value = row["order_no"], float(row["at"]), row["what"], row["value"]
        if what == "created":
            info = json.loads(value or "{}")
            buyers[no] = _Buyer(no, at, str(info.get("persona") or ""),
                                str(info.get("product_id") or ""),
                                int(info.get("quantity") or 1),
                                "" if info.get("amount") is None else str(info["amount"]),
                                "" if info.get("state") is None else str(info["state"]))
            continue
        buyer = buyers.get(no)
        if buyer is None:
            continue
        if what == "cashier":
            buyer.trade_no = value.rstrip("/").rsplit("/", 1)[-1]
        elif what == "paid" and buyer.paid_at is None:
            buyer.paid_at = at
        elif what == "key" and value not in {k for _, k in buyer.keys}:
            buyer.keys.append((at, value))
        elif what == "no_key" and buyer.no_key_at is None:
            buyer.no_key_at = at
    return buyers


def _money_text(value: Any) -> str:
    amount = epay.money(value)
    return "" if amount is None else f"{amount:.2f}"


def _notify_rows(order_no: str, trade: Trade) -> list[dict[str, Any]]:
    rows = []
    for n in trade.notifies:
        fields = n.get("fields") or {}
        rows.append({"order_no": order_no, "trade_no": trade.trade_no, "at": n.get("at"),
                     "kind": n.get("kind") if n.get("op") == "probe" else "notify",
                     "pid": fields.get("pid"), "money": fields.get("money"),
                     "http_status": n.get("status"), "reply": (n.get("reply") or "")[:200],
                     "acknowledged": bool(n.get("acknowledged")), "seconds": n.get("seconds")})
    return rows


def _first_ack(trade: Trade | None) -> float | None:
    """When the shop first answered `success` to a genuine notification of the right amount."""
    if trade is None:
        return None
    money = epay.money(trade.money)
    for n in trade.notifies:
        if n.get("op") == "notify" and n.get("acknowledged") and \
                epay.money((n.get("fields") or {}).get("money")) == money:
            return float(n["at"])
    return None


def _observations(order: _Buyer, polls: Sequence[dict[str, str]]
                  ) -> list[tuple[float, str, str, str]]:
    """(at, state, message, eta) of what the buyer saw, in time order, the create first."""
    seen = [(order.created_at, order.state, "", "")] if order.state else []
    for p in polls:
        status = p.get("http_status") or ""
        if status.isdigit() and 200 <= int(status) < 300 and p.get("state_seen"):
            seen.append((float(p["at"]), p["state_seen"], p.get("message_seen") or "",
                         p.get("eta_seen") or ""))
    return sorted(seen, key=lambda o: o[0])


def _events(order_no: str, seen: list[tuple[float, str, str, str]], profile: Profile
            ) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    first: set[str] = set()
    for at, state, message, eta in seen:
        stage = profile.stage(state)
        if stage in first:
            continue
        first.add(stage)
        rows.append({"order_no": order_no, "seq": len(rows) + 1, "at": at, "state": stage,
                     "message": message, "eta_at": eta, "visible": True, "prev_hash": "",
                     "hash": ""})
    return rows


def outside_tables(records: Sequence[dict[str, str]], polls: Sequence[dict[str, str]],
                   trades: dict[str, Trade], profile: Profile, sla_s: float, ended_at: float,
                   excluded: set[str] | None = None) -> OutsideTables:
    """The outside view's tables; `excluded`: order numbers of the drill's own probe orders
    (they are in probes.csv, not among the buyers' orders)."""
    buyers = {no: b for no, b in _buyers(records).items() if no not in (excluded or set())}
    by_out = {t.out_trade_no: t for t in trades.values()}
    polls_of: dict[str, list[dict[str, str]]] = {}
    for p in polls:
        polls_of.setdefault(p["order_no"], []).append(p)
    orders, events, notifies, keys = [], [], [], []
    for no, b in sorted(buyers.items(), key=lambda item: item[1].created_at):
        trade = trades.get(b.trade_no) or by_out.get(no)
        seen = _observations(b, polls_of.get(no, []))
        last = profile.stage(seen[-1][1]) if seen else ""
        orders.append({
            "order_no": no, "product_id": b.product_id, "priority": None,
            "quantity": b.quantity, "amount": b.amount or (trade.money if trade else ""),
            "channel": "epay", "persona": b.persona, "created_at": b.created_at,
            "paid_at": _first_ack(trade),
            "buyer_paid_at": trade.paid_at if trade and trade.paid_at else b.paid_at,
            "delivered_at": b.keys[0][0] if b.keys else None, "final_state": last,
            "trade_no": trade.trade_no if trade else "",
            "gateway_money": _money_text(trade.money) if trade else "",
            "notify_attempts": sum(n.get("op") == "notify" for n in trade.notifies)
            if trade else 0,
            "acknowledged_at": next((n["at"] for n in trade.notifies if n.get("acknowledged")),
                                    None) if trade else None,
            "gateway_confirmed_at": trade.confirmed_at if trade else None,
            "keys_shown": len(b.keys), "no_key_at": b.no_key_at,
            "state_seen": seen[-1][1] if seen else ""})
        events += _events(no, seen, profile)
        notifies += _notify_rows(no, trade) if trade else []
        keys += [{"order_no": no, "at": at, "key_sha256": d} for at, d in b.keys]
    clock = buyer_paid_at([o["paid_at"] for o in orders], [o["buyer_paid_at"] for o in orders])
    late = delays(clock, [o["delivered_at"] for o in orders], sla_s, ended_at).delayed
    for row, delayed in zip(orders, late, strict=True):
        row["delayed"] = bool(delayed)
    return OutsideTables(orders, events, notifies, keys)


def _write(path: Path, columns: Sequence[str], rows: list[dict[str, Any]]) -> int:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([cell(row.get(c)) for c in columns])
    return len(rows)


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def export_outside(run_dir: Path, journal_path: Path, profile: Profile, sla_s: float,
                   ended_at: float, chaos: dict[str, Any] | None,
                   excluded: set[str] | None = None) -> dict[str, int]:
    """Write the outside view's files into `run_dir`; returns the rows written per file."""
    records_dir = run_dir / "locust" / "records"
    counts = merge_records(records_dir, run_dir)
    polls = _read_csv(run_dir / "polls.csv")
    lines = journal_path.read_text().splitlines() if journal_path.is_file() else []
    tables = outside_tables(buyer_records(records_dir), polls, read_journal(lines), profile,
                            sla_s, ended_at, excluded or set())
    counts["orders"] = _write(run_dir / "orders.csv", OUTSIDE_ORDER_COLUMNS, tables.orders)
    counts["events"] = _write(run_dir / "events.csv", EVENT_COLUMNS, tables.events)
    counts["notifies"] = _write(run_dir / "notifies.csv", NOTIFY_COLUMNS, tables.notifies)
    counts["keys"] = _write(run_dir / "keys.csv", KEY_COLUMNS, tables.keys)
    if chaos is not None:
        (run_dir / "chaos.json").write_text(json.dumps(chaos, indent=1))
    write_faults_csv(chaos or {"faults": []}, run_dir / "faults.csv")
    counts["faults"] = len((chaos or {}).get("faults", []))
    return counts

