"""Load a run directory (docs/run-dir.md) into DataFrames, checking what the report relies on.

Only the columns the report uses are read (`usecols`), with explicit dtypes, so that a run of a
million orders loads in seconds. Every problem becomes a `RunDirError` naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fakalab.contract.rundir import FORMAT_VERSION, buyer_paid_at
from fakalab.contract.traces import SpanRecord, read_spans

__all__ = ["Run", "RunDirError", "load_run"]

_F = "float64"
_S = "str"
# file -> {column: dtype}: the columns the report reads (others are ignored).
_COLUMNS: dict[str, dict[str, str]] = {
    "orders.csv": {
        "order_no": _S,
        "product_id": _S,
        "priority": _F,
        "channel": _S,
        "created_at": _F,
        "paid_at": _F,
        "buyer_paid_at": _F,
        "delivered_at": _F,
        "final_state": _S,
    },
    "events.csv": {"order_no": _S, "seq": "int64", "at": _F, "state": "category"},
    "polls.csv": {
        "order_no": _S,
        "at": _F,
        "via": "category",
        "http_status": _F,
        "state_seen": _S,
        "message_seen": _S,
        "eta_seen": _F,
    },
    "tickets.csv": {"order_no": _S, "at": _F, "reason": _S},
    "attempts.csv": {"journey": _S, "at": _F, "persona": _S, "attempt": _F, "outcome": _S,
                     "http_status": _F, "latency_ms": _F, "retry_after_s": _F},
    "disputes.csv": {"order_no": _S, "at": _F, "kind": _S, "settled_by": _S, "outcome": _S,
                     "settle_s": _F, "detail": _S},
    "faults.csv": {
        "fault_id": _S,
        "link": _S,
        "kind": _S,
        "attributes": _S,
        "toxicity": _F,
        "started_at": _F,
        "ended_at": _F,
    },
    "incidents.csv": {"incident_id": _S, "component": _S, "state": _S, "at": _F, "message": _S},
}
_SIM_COLUMNS = {
    "window_start": _F,
    "window_end": _F,
    "predicted_delay_rate": _F,
    "predicted_p95_s": _F,
}
_RUN_KEYS = ("run_id", "started_at", "ended_at", "sla_s")


class RunDirError(Exception):
    """A run directory the report cannot read; the message names the file and says why."""


@dataclass(frozen=True)
class Simulation:
    windows: pd.DataFrame
    summary: dict[str, Any]


@dataclass(frozen=True)
class Run:
    """One run directory, loaded. `oid` columns index into `orders` (-1: unknown order);
    `events` carries `oid` and `okey` (an order key also for unknown orders) instead of order_no."""

    path: Path
    meta: dict[str, Any]
    orders: pd.DataFrame
    events: pd.DataFrame
    polls: pd.DataFrame
    tickets: pd.DataFrame
    faults: pd.DataFrame
    incidents: pd.DataFrame
    journal: dict[str, Any] | None
    simulation: Simulation | None
    warnings: tuple[str, ...] = ()  # what looks wrong in the files (e.g. rows missing)
    attempts: pd.DataFrame | None = None  # attempts.csv; None in runs made before it existed
    spans: tuple[SpanRecord, ...] = ()  # traces/*.jsonl; none when the run was not traced
    disputes: pd.DataFrame | None = None  # disputes.csv with oid; None when no buyer claimed

    @property
    def run_id(self) -> str:
        return str(self.meta["run_id"])

    @property
    def label(self) -> str:
        variant = self.meta.get("variant")
        return str(variant) if variant else self.run_id

    @property
    def started_at(self) -> float:
        return float(self.meta["started_at"])

    @property
    def ended_at(self) -> float:
        return float(self.meta["ended_at"])

    @property
    def sla_s(self) -> float:
        return float(self.meta["sla_s"])

    @property
    def view(self) -> str:
        """`inside` (the reference shop's database) or `outside` (an external target, as its
        buyers and the gateway saw it); runs before format 2 are inside."""
        return "outside" if self.meta.get("view") == "outside" else "inside"

    @property
    def unobservable(self) -> frozenset[str]:
        """What this run could not see (run.json `unobservable`: priority, ledger, incidents,
        database); empty for a run seen from inside."""
        found = self.meta.get("unobservable") or []
        return frozenset(str(x) for x in found) if isinstance(found, list) else frozenset()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"{path}: file is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a JSON object")
    return data


def _empty(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


def read_csv(
    path: Path, columns: dict[str, str], optional: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Read the named columns of a CSV; missing `optional` columns get their default value."""
    optional = optional or {}
    if not path.is_file():
        raise RunDirError(f"{path}: file is missing")
    try:
        header = pd.read_csv(path, nrows=0).columns
    except (pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: no header row ({exc})") from None
    missing = [c for c in columns if c not in header and c not in optional]
    if missing:
        raise RunDirError(f"{path}: missing column(s) {', '.join(missing)}")
    present = {c: t for c, t in columns.items() if c in header}
    try:
        frame = pd.read_csv(
            path,
            usecols=list(present),
            dtype=present,
            keep_default_na=False,
            na_values={c: [""] for c, t in present.items() if t != _S},
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise RunDirError(f"{path}: {exc}") from None
    for column, default in optional.items():
        if column not in frame:
            frame[column] = pd.Series(default, index=frame.index, dtype=columns[column])
    return frame[list(columns)]


def _upgrade_v0(meta: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Version 0 (pre-release): no format_version, SLOs, incidents.csv or polls.csv:via."""
    meta = {**meta, "format_version": 0, "slos": meta.get("slos", [])}
    return meta, {"polls.csv": {"via": "poll"}, "incidents.csv": {"*": None}}


_UPGRADES: dict[
    int, Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, dict[str, Any]]]]
] = {
    0: _upgrade_v0,
}


def _version(meta: dict[str, Any], path: Path) -> int:
    if "format_version" not in meta:
        return 0
    version = meta["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise RunDirError(f"{path}: format_version must be a non-negative integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise RunDirError(
            f"{path}: format_version {version} is newer than this fakalab reads "
            f"(format_version {FORMAT_VERSION}); upgrade fakalab to read this run"
        )
    return version


def _meta(root: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    path = root / "run.json"
    meta = _read_json(path)
    version = _version(meta, path)
    optional: dict[str, dict[str, Any]] = {}
    if version in _UPGRADES:
        meta, optional = _UPGRADES[version](meta)
    for key in _RUN_KEYS:
        if key not in meta:
            raise RunDirError(f"{path}: missing key {key!r}")
    for key in ("started_at", "ended_at", "sla_s"):
        if not isinstance(meta[key], int | float) or isinstance(meta[key], bool):
            raise RunDirError(f"{path}: {key} must be a number, got {meta[key]!r}")
    if meta["ended_at"] < meta["started_at"]:
        raise RunDirError(f"{path}: ended_at is before started_at")
    return meta, optional


def _paid_from_the_buyers_view(orders: pd.DataFrame) -> pd.DataFrame:
    """`paid_at` becomes the earlier of the shop's confirmation and the buyer's "I have paid"
    (`buyer_paid_at`): a buyer who paid waits from then, whether or not the shop heard of it.
    The shop's own time stays in `shop_paid_at`."""
    orders["shop_paid_at"] = orders["paid_at"]
    orders["paid_at"] = buyer_paid_at(orders["paid_at"], orders["buyer_paid_at"])
    return orders


def _outside(meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An outside run has no status page to export: incidents.csv may be absent."""
    return {"incidents.csv": {"*": None}} if meta.get("view") == "outside" else {}


def _table(root: Path, name: str, optional: dict[str, dict[str, Any]]) -> pd.DataFrame:
    extra = optional.get(name, {})
    if name == "orders.csv":  # added within format 1: absent in earlier files
        extra = {"buyer_paid_at": np.nan, **extra}
    if "*" in extra and not (root / name).is_file():
        return _empty(_COLUMNS[name])
    return read_csv(root / name, _COLUMNS[name], {k: v for k, v in extra.items() if k != "*"})


def _simulation(root: Path) -> Simulation | None:
    sim = root / "simulation"
    if not (sim / "windows.csv").is_file():
        return None
    windows = read_csv(sim / "windows.csv", _SIM_COLUMNS)
    summary_path = sim / "summary.json"
    summary = _read_json(summary_path) if summary_path.is_file() else {}
    return Simulation(windows, summary)


def _with_oid(index: pd.Index, frame: pd.DataFrame) -> pd.DataFrame:
    """Add `oid`: the position of each row's order in orders.csv, -1 when unknown (vectorised)."""
    frame["oid"] = index.get_indexer(frame["order_no"]).astype(np.int64)
    return frame


def _events(index: pd.Index, events: pd.DataFrame) -> pd.DataFrame:
    """Events with `oid` and `okey` (oid, or a key past the orders for an unknown order) for
    `order_no`, which is dropped: at millions of rows its strings are the bulk of the memory."""
    events = _with_oid(index, events)
    oid = events["oid"].to_numpy()
    unknown = oid < 0
    okey = oid.copy()
    okey[unknown] = len(index) + pd.factorize(events["order_no"].to_numpy()[unknown])[0]
    return events.drop(columns="order_no").assign(okey=okey)


def load_run(path: str | Path) -> Run:
    """Load one run directory; raise RunDirError with a message a person can act on."""
    root = Path(path)
    if not root.is_dir():
        raise RunDirError(f"{root}: not a run directory (no such directory)")
    meta, optional = _meta(root)
    optional = {**_outside(meta), **optional}
    orders = _paid_from_the_buyers_view(_table(root, "orders.csv", optional))
    index = pd.Index(orders["order_no"])
    if not index.is_unique:
        raise RunDirError(f"{root / 'orders.csv'}: order_no is not unique")
    orders["channel"] = orders["channel"].fillna("")
    tables = {n: _table(root, n, optional) for n in ("events.csv", "polls.csv", "tickets.csv")}
    journal_path = root / "chaos.json"
    tables["orders.csv"] = orders
    spans, trace_problems = read_spans(root)
    return Run(
        path=root,
        meta=meta,
        orders=orders,
        events=_events(index, tables["events.csv"]),
        polls=_with_oid(index, tables["polls.csv"]),
        tickets=_with_oid(index, tables["tickets.csv"]),
        faults=_table(root, "faults.csv", optional),
        incidents=_table(root, "incidents.csv", optional),
        journal=_read_json(journal_path) if journal_path.is_file() else None,
        simulation=_simulation(root),
        warnings=(*_missing_rows(root, meta, tables), *trace_problems[:5]),
        attempts=_table(root, "attempts.csv", {"attempts.csv": {"*": None}})
        if (root / "attempts.csv").is_file() else None,
        spans=tuple(spans),
        disputes=_with_oid(index, _table(root, "disputes.csv", {}))
        if (root / "disputes.csv").is_file() else None,
    )


def _missing_rows(root: Path, meta: dict[str, Any], tables: dict[str, pd.DataFrame]
                  ) -> tuple[str, ...]:
    """Files with fewer rows than the drill wrote (run.json `load.counts`), or cut mid-line: a
    truncated copy, a disk that filled up. The report then covers only what is there."""
    load = meta.get("load")
    counts = load.get("counts", {}) if isinstance(load, dict) else {}
    found = []
    for name, frame in tables.items():
        path = root / name
        expected = counts.get(name.removesuffix(".csv")) if isinstance(counts, dict) else None
        if isinstance(expected, int) and len(frame) != expected:
            found.append(f"{path}: {len(frame)} rows, but the drill wrote {expected}; the report "
                         f"covers only the rows that are there")
        elif path.is_file() and path.stat().st_size and not _ends_with_newline(path):
            found.append(f"{path}: the last line is cut off (no newline at the end)")
    return tuple(found)


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, 2)
        return handle.read(1) == b"\n"
