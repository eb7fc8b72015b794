"""A forecast next to what a run measured (pure, given the loaded run).

``measured_figures`` computes the headline figures of a run directory with the report's own
functions (``reports.metrics``: the same ``outcomes``, ``percentile`` and ``queue_steps``; the
ticket count is ``tickets.csv``'s, as ``reports.transparency`` counts it), with times from the
load's start so that windows line up with the forecast's. ``compare`` puts them side by side:
per figure the forecast's mean, its prediction interval, the measurement, the error and whether
the measurement lies inside the interval; per 10 s window the same for delay rate, p95 and the
queue depth at the window's end.

``refusal`` says why a run cannot be compared with a forecast: another scenario (its resolved
``scenario.yaml`` differs from the one forecast: name, seed, settings, faults…), or a run the
forecast's calibration was measured on.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import yaml

from fakalab.contract.scenario import Scenario, ScenarioError, dump_scenario, parse_scenario
from fakalab.reports.admission import admission
from fakalab.reports.metrics import outcomes, percentile, queue_steps
from fakalab.reports.rundir import Run
from fakalab.simulate.calibrating import load_origin
from fakalab.simulate.forecast import Forecast, door_figures, shown_figures, window_figures
from fakalab.simulate.shop_calibration import ShopCalibration

__all__ = ["TARGETS", "compare", "measured_figures", "measured_windows", "refusal"]

# the targets of docs/simulation.md: delay rate within ±3 points, p95 within ±20%
TARGETS = {"delay_rate": ("pp", 3.0), "p95_s": ("pct", 20.0)}


def _first_difference(a: Any, b: Any, path: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            found = _first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path} ({len(a)} items against {len(b)})"
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{k}]")
            if found:
                return found
        return None
    if a != b and not (isinstance(a, int | float) and isinstance(b, int | float)
                       and math.isclose(a, b)):
        return f"{path} ({a!r} against {b!r})"
    return None


def refusal(scenario: Scenario, run: Run, calibration: ShopCalibration) -> str | None:
    """Why ``run`` cannot be compared with a forecast of ``scenario``; None when it can."""
    if run.run_id in {s.run_id for s in calibration.sources}:
        return (f"{run.path}: run {run.run_id} is a source of the calibration "
                f"({calibration.describe()}); a forecast must not have seen the run it predicts")
    name = run.meta.get("scenario")
    if name != scenario.name:
        return f"{run.path}: a run of scenario {name!r}, not {scenario.name!r}"
    path = run.path / "scenario.yaml"
    try:
        # Through today's parser: a run made before a setting existed has its default.
        theirs = yaml.safe_load(dump_scenario(parse_scenario(path.read_text(encoding="utf-8"),
                                                             str(path))))
    except OSError as exc:
        return f"{path}: cannot read the run's scenario: {exc.strerror}"
    except ScenarioError as exc:
        return f"{path}: the run's scenario does not parse: {exc}"
    mine = yaml.safe_load(dump_scenario(scenario))
    for data in (mine, theirs):
        if isinstance(data, dict):
            data.pop("variants", None)
            data.pop("description", None)
    found = _first_difference(mine, theirs)
    if found:
        return f"{path}: the run's scenario differs from the one forecast: {found}"
    return None


def _frame(run: Run, origin: float) -> pd.DataFrame:
    return pd.DataFrame({"paid_at": run.orders["paid_at"] - origin,
                         "delivered_at": run.orders["delivered_at"] - origin})


def measured_figures(run: Run) -> dict[str, float]:
    """The run's headline figures (the report's definitions), times from the load's start."""
    origin = load_origin(run)
    frame = _frame(run, origin)
    end = run.ended_at - origin
    out = outcomes(frame, run.sla_s, end)
    delayed, decided = int(out["delayed"].sum()), int(out["decided"].sum())
    depth = queue_steps(frame).depth
    p95 = percentile(out["ttd"], 95)
    tickets = len(run.tickets)
    door = admission(run.attempts, out, run.started_at, run.ended_at)
    inside = int((out["paid"] & out["delivered"] & ~out["delayed"]).sum())
    return {
        "delay_rate": delayed / decided if decided else math.nan,
        "p95_s": math.nan if p95 is None else p95,
        "tickets_per_100_delayed": 100 * tickets / delayed if delayed else 0.0,
        "peak_queue_depth": float(depth.max()) if depth.size else 0.0,
        "orders": float(len(run.orders)),
        "paid": float(out["paid"].sum()),
        "delayed": float(delayed),
        "decided": float(decided),
        "tickets": float(tickets),
        "end_s": end,
        **door_figures(door["buyers"] if door else len(run.orders),
                       door["buyers_refused"] if door else 0,
                       door["buyers_gave_up"] if door else 0,
                       door["refusals"] if door else 0, inside, end),
    }


def measured_windows(run: Run, window_s: float = 10.0) -> pd.DataFrame:
    origin = load_origin(run)
    return window_figures(_frame(run, origin), run.sla_s, run.ended_at - origin, window_s)


def _error(name: str, forecast: float, measured: float) -> dict[str, float | None]:
    if math.isnan(forecast) or math.isnan(measured):
        return {"error": None, "error_pct": None, "error_pp": None}
    out: dict[str, float | None] = {"error": forecast - measured, "error_pct": None,
                                    "error_pp": None}
    if measured:
        out["error_pct"] = 100 * (forecast - measured) / measured
    if name == "delay_rate":
        out["error_pp"] = 100 * (forecast - measured)
    return out


def _within_target(name: str, error: dict[str, float | None]) -> bool | None:
    target = TARGETS.get(name)
    if target is None:
        return None
    unit, limit = target
    value = error["error_pp"] if unit == "pp" else error["error_pct"]
    if value is None:
        return None
    return abs(value) <= limit


def _clean(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def compare(forecast: Forecast, run: Run, window_s: float = 10.0) -> dict[str, Any]:
    """The forecast and the run's measurement, per figure and per window."""
    measured = measured_figures(run)
    figures = {}
    for name in shown_figures(forecast.model):
        e = forecast.figures[name]
        value = measured[name]
        error = _error(name, e.mean, value)
        figures[name] = {
            "forecast": _clean(e.mean),
            "interval": [_clean(e.lo), _clean(e.hi)],
            "measured": _clean(value),
            **error,
            "inside_interval": e.contains(value),
            "within_target": _within_target(name, error),
        }
    mine = forecast.windows
    theirs = measured_windows(run, window_s)
    rows = []
    for k in range(max(len(mine), len(theirs))):
        row: dict[str, Any] = {}
        source = mine if k < len(mine) else theirs
        row["window_start"] = float(source["window_start"].iloc[k])
        row["window_end"] = float(source["window_end"].iloc[k])
        for name in ("delay_rate", "p95_s", "queue_depth"):
            f = _clean(mine[name].iloc[k]) if k < len(mine) else None
            interval = ([_clean(mine[f"{name}_lo"].iloc[k]), _clean(mine[f"{name}_hi"].iloc[k])]
                        if k < len(mine) else [None, None])
            m = _clean(theirs[name].iloc[k]) if k < len(theirs) else None
            inside = None
            if m is not None and interval[0] is not None and interval[1] is not None:
                inside = interval[0] <= m <= interval[1]
            row[name] = {"forecast": f, "interval": interval, "measured": m,
                         "error": None if f is None or m is None else f - m, "inside": inside}
        rows.append(row)
    return {
        "run_id": run.run_id,
        "run_dir": str(run.path),
        "scenario": run.meta.get("scenario"),
        "variant": run.meta.get("variant"),
        "figures": figures,
        "counts": {k: {"forecast": _clean(forecast.figures[k].mean), "measured": measured[k]}
                   for k in ("orders", "paid", "delayed", "tickets")},
        "run_end_s": {"forecast": _clean(forecast.end_s.mean), "measured": measured["end_s"]},
        "windows": rows,
        "targets": {"delay_rate": "within ±3 percentage points", "p95_s": "within ±20%",
                    "otherwise": "the measurement inside the forecast's prediction interval"},
    }
