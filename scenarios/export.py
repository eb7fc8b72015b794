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
from fakalab.scenarios.locust.records import merge_records

__all__ = ["ORDER_COLUMNS", "export_run", "order_rows"]

ORDER_COLUMNS = ("order_no", "product_id", "priority", "quantity", "amount", "channel",
                 "persona", "created_at", "paid_at", "buyer_paid_at", "delivered_at",
                 "final_state", "delayed")
EVENT_COLUMNS = ("order_no", "seq", "at", "state", "message", "eta_at", "visible", "prev_hash",
                 "hash")
INCIDENT_COLUMNS = ("incident_id", "component", "state", "at", "message")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def is_delayed(paid_at: float | None, delivered_at: float | None, sla_s: float,
               ended_at: float, buyer_paid_at: float | None = None) -> bool:
    """Paid and not delivered within the SLA, as far as the run could tell by its end. The
    clock starts when the buyer paid: the earlier of the shop's confirmation and the buyer's
    "I have paid"."""
    known = [t for t in (paid_at, buyer_paid_at) if t is not None]
    if not known:
        return False
    paid_at = min(known)
    if delivered_at is not None:
        return delivered_at - paid_at > sla_s
    return ended_at - paid_at > sla_s


def order_rows(db: sqlite3.Connection, sla_s: float, ended_at: float) -> list[dict[str, Any]]:
    query = ("select order_no, product_id, priority, quantity, amount_cents, channel, persona, "
             "created_at, paid_at, delivered_at, state, buyer_paid_at from orders "
             "order by created_at")
    rows = []
    for r in db.execute(query):
        cents = int(r[4])
        rows.append({
            "order_no": r[0], "product_id": r[1], "priority": r[2], "quantity": r[3],
            "amount": f"{cents // 100}.{cents % 100:02d}", "channel": r[5], "persona": r[6],
            "created_at": r[7], "paid_at": r[8], "buyer_paid_at": r[11], "delivered_at": r[9],
            "final_state": r[10], "delayed": is_delayed(r[8], r[9], sla_s, ended_at, r[11])})
    return rows


def _write(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> int:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row[c]) for c in columns])
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
