"""Blast radius of an announced fault (pure): which orders touched the faulty dependency while
the fault lasted, and which of them were delayed — the measure of shared anomaly signals
(claim S11, docs/scenarios.md).

For each fault of a run whose plan announces it (``announce: true`` or ``false_alarm`` in the
run's scenario.yaml) on a payment channel ``X``, over its window in faults.csv:

- ``orders_in_window``: orders created in the window;
- ``blast_radius``: of those, the orders that went to ``X`` (for a false alarm: to the channel
  announced, which was healthy);
- ``blast_radius_share``: ``blast_radius / orders_in_window``;
- ``delayed_in_window``: orders created in the window and delayed (contract/rundir.py's rule),
  and ``delayed_share`` of those decided.

``compare_signals`` gives the deltas of the two shares against the first run with percentile
bootstrap intervals (binomial resampling, as reports/compare.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from fakalab.reports.analysis import Analysis
from fakalab.reports.compare import RESAMPLES, SEED, bootstrap_binary, delta_row

__all__ = ["SHARES", "announced_faults", "blast_radius", "compare_signals"]

SHARES = ("blast_radius_share", "delayed_share")


def announced_faults(run_dir: Path) -> dict[str, str]:
    """fault id → `true` | `false_alarm` for the announced faults of the run's plan."""
    try:
        scenario = yaml.safe_load((run_dir / "scenario.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    faults = ((scenario.get("drill") or {}).get("faults")) or []
    return {str(f.get("id")): "false_alarm" if f.get("announce") == "false_alarm" else "true"
            for f in faults if isinstance(f, dict) and f.get("announce") not in (None, False)}


def _one(a: Analysis, fault: pd.Series, announce: str) -> dict[str, Any]:
    orders, out = a.run.orders, a.out
    service = str(fault["link"]).partition("->")[2]
    start, end = float(fault["started_at"]), float(fault["ended_at"])
    created = orders["created_at"].to_numpy(dtype=float)
    inside = (created >= start) & (created <= end)
    touched = inside & (orders["channel"].astype(str).to_numpy() == service)
    decided = inside & out["decided"].to_numpy(dtype=bool)
    delayed = inside & out["delayed"].to_numpy(dtype=bool)
    n, d = int(inside.sum()), int(decided.sum())
    return {"fault_id": str(fault["fault_id"]), "service": service, "announce": announce,
            "window_s": end - start, "orders_in_window": n, "blast_radius": int(touched.sum()),
            "blast_radius_share": touched.sum() / n if n else None,
            "decided_in_window": d, "delayed_in_window": int(delayed.sum()),
            "delayed_share": delayed.sum() / d if d else None}


def blast_radius(a: Analysis) -> list[dict[str, Any]]:
    """One row per announced payment-channel fault of the run (none: [])."""
    announced = announced_faults(a.run.path)
    faults = a.run.faults
    if not announced or faults.empty:
        return []
    rows = []
    for _, fault in faults.iterrows():
        link = str(fault["link"])
        if (str(fault["fault_id"]) in announced and link.startswith("shop->payment-")
                and pd.notna(fault["ended_at"])):
            rows.append(_one(a, fault, announced[str(fault["fault_id"])]))
    return rows


def _boot(row: dict[str, Any], share: str, rng: np.random.Generator, size: int) -> np.ndarray:
    counts = {"blast_radius_share": ("blast_radius", "orders_in_window"),
              "delayed_share": ("delayed_in_window", "decided_in_window")}[share]
    return bootstrap_binary(rng, int(row[counts[0]]), int(row[counts[1]]), size)


def compare_signals(analyses: list[Analysis], resamples: int = RESAMPLES,
                    seed: int = SEED) -> list[dict[str, Any]]:
    """Comparison rows (reports/compare.py's shape) of each run's first announced fault
    against the first run's, for both shares; [] unless every run has one."""
    firsts = [blast_radius(a) for a in analyses]
    if len(analyses) < 2 or not all(firsts):
        return []
    rng = np.random.default_rng(seed + 11)
    base = firsts[0][0]
    rows = []
    for a, found in zip(analyses[1:], firsts[1:], strict=True):
        row = found[0]
        for share in SHARES:
            deltas = _boot(row, share, rng, resamples) - _boot(base, share, rng, resamples)
            rows.append(delta_row(a, share, base[share], row[share], deltas))
    return rows
