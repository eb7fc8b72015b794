"""The snapshot reader of a shop database at rest, and its two readers: the run directory's
export (byte for byte what the hand-written SQLite SELECTs gave before) and `fakalab audit` —
on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fakalab.contract.rundir import (
    EVENT_COLUMNS,
    INCIDENT_COLUMNS,
    ORDER_COLUMNS,
    buyer_paid_at,
    cell,
    delays,
    money,
)
from fakalab.reference_shop.audit_cli import AuditError, load_input
from fakalab.reference_shop.dburl import DatabaseProblem
from fakalab.reference_shop.statuspage import IncidentUpdate
from fakalab.reference_shop.storage import incidents, orders
from fakalab.reference_shop.storage.snapshot import read_snapshot
from fakalab.scenarios.export import export_run
from tests.conftest import free_port
from tests.reference_shop.fakes import Parts, build_parts

ROOT = Path(__file__).resolve().parents[2]
SLA_S = 30.0


async def populate(parts: Parts) -> float:
    """Orders in several states, an incident with awkward text; returns the end of the run."""
    for product in ("steam-50", "vip-month"):
        order = await parts.paid_order(product, quantity=1 if product == "steam-50" else 2)
        await parts.fulfilment.process(order.order_no)
    expiring = await parts.order()
    await parts.payments.expire_due(expiring.expires_at + 1)
    parts.fake.status["risk"] = 503
    stuck = await parts.paid_order()
    parts.clock.now += parts.settings.hold_s
    await parts.fulfilment.process(stuck.order_no)  # parked for a person
    await parts.spawned.run()
    unpaid = await parts.order()
    async with parts.db.write() as conn:
        await orders.note_buyer_paid(conn, unpaid.order_no, parts.clock.now)
        await incidents.add_updates(conn, [
            IncidentUpdate("INC-0001", "risk", "investigating", parts.clock.now,
                           'Risk is slow, "very" slow — déjà vu,\nagain'),
            IncidentUpdate("INC-0001", "risk", "resolved", parts.clock.now + 1.5, "Fine.")])
    return parts.clock.now + 1


def reference_export(path: Path, ended_at: float) -> dict[str, str]:
    """orders.csv, events.csv and incidents.csv as the export wrote them before the snapshot
    reader: hand-written SELECTs over sqlite3."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    query = ("select order_no, product_id, priority, quantity, amount_cents, channel, persona, "
             "created_at, paid_at, delivered_at, state, buyer_paid_at from orders "
             "order by created_at")
    rows = [{"order_no": r[0], "product_id": r[1], "priority": r[2], "quantity": r[3],
             "amount": money(r[4]), "channel": r[5], "persona": r[6], "created_at": r[7],
             "paid_at": r[8], "buyer_paid_at": r[11], "delivered_at": r[9], "final_state": r[10]}
            for r in con.execute(query)]
    clock = buyer_paid_at([r["paid_at"] for r in rows], [r["buyer_paid_at"] for r in rows])
    late = delays(clock, [r["delivered_at"] for r in rows], SLA_S, ended_at).delayed
    for row, delayed in zip(rows, late, strict=True):
        row["delayed"] = bool(delayed)
    events = [dict(zip(EVENT_COLUMNS, r, strict=True)) for r in con.execute(
        "select order_no, seq, at, state, message, eta_at, visible, prev_hash, hash "
        "from order_events order by order_no, seq")]
    for e in events:
        e["visible"] = bool(e["visible"])
    updates = [dict(zip(INCIDENT_COLUMNS, r, strict=True)) for r in con.execute(
        "select incident_id, component, state, at, message from incident_updates order by id")]
    con.close()

    def text(columns: tuple[str, ...], table: list[dict[str, object]]) -> str:
        out = io.StringIO(newline="")
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows([cell(r[c]) for c in columns] for r in table)
        return out.getvalue()

    return {"orders": text(ORDER_COLUMNS, rows), "events": text(EVENT_COLUMNS, events),
            "incidents": text(INCIDENT_COLUMNS, updates)}


def write_run_json(run_dir: Path, ended_at: float) -> None:
    (run_dir / "run.json").write_text(json.dumps({
        "format_version": 1, "ended_at": ended_at, "sla_s": SLA_S,
        "shop": {"transparency": "transparent", "stall_after_s": 30.0,
                 "reconcile_after_paid_s": 5.0}}))


def audit(run_dir: Path, *db: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fakalab", "audit", str(run_dir),
                           *(("--db", *db) if db else ())],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


async def test_a_snapshot_holds_every_table_the_export_and_the_audit_read(tmp_path: Path
                                                                          ) -> None:
    parts = await build_parts(tmp_path)
    await populate(parts)
    await parts.db.close()
    shop = read_snapshot(tmp_path / "shop.db")
    assert sorted(o.state for o in shop.orders) == [
        "delivered", "delivered", "expired", "needs_attention", "pending_payment"]
    assert [o.created_at for o in shop.orders] == sorted(o.created_at for o in shop.orders)
    assert [(e.order_no, e.seq) for e in shop.events] == sorted(
        (e.order_no, e.seq) for e in shop.events)
    assert [i.state for i in shop.incidents] == ["investigating", "resolved"]
    assert {k.status for k in shop.keys} == {"available", "reserved", "sold"}
    assert {(p.id, p.kind) for p in shop.products} == {("steam-50", "local"),
                                                       ("vip-month", "supplier")}
    assert read_snapshot(f"sqlite:///{tmp_path / 'shop.db'}") == shop  # a URL works too


async def test_the_export_is_byte_for_byte_what_it_was(tmp_path: Path) -> None:
    parts = await build_parts(tmp_path)
    ended_at = await populate(parts)
    await parts.db.close()
    export_run(tmp_path, tmp_path / "shop.db", SLA_S, ended_at, None)
    expected = reference_export(tmp_path / "shop.db", ended_at)
    for name, text in expected.items():
        assert (tmp_path / f"{name}.csv").read_bytes() == text.encode(), name
    assert "true" in expected["orders"] and "déjà" in expected["incidents"]  # both exercised
    write_run_json(tmp_path, ended_at)
    run = audit(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_missing_database_is_one_line_and_nothing_is_created(tmp_path: Path) -> None:
    with pytest.raises(DatabaseProblem, match=r"nope\.db: no shop database there$"):
        read_snapshot(tmp_path / "nope.db")
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_shop_database_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "shop.db").write_text("not a database")
    with pytest.raises(DatabaseProblem, match=r"shop\.db: not a shop database \("):
        read_snapshot(tmp_path / "shop.db")
    (tmp_path / "run.json").write_text(json.dumps({"ended_at": 0}))
    with pytest.raises(AuditError, match="not a shop database"):
        load_input(tmp_path)


def test_the_audit_names_a_database_it_cannot_reach(tmp_path: Path) -> None:
    write_run_json(tmp_path, 0.0)
    port = free_port()
    run = audit(tmp_path, f"postgresql://127.0.0.1:{port}/shop")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [
        f"error: cannot connect to the database at postgresql+asyncpg://127.0.0.1:{port}/shop:"
        f" connection refused"]
    run = audit(tmp_path, "mysql://localhost/shop")
    assert run.returncode == 2 and "the forms that work" in run.stderr


async def test_on_postgresql_the_services_export_and_audit_work_the_same(
        tmp_path: Path, pg_database: str) -> None:
    parts = await build_parts(tmp_path, db_url=pg_database)
    ended_at = await populate(parts)
    await parts.db.close()
    counts = export_run(tmp_path, pg_database, SLA_S, ended_at, None)
    assert counts["orders"] == 5 and counts["incidents"] == 2
    assert not (tmp_path / "shop.db").exists()
    write_run_json(tmp_path, ended_at)
    run = audit(tmp_path, pg_database)
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads((tmp_path / "audit.json").read_text())["passed"] is True
