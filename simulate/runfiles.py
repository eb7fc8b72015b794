"""`fakalab simulate RUN_DIR`: read a run directory, calibrate, replay, write ``simulation/``.

This module and ``cli.py`` are the package's only I/O. The run is read with the report's own
reader (``reports.rundir.load_run``), so format versions, missing files and the buyer's view of
payment are handled exactly as the report handles them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fakalab.reports.rundir import RunDirError, load_run
from fakalab.simulate.calibrate import ArrivalMode, Calibration, Fitted, fit, to_model
from fakalab.simulate.parallel import Progress
from fakalab.simulate.replay import compare, replay

__all__ = ["RunDirError", "RunSimulation", "compact", "simulate_run"]

QUANTILES = 201  # points kept of each empirical distribution in calibration.json


@dataclass(frozen=True)
class RunSimulation:
    calibration: Calibration
    windows: pd.DataFrame
    summary: dict[str, Any]
    out_dir: Path


def _quantiles(values: Sequence[float], points: int = QUANTILES) -> tuple[float, ...]:
    if len(values) <= points:
        return tuple(values)
    return tuple(float(v) for v in np.quantile(np.asarray(values), np.linspace(0, 1, points)))


def compact(cal: Calibration) -> Calibration:
    """The calibration with each empirical distribution cut to ``QUANTILES`` quantiles."""

    def small(f: Fitted) -> Fitted:
        return f.model_copy(update={"base": _quantiles(f.base)})

    return cal.model_copy(
        update={
            "pay_time": _quantiles(cal.pay_time),
            "callback": small(cal.callback),
            "stages": {name: small(f) for name, f in cal.stages.items()},
        }
    )


def _relative(frame: pd.DataFrame, columns: Sequence[str], origin: float) -> pd.DataFrame:
    return frame.assign(**{c: frame[c] - origin for c in columns})


def _fault_windows(faults: pd.DataFrame, origin: float, end: float) -> list[tuple[float, float]]:
    windows = []
    for start, stop in zip(faults["started_at"], faults["ended_at"], strict=True):
        if math.isfinite(start):
            stop = stop if math.isfinite(stop) else end
            windows.append((float(start - origin), float(stop - origin)))
    return windows


def simulate_run(
    path: str | Path,
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    window_s: float = 10.0,
    fit_window_s: float = 5.0,
    arrivals: ArrivalMode = "trace",
    processes: int | None = None,
    progress: Progress | None = None,
) -> RunSimulation:
    """Calibrate from the run at ``path``, replay it with ``seeds`` and write ``simulation/``
    (windows.csv, summary.json, calibration.json). Raises ``RunDirError`` on a bad run."""
    run = load_run(path)
    origin, end = run.started_at, run.ended_at
    times = ["created_at", "paid_at", "shop_paid_at", "buyer_paid_at", "delivered_at"]
    orders = _relative(run.orders, times, origin)
    events = _relative(run.events, ["at"], origin)
    if orders.empty:
        raise RunDirError(f"{run.path / 'orders.csv'}: no orders to calibrate from")
    faults = _fault_windows(run.faults, origin, end)
    cal = fit(orders, events, meta=run.meta, fault_windows=faults, window_s=fit_window_s)
    model = to_model(cal, arrivals)
    runs = replay(model, seeds, processes=processes, progress=progress)
    windows, comparison = compare(
        orders, runs, sla_s=cal.sla_s, horizon_s=cal.horizon_s, window_s=window_s
    )
    summary = {
        "run_id": run.run_id,
        **comparison,
        "seeds": list(seeds),
        "window_s": window_s,
        "calibration": _description(cal, model.offered_load(), arrivals),
    }
    out = run.path / "simulation"
    out.mkdir(exist_ok=True)
    windows.to_csv(out / "windows.csv", index=False, float_format="%.6g")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out / "calibration.json").write_text(compact(cal).model_dump_json(indent=1) + "\n")
    return RunSimulation(cal, windows, summary, out)


def _description(cal: Calibration, offered_load: float, arrivals: ArrivalMode) -> dict[str, Any]:
    how_arrivals = (
        "the run's own created_at times (trace)"
        if arrivals == "trace"
        else "Poisson at orders.csv created_at's rate per fit window"
    )
    return {
        "how": (
            "stage service times: empirical, from events.csv (durations of risk_check,"
            " allocating, delivering; time in paid is queueing), base outside faults.csv's"
            f" windows plus a mean shift per segment; arrivals: {how_arrivals};"
            " pay time and callback delay: empirical from orders.csv;"
            " workers and priority lanes from run.json shop"
        ),
        "fit_window_s": cal.window_s,
        "arrivals": arrivals,
        "workers": cal.workers,
        "priority_lanes": cal.priority_lanes,
        "pay_prob": cal.pay_prob,
        "pay_time_mean_s": float(np.mean(cal.pay_time)),
        "callback_delay_mean_s": cal.callback.mean,
        "stage_mean_s": {name: f.mean for name, f in cal.stages.items()},
        "segments_shifted": {name: len(f.shifts) for name, f in cal.stages.items()},
        "fault_windows": [list(w) for w in cal.fault_windows],
        "peak_offered_load": offered_load,
    }
