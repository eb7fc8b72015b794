"""`fakalab audit RUN_DIR [--db URL]`: check a run's invariants; write RUN_DIR/audit.json."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from fakalab.contract.receipt import ReceiptError
from fakalab.contract.rundir import RECORDED_HEADS
from fakalab.reference_shop.audit import AuditInput, Check, run_checks
from fakalab.reference_shop.dburl import DatabaseProblem
from fakalab.reference_shop.receipts import StoredLog, parse_heads, stored_log
from fakalab.reference_shop.storage.snapshot import Snapshot, read, read_snapshot

__all__ = ["audit", "audit_run", "load_input"]


class AuditError(Exception):
    """The run cannot be audited; the message names what is missing."""


def _csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    if not path.is_file():
        raise AuditError(f"{path}: file is missing")
    return pd.read_csv(path, keep_default_na=False, na_values={"paid_at": [""]}, **kwargs)


def _floats(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for c in columns:
        if c in frame:
            frame[c] = pd.to_numeric(frame[c].replace("", np.nan))
    return frame


def _events(path: Path) -> pd.DataFrame:
    events = _floats(_csv(path, dtype={"order_no": str, "message": str, "state": str}),
                     "at", "eta_at")
    events["visible"] = events["visible"].astype(str).str.lower() == "true"
    events["eta_at"] = events["eta_at"].astype(object).where(events["eta_at"].notna(), None)
    return events


ORDER_FIELDS = ["order_no", "state", "quantity", "paid_at", "buyer_paid_at", "delivered_at",
                "updated_at"]
KEY_FIELDS = ["product_id", "secret", "status", "order_no", "source"]
PRODUCT_FIELDS = ["id", "kind"]


def _frame(rows: Iterable[Any], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame([asdict(r) for r in rows], columns=columns)


def _snapshot(where: str | Path) -> Snapshot:
    try:
        return read_snapshot(where)
    except DatabaseProblem as exc:
        raise AuditError(str(exc)) from None


def _db_tables(where: str | Path) -> dict[str, pd.DataFrame]:
    """The shop's orders, keys and products, from its database (a path or a URL)."""
    return _tables(_snapshot(where))


def _tables(shop: Snapshot) -> dict[str, pd.DataFrame]:
    orders = _floats(_frame(shop.orders, ORDER_FIELDS), "paid_at", "buyer_paid_at",
                     "delivered_at", "updated_at")
    return {"orders": orders, "keys": _frame(shop.keys, KEY_FIELDS),
            "products": _frame(shop.products, PRODUCT_FIELDS)}


def _meta(run_dir: Path) -> dict[str, Any]:
    """run.json, checked for what the audit reads (one line naming the problem)."""
    path = run_dir / "run.json"
    if not path.is_file():
        raise AuditError(f"{run_dir}: not a run directory (no run.json)")
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AuditError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise AuditError(f"{path}: expected a JSON object, found {type(meta).__name__}")
    ended = meta.get("ended_at")
    if not isinstance(ended, int | float) or isinstance(ended, bool):
        raise AuditError(f"{path}: ended_at (when the run ended, epoch seconds) is "
                         f"{'missing' if ended is None else repr(ended)}")
    if not isinstance(meta.get("shop", {}), dict):
        raise AuditError(f"{path}: shop (the shop's settings) is not an object")
    return meta


def _settings(shop: dict[str, Any], key: str, default: float) -> float:
    value = shop.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise AuditError(f"run.json: shop.{key} is {value!r}, not a number")
    return float(value)


def _receipt_log(where: str | Path, recorded: Path | None) -> StoredLog | None:
    """The shop's receipt log with the heads the drill recorded (None: no log at all)."""
    try:
        heads = parse_heads(recorded.read_text()) if recorded and recorded.is_file() else []
    except ReceiptError as exc:
        raise AuditError(f"{recorded}: {exc}") from None
    try:
        stored = read(where, lambda c: stored_log(c, heads))
    except DatabaseProblem:  # no receipt tables: a database from before receipts
        return None
    return stored if stored.entries or stored.heads or stored.recorded else None


def live_input(db: str, now: float) -> AuditInput:
    """A live (or kept) shop database alone, as of `now`: the checks that need what the buyers
    saw are skipped."""
    snapshot = _snapshot(db)
    events = pd.DataFrame([asdict(e) for e in snapshot.events],
                          columns=["order_no", "seq", "at", "state", "message", "eta_at",
                                   "visible", "prev_hash", "hash"])
    events["visible"] = events["visible"].astype(bool)  # SQLite keeps booleans as 0/1
    events["eta_at"] = events["eta_at"].astype(object).where(events["eta_at"].notna(), None)
    tables = _tables(snapshot)
    return AuditInput(None, events, None, tables["orders"], tables["keys"], tables["products"],
                      now, receipts=_receipt_log(db, None))


def load_input(run_dir: Path, db: str | None = None) -> AuditInput:
    meta = _meta(run_dir)
    tables = _db_tables(db or run_dir / "shop.db")
    orders = _floats(_csv(run_dir / "orders.csv", dtype={"order_no": str, "final_state": str}),
                     "paid_at", "delivered_at")
    polls = _floats(_csv(run_dir / "polls.csv", dtype={"order_no": str, "state_seen": str}),
                    "at", "latency_ms", "http_status")
    shop = meta.get("shop", {})
    return AuditInput(orders, _events(run_dir / "events.csv"), polls, tables["orders"],
                      tables["keys"], tables["products"], float(meta["ended_at"]),
                      str(shop.get("transparency", "transparent")),
                      _settings(shop, "stall_after_s", 30.0),
                      _settings(shop, "reconcile_after_paid_s", 5.0),
                      receipts=_receipt_log(db or run_dir / "shop.db",
                                            run_dir / RECORDED_HEADS))


def audit_run(run_dir: Path, db: str | None = None) -> list[Check]:
    """Run every check and write audit.json; raises AuditError when the run can't be read."""
    checks = run_checks(load_input(run_dir, db))
    document = {"format_version": 1, "run_dir": str(run_dir),
                "passed": all(c.passed for c in checks),
                "checks": [c.as_dict() for c in checks]}
    (run_dir / "audit.json").write_text(json.dumps(document, indent=1, default=str))
    return checks


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path), required=False)
@click.option("--db", default=None, help="The shop database to check against (default: "
              "RUN_DIR/shop.db): a SQLite path or sqlite:///PATH, or "
              "postgresql://USER:PASSWORD@HOST:PORT/DATABASE. Alone (no RUN_DIR): audit a "
              "live shop's database as of now.")
def audit(run_dir: Path | None, db: str | None) -> None:
    """Check a run's invariants (no lost payment, no key sold twice, a verifiable ledger, ...)
    and write RUN_DIR/audit.json; with --db alone, the invariants of a live shop database
    (the checks that need what buyers saw are skipped). Exit 0: all hold; 1: a violation;
    2: cannot audit."""
    if run_dir is None and db is None:
        click.echo("error: give a run directory, or --db URL to audit a live shop database",
                   err=True)
        sys.exit(2)
    try:
        checks = audit_run(run_dir, db) if run_dir is not None else run_checks(
            live_input(str(db), time.time()))
    except (AuditError, OSError, ValueError, KeyError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    for c in checks:
        mark = "skip" if c.skipped else "ok  " if c.passed else "FAIL"
        note = f" ({c.skipped})" if c.skipped else (
            "" if c.passed else f" ({len(c.rows)} violations)")
        click.echo(f"{mark} {c.name}{note}")
    sys.exit(0 if all(c.passed for c in checks) else 1)
