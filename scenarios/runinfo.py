"""run.json (docs/run-dir.md) and the run's identity (pure, apart from reading versions)."""

from __future__ import annotations

import csv
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from fakalab.contract.rundir import FORMAT_VERSION

__all__ = ["locust_totals", "run_id", "run_json", "versions"]


def run_id(started_at: float, scenario: str, variant: str | None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(started_at))
    return "-".join(part for part in (stamp, scenario, variant) if part)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("fakalab", "locust", "fastapi", "simpy", "pandas"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "not installed"
    return found


def locust_totals(stats_csv: Path) -> tuple[int, int]:
    """(requests, failures) of Locust's Aggregated row; (0, 0) when there is none."""
    try:
        with open(stats_csv, newline="") as handle:
            for row in csv.DictReader(handle):
                if row.get("Name") == "Aggregated":
                    return int(row["Request Count"]), int(row["Failure Count"])
    except OSError:
        pass
    return 0, 0


def run_json(*, run_id: str, scenario: str, variant: str | None, seed: int, started_at: float,
             ended_at: float, sla_s: float, toxiproxy: dict[str, str], shop: dict[str, Any],
             slos: list[dict[str, Any]], valid: bool, invalid_reasons: list[str],
             exit_status: int, load: dict[str, Any], error: str | None = None,
             audit: dict[str, Any] | None = None,
             database: dict[str, Any] | None = None, extra: dict[str, Any] | None = None
             ) -> dict[str, Any]:
    """run.json; `extra`: the view (inside | outside) and, seen from outside, the target, the
    sources of the figures, what is not observable and the probes."""
    return {
        "format_version": FORMAT_VERSION, "run_id": run_id, "scenario": scenario,
        "variant": variant, "seed": seed, "started_at": started_at, "ended_at": ended_at,
        "duration_s": round(ended_at - started_at, 3), "sla_s": sla_s, "toxiproxy": toxiproxy,
        "shop": shop, "versions": versions(), "slos": slos, "valid": valid,
        "invalid_reasons": invalid_reasons, "exit_status": exit_status, "load": load,
        "error": error, "audit": audit or {"ran": False, "failed": []},
        "database": database or {"kind": "sqlite", "file": "shop.db"}, **(extra or {}),
    }
