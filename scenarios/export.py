"""Everything the drill observed, into the run directory's CSV files (docs/run-dir.md).

Reads the shop's SQLite database after the shop has stopped (nothing else writes it then), the
Locust records, and the chaos journal.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import Any

from fakalab.chaos.journal import write_faults_csv
from fakalab.contract.rundir import (
    EVENT_COLUMNS,
    INCIDENT_COLUMNS,
    ORDER_COLUMNS,
    buyer_paid_at,
    cell,
    delays,
    money,
)
from fakalab.scenarios.locust.records import merge_records

__all__ = ["export_run", "order_rows"]


def order_rows(db: sqlite3.Connection, sla_s: float, ended_at: float) -> list[dict[str, Any]]:
    query = ("select order_no, product_id, priority, quantity, amount_cents, channel, persona, "
             "created_at, paid_at, delivered_at, state, buyer_paid_at from orders "
             "order by created_at")
    rows = [{"order_no": r[0], "product_id": r[1], "priority": r[2], "quantity": r[3],
             "amount": money(r[4]), "channel": r[5], "persona": r[6], "created_at": r[7],
             "paid_at": r[8], "buyer_paid_at": r[11], "delivered_at": r[9], "final_state": r[10]}
            for r in db.execute(query)]
    clock = buyer_paid_at([r["paid_at"] for r in rows], [r["buyer_paid_at"] for r in rows])
    late = delays(clock, [r["delivered_at"] for r in rows], sla_s, ended_at).delayed
    for row, delayed in zip(rows, late, strict=True):
        row["delayed"] = bool(delayed)
    return rows


def _write(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> int:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([cell(row[c]) for c in columns])
    return len(rows)


def _query(db: sqlite3.Connection, sql: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    return [dict(zip(columns, r, strict=True)) for r in db.execute(sql)]


def export_run(run_dir: Path, db_path: Path, sla_s: float, ended_at: float,
               journal: dict[str, Any] | None) -> dict[str, int]:
    """Write orders, events, incidents, polls, tickets, faults and the journal; returns counts."""
    counts: dict[str, int] = {}
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        counts["orders"] = _write(run_dir / "orders.csv", ORDER_COLUMNS,
                                  order_rows(db, sla_s, ended_at))
        events = _query(db, "select order_no, seq, at, state, message, eta_at, visible, "
                            "prev_hash, hash from order_events order by order_no, seq",
                        EVENT_COLUMNS)
        for e in events:
            e["visible"] = bool(e["visible"])
        counts["events"] = _write(run_dir / "events.csv", EVENT_COLUMNS, events)
        incidents = _query(db, "select incident_id, component, state, at, message "
                               "from incident_updates order by id", INCIDENT_COLUMNS)
        counts["incidents"] = _write(run_dir / "incidents.csv", INCIDENT_COLUMNS, incidents)
    finally:
        db.close()
    counts.update(merge_records(run_dir / "locust" / "records", run_dir))
    if journal is not None:
        (run_dir / "chaos.json").write_text(json.dumps(journal, indent=1))
    write_faults_csv(journal or {"faults": []}, run_dir / "faults.csv")
    counts["faults"] = len((journal or {}).get("faults", []))
    return counts
