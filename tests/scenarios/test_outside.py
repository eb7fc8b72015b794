"""The outside view of a run: orders, events, notifies and keys built from what the buyers
recorded and the gateway journaled (no shop database)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from fakalab.contract.rundir import KEY_COLUMNS, NOTIFY_COLUMNS, OUTSIDE_ORDER_COLUMNS
from tests.scenarios.outside_run import K1, T0, write_outside_run


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_outside_run(tmp_path_factory.mktemp("outside") / "run")


def test_orders_say_what_the_buyer_and_the_gateway_saw(run: Path) -> None:
    with open(run / "orders.csv", newline="") as handle:
        assert tuple(next(csv.reader(handle))) == OUTSIDE_ORDER_COLUMNS
    orders = {o["order_no"]: o for o in rows(run / "orders.csv")}
    assert sorted(orders) == list("ABCDEFG")  # the probe order P is in probes.csv only
    a = orders["A"]
    assert (float(a["buyer_paid_at"]), float(a["paid_at"]), float(a["delivered_at"])) == (
        T0 + 1.0, T0 + 1.2, T0 + 2.0)
    assert (a["final_state"], a["state_seen"], a["priority"], a["channel"]) == (
        "delivered", "completed", "", "epay")
    assert (a["trade_no"], a["gateway_money"], a["keys_shown"], a["delayed"]) == (
        "TA", "10.00", "1", "false")
    b = orders["B"]
    assert (b["notify_attempts"], float(b["paid_at"]), b["delayed"]) == ("2", T0 + 4.2, "true")
    assert orders["C"]["paid_at"] == ""  # the only notification it took had the wrong amount
    assert orders["E"]["buyer_paid_at"] == "" and orders["E"]["delivered_at"]
    assert orders["F"]["no_key_at"] and orders["F"]["delivered_at"] == ""
    assert orders["G"]["final_state"] == "abnormal"  # not mapped: kept verbatim


def test_events_are_each_state_first_seen_and_carry_no_hash(run: Path) -> None:
    events = [e for e in rows(run / "events.csv") if e["order_no"] == "A"]
    assert [(e["seq"], e["state"]) for e in events] == [
        ("1", "pending_payment"), ("2", "paid"), ("3", "delivered")]
    assert all(e["hash"] == "" and e["prev_hash"] == "" for e in events)


def test_notifies_and_keys(run: Path) -> None:
    with open(run / "notifies.csv", newline="") as handle:
        assert tuple(next(csv.reader(handle))) == NOTIFY_COLUMNS
    notifies = rows(run / "notifies.csv")
    assert [(n["order_no"], n["http_status"], n["acknowledged"]) for n in notifies
            if n["order_no"] == "B"] == [("B", "500", "false"), ("B", "200", "true")]
    assert "P" not in {n["order_no"] for n in notifies}
    with open(run / "keys.csv", newline="") as handle:
        assert tuple(next(csv.reader(handle))) == KEY_COLUMNS
    keys = rows(run / "keys.csv")
    assert {k["order_no"] for k in keys if k["key_sha256"] == K1} == {"A", "E"}
    assert all(len(k["key_sha256"]) == 64 for k in keys)  # digests, never the keys
