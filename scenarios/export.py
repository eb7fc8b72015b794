"""Everything the drill observed, into the run directory's CSV files (docs/run-dir.md).

Reads the shop's database after the shop has stopped (nothing else writes it then; the shop's
snapshot reader, so any database URL the shop accepts), the Locust records, and the chaos
journal.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict
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
from fakalab.reference_shop.storage.rows import OrderRow
from fakalab.reference_shop.storage.snapshot import read_snapshot
from fakalab.scenarios.locust.records import merge_records

__all__ = ["export_run", "order_rows"]


def order_rows(orders: Sequence[OrderRow], sla_s: float, ended_at: float
               ) -> list[dict[str, Any]]:
    rows = [{"order_no": o.order_no, "product_id": o.product_id, "priority": o.priority,
             "quantity": o.quantity, "amount": money(o.amount_cents), "channel": o.channel,
             "persona": o.persona, "created_at": o.created_at, "paid_at": o.paid_at,
             "buyer_paid_at": o.buyer_paid_at, "delivered_at": o.delivered_at,
             "final_state": o.state} for o in orders]
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


def export_run(run_dir: Path, db: Path | str, sla_s: float, ended_at: float,
               journal: dict[str, Any] | None) -> dict[str, int]:
    """Write orders, events, incidents, polls, tickets, faults and the journal; returns counts.
    ``db`` is the shop's database: a SQLite path or a URL (a DatabaseProblem, a ValueError,
    when it cannot be read)."""
    counts: dict[str, int] = {}
    shop = read_snapshot(db)
    counts["orders"] = _write(run_dir / "orders.csv", ORDER_COLUMNS,
                              order_rows(shop.orders, sla_s, ended_at))
    counts["events"] = _write(run_dir / "events.csv", EVENT_COLUMNS,
                              [e.as_dict() for e in shop.events])
    counts["incidents"] = _write(run_dir / "incidents.csv", INCIDENT_COLUMNS,
                                 [asdict(i) for i in shop.incidents])
    counts.update(merge_records(run_dir / "locust" / "records", run_dir))
    if journal is not None:
        (run_dir / "chaos.json").write_text(json.dumps(journal, indent=1))
    write_faults_csv(journal or {"faults": []}, run_dir / "faults.csv")
    counts["faults"] = len((journal or {}).get("faults", []))
    return counts
