"""Forecast a scenario, then drill it, then compare (shared by validate_catalog.py and
bench_fault_mappings.py).

The forecast of every variant is made and written (``OUT/forecasts/NAME.json``, with the time it
was made and the calibration it used) *before* the drill starts; the drill runs as
``python -m fakalab drill SCENARIO --out OUT/runs --no-report`` in a child process, one at a
time; each run is then compared with the forecast made for it (``simulate.against.compare``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakalab.contract.scenario import Scenario, load_scenario
from fakalab.reports.rundir import load_run
from fakalab.simulate.against import compare, refusal
from fakalab.simulate.forecast import Forecast, forecast
from fakalab.simulate.scenario_model import load_calibration, scenario_model
from fakalab.simulate.shop_calibration import ShopCalibration

__all__ = ["Checked", "cell", "check", "row_verdict"]


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class Checked:
    name: str  # scenario[variant]
    forecast: Forecast
    forecast_at: str
    comparison: dict[str, Any] | None = None
    drilled_at: str | None = None
    error: str | None = None
    load: dict[str, float] | None = None  # the machine's load average before and during
    invalid: list[str] | None = None  # the run's invalid_reasons, when the harness marked it

    def run_cell(self) -> str:
        """The run's id, and why the harness called it invalid (its figures are then not a
        measurement of the shop)."""
        run_id = self.comparison["run_id"] if self.comparison else "—"
        if self.invalid:
            return f"{run_id} ⚠ invalid: {'; '.join(self.invalid)}"
        return str(run_id)


def wait_quiet(max_load: float, limit_s: float, log: Any) -> float:
    """Wait until the 1-minute load average is below ``max_load`` (other jobs on a shared
    machine are the harness's largest noise), at most ``limit_s``; returns it."""
    started = time.monotonic()
    load = os.getloadavg()[0]
    while load >= max_load and time.monotonic() - started < limit_s:
        log(f"  waiting for a quiet machine: load {load:.2f} ≥ {max_load:g}")
        time.sleep(15)
        load = os.getloadavg()[0]
    return load


class _LoadWatch:
    """The 1-minute load average every 5 s while a drill runs (its own processes included)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(5.0):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> _LoadWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _variants(scenario: Scenario) -> list[tuple[str | None, Scenario]]:
    if not scenario.variants:
        return [(None, scenario)]
    return [(v.name, scenario.variant(v.name)) for v in scenario.variants]


def _label(name: str, variant: str | None) -> str:
    return f"{name}[{variant}]" if variant else name


def check(target: str, out: Path, *, seeds: int = 20, sets: Sequence[str] = (),
          calibration: ShopCalibration | None = None, drill: bool = True,
          runs: Sequence[Path] = (), log: Any = print, max_load: float | None = None,
          wait_s: float = 1200.0) -> list[Checked]:
    """Forecast every variant of ``target``, write the forecasts, drill, compare."""
    cal = calibration or load_calibration()
    scenario = load_scenario(target, list(sets))
    (out / "forecasts").mkdir(parents=True, exist_ok=True)
    checked: dict[str | None, Checked] = {}
    for variant, resolved in _variants(scenario):
        model, notes = scenario_model(resolved, calibration=cal)
        made = forecast(model, range(seeds), speed_log_mean=cal.speed_log_mean,
                        speed_log_sd=cal.speed_log_sd, notes=notes,
                        calibration={"description": cal.describe()})
        label = _label(scenario.name, variant)
        at = now()
        path = out / "forecasts" / f"{label}.json"
        path.write_text(json.dumps({"scenario": label, "forecast_at": at,
                                    "forecast": made.document()}, indent=1) + "\n")
        checked[variant] = Checked(label, made, at)
        log(f"{label}: forecast written {path} ({at})")
    found: list[Path] = list(runs)
    load: dict[str, float] | None = None
    if drill:
        runs_dir = out / "runs"
        runs_dir.mkdir(parents=True, exist_ok=True)
        before = set(runs_dir.iterdir())
        command = [sys.executable, "-m", "fakalab", "drill", target, "--out", str(runs_dir),
                   "--no-report", *[f"--set={s}" for s in sets]]
        quiet = wait_quiet(max_load, wait_s, log) if max_load is not None else \
            os.getloadavg()[0]
        log(f"{scenario.name}: drilling ({' '.join(command[2:])}), load {quiet:.2f}")
        started = time.monotonic()
        with _LoadWatch() as watch:
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode in (130, 143):  # the drill stopped on SIGINT/SIGTERM: so do we
            raise SystemExit(f"{scenario.name}: the drill was interrupted (exit "
                             f"{done.returncode}); not drilling the rest")
        during = watch.samples or [math.nan]
        load = {"before": round(quiet, 2), "during_mean": round(sum(during) / len(during), 2),
                "during_max": round(max(during), 2)}
        log(f"{scenario.name}: drill exit {done.returncode} after "
            f"{time.monotonic() - started:.0f} s; load during {load['during_mean']:.2f} "
            f"(max {load['during_max']:.2f})")
        found = sorted(p for p in set(runs_dir.iterdir()) - before if (p / "run.json").is_file())
        if not found:
            for item in checked.values():
                item.error = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
            return list(checked.values())
    for path in found:
        run = load_run(path)
        variant = run.meta.get("variant")
        item = checked.get(variant)
        if item is None:
            continue
        resolved = dict(_variants(scenario))[variant]
        problem = refusal(resolved, run, cal)
        if problem:
            item.error = problem
            continue
        item.comparison = compare(item.forecast, run)
        if run.meta.get("valid") is False:
            item.invalid = [str(r) for r in run.meta.get("invalid_reasons") or ["see run.json"]]
        item.load = load
        item.drilled_at = dt.datetime.fromtimestamp(run.started_at, dt.UTC).isoformat(
            timespec="seconds")
    return list(checked.values())


def row_verdict(figure: dict[str, Any]) -> str:
    """✓ within the target; ◐ outside it but inside the prediction interval; ✗ neither."""
    if figure["within_target"]:
        return "✓"
    if figure["inside_interval"]:
        return "◐"
    if figure["within_target"] is None and figure["inside_interval"] is None:
        return "—"
    return "✗"


def _num(name: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if name == "delay_rate":
        return f"{100 * value:.2f}%"
    if name == "p95_s":
        return f"{value:.3g} s" if value < 10 else f"{value:.1f} s"
    if name == "peak_queue_depth":
        return f"{value:.0f}"
    return f"{value:.3g}"


def cell(name: str, figure: dict[str, Any]) -> str:
    lo, hi = figure["interval"]
    error = ""
    if name == "delay_rate" and figure["error_pp"] is not None:
        error = f" ({figure['error_pp']:+.1f} pp)"
    elif figure["error_pct"] is not None and name != "delay_rate":
        error = f" ({figure['error_pct']:+.0f}%)"
    mark = row_verdict(figure)
    if name not in ("delay_rate", "p95_s"):  # no target of its own: the interval decides
        mark = "" if figure["inside_interval"] is None else (
            "✓" if figure["inside_interval"] else "✗")
    return (f"{_num(name, figure['forecast'])} [{_num(name, lo)}, {_num(name, hi)}] / "
            f"**{_num(name, figure['measured'])}**{error} {mark}").strip()
