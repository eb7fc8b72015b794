"""A small outside run directory written through the real export (`scenarios/outside.py`):
what buyers recorded, what the gateway journaled, and the drill's probes — each order made to
show one thing the external audit must find (or not).

    A  paid, notified, delivered in 1 s                      (fine)
    B  the first notify failed, delivered 7 s after paying   (late)
    C  notified with 9.99 instead of 10.00, taken, delivered (wrong amount led to delivery)
    D  notified, answered success, still unpaid a minute on  (acknowledged, not applied)
    E  never paid, shown A's key                             (delivered unpaid, key twice)
    F  paid, notified, "completed" with no key to fetch      (status without keys)
    G  never paid, shown the shop's own state "abnormal"     (an unmapped state, kept)
    P  the drill's probe order (forged signature): not among the orders
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from fakalab.contract import epay
from fakalab.contract.profile import parse_profile
from fakalab.contract.rundir import (
    BUYER_RECORD_COLUMNS,
    OUTSIDE_SOURCES,
    POLL_COLUMNS,
    PROBE_COLUMNS,
    TICKET_COLUMNS,
    UNOBSERVABLE_OUTSIDE,
)
from fakalab.scenarios.outside import export_outside
from fakalab.scenarios.profile_client import digest

T0 = 1_800_000_000.0
SLA_S = 5.0
ENDED = T0 + 200
KEY = "k"
PROFILE = parse_profile({
    "name": "tiny-outside",
    "create_order": {"request": {"method": "POST", "path": "/o"},
                     "extract": {"order_id": "id", "pay_url": "pay"}},
    "status": {"request": {"path": "/o/{order_id}"}, "extract": {"state": "s"}},
    "states": {"wait_pay": "pending_payment", "paid": "paid", "completed": "delivered"}},
    {}, "tiny")
K1, K2, K3 = digest("KEY-1"), digest("KEY-2"), digest("KEY-3")


def _journal() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []

    def trade(no: str, at: float) -> None:
        entries.append({"op": "create", "trade_no": "T" + no, "out_trade_no": no,
                        "money": "10", "created_at": at})

    def paid(no: str, at: float) -> None:
        entries.append({"op": "pay", "trade_no": "T" + no, "paid_at": at})

    def notify(no: str, at: float, ok: bool, money: str = "10.00", status: int = 200,
               op: str = "notify", kind: str = "") -> None:
        fields = epay.signed({"pid": "1000", "trade_no": "T" + no, "out_trade_no": no,
                              "money": money, "trade_status": "TRADE_SUCCESS"}, KEY)
        entries.append({"op": op, "kind": kind, "at": at, "trade_no": "T" + no,
                        "out_trade_no": no, "fields": fields, "status": status,
                        "reply": "success" if ok else "fail", "seconds": 0.01,
                        "acknowledged": ok})

    for no, at in (("A", 0), ("B", 2), ("C", 3), ("D", 4), ("E", 5), ("F", 6), ("G", 7),
                   ("P", 8)):
        trade(no, T0 + at)
    paid("A", T0 + 1.0)
    notify("A", T0 + 1.2, True)
    paid("B", T0 + 3.0)
    notify("B", T0 + 3.1, False, status=500)
    notify("B", T0 + 4.2, True)
    paid("C", T0 + 4.0)
    notify("C", T0 + 4.1, True, money="9.99")
    paid("D", T0 + 5.0)
    notify("D", T0 + 5.1, True)
    paid("F", T0 + 7.0)
    notify("F", T0 + 7.1, True)
    notify("P", T0 + 9.0, True, op="probe", kind="forged_sign")
    return entries


def _records() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    buyers: list[tuple[Any, ...]] = []
    polls: list[tuple[Any, ...]] = []

    def created(no: str, at: float) -> None:
        buyers.append((no, T0 + at, "created", json.dumps(
            {"persona": "buyer", "product_id": "1", "quantity": 1, "amount": "10",
             "state": "wait_pay"})))
        buyers.append((no, T0 + at + 0.1, "cashier", f"http://gw.test/pay/T{no}"))

    def poll(no: str, at: float, state: str) -> None:
        polls.append((no, T0 + at, "buyer", "poll", 200, 5.0, state, "", ""))

    for no, at in (("A", 0), ("B", 2), ("C", 3), ("D", 4), ("E", 5), ("F", 6), ("G", 7)):
        created(no, at)
    buyers += [("A", T0 + 2.0, "key", K1), ("B", T0 + 10.0, "key", K2),
               ("C", T0 + 4.5, "key", K3), ("E", T0 + 6.0, "key", K1),
               ("F", T0 + 8.0, "no_key", "completed")]
    poll("A", 1.5, "paid")
    poll("A", 2.0, "completed")
    poll("B", 10.0, "completed")
    poll("C", 4.5, "completed")
    poll("D", 6.0, "wait_pay")
    poll("D", 60.0, "wait_pay")
    poll("E", 6.0, "completed")
    poll("F", 8.0, "completed")
    poll("G", 8.0, "abnormal")
    return buyers, polls


def _csv(path: Path, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)


PROBES = [("forged_sign", "P", "TP", T0 + 9.0, 200, "success", "true", "", "",
           "pending_payment", "")]


def write_outside_run(root: Path) -> Path:
    """The run directory, with its orders.csv, events.csv, … exported from the raw parts."""
    root.mkdir(parents=True)
    records = root / "locust" / "records"
    records.mkdir(parents=True)
    buyers, polls = _records()
    _csv(records / "buyers-1.csv", BUYER_RECORD_COLUMNS, buyers)
    _csv(records / "polls-1.csv", POLL_COLUMNS, polls)
    _csv(records / "tickets-1.csv", TICKET_COLUMNS, [("D", T0 + 40, "stale_status", 35.0)])
    journal = root / "upstreams" / "epay.jsonl"
    journal.parent.mkdir()
    journal.write_text("".join(json.dumps(e) + "\n" for e in _journal()) + '{"op": "cre')
    _csv(root / "probes.csv", PROBE_COLUMNS, PROBES)
    counts = export_outside(root, journal, PROFILE, SLA_S, ENDED, None, {"P"})
    (root / "run.json").write_text(json.dumps({
        "format_version": 2, "run_id": "19700101-000000-outside", "scenario": "tiny-outside",
        "variant": None, "seed": 1, "started_at": T0 - 1, "ended_at": ENDED, "sla_s": SLA_S,
        "shop": {}, "slos": [], "valid": True, "view": "outside",
        "sources": OUTSIDE_SOURCES, "unobservable": list(UNOBSERVABLE_OUTSIDE),
        "load": {"counts": counts}}))
    return root
