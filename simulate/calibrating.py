"""Calibrating the shop from run directories, and re-running the calibration drills (I/O).

``fakalab simulate calibrate`` runs ``simulate/calibration/cal-base.yaml`` once and
``cal-drain.yaml``, ``cal-drain-long.yaml`` and ``cal-surge.yaml`` ``--repeat`` times each, each as
``python -m fakalab drill FILE --out DIR --no-report`` in a child process (``simulate`` imports
no drill code), then fits (``calibrate_runs``) and writes ``simulate/calibration/shop.json``.
``fakalab simulate calibrate RUN_DIR…`` fits from runs that already exist, and
``fakalab simulate SCENARIO --calibration RUN_DIR…`` fits from a team's earlier runs for one
forecast without writing anything.

The base distributions come from the runs whose queue never grew beyond ``BACKLOG`` orders (all
runs, when every one had a backlog), from the events written while the queue was short (at most
one order per worker waiting) and outside every fault window; a run whose queue grew beyond
``BACKLOG`` gives a CPU speed (``fit_speed``) instead. Only a run whose queue tells the speed
(``speed_identified``: a speed 30% off either way holds it clearly worse) adds its speed to the
spread forecasts draw from; the four-worker drain drills drain as fast as their workers allow,
so speeds 30% apart fit them within a couple of orders, and only ``cal-surge`` (12 workers,
thousands waiting) drains at the CPU's pace.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from fakalab.contract.scenario import ScenarioError, parse_scenario
from fakalab.reports.metrics import queue_steps
from fakalab.reports.rundir import Run, RunDirError, load_run
from fakalab.simulate.model import run as simulate
from fakalab.simulate.params import PipelineModel
from fakalab.simulate.products import PRODUCTS
from fakalab.simulate.shop_calibration import (
    ShopCalibration,
    Source,
    base_samples,
    fakalab_version,
    iso,
    now_iso,
)

__all__ = ["BACKLOG", "CALIBRATION_DIR", "DRILLS", "calibrate_runs", "fit_cpu", "fit_speed",
           "load_origin", "run_calibration_drills", "run_scenario", "speed_identified"]

FloatArray = npt.NDArray[np.float64]
CALIBRATION_DIR = Path(__file__).parent / "calibration"
DRILLS = {"base": CALIBRATION_DIR / "cal-base.yaml", "drain": CALIBRATION_DIR / "cal-drain.yaml",
          "drain-long": CALIBRATION_DIR / "cal-drain-long.yaml",
          "surge": CALIBRATION_DIR / "cal-surge.yaml"}
BACKLOG = 50  # a run whose queue got this deep tells how fast the shop drains
SPEEDS = tuple(np.round(np.exp(np.linspace(math.log(0.3), math.log(3.0), 29)), 4))
REFINE = 4  # the best grid speed is refined between its neighbours on a 4x finer grid
IDENTIFIED_ORDERS = 5.0  # how much worse a speed 30% off must hold the queue, at least
IDENTIFIED_STEP = 1.3  # "30% off"
# CPU s/s per waiting order (its buyer's looks): fine below 0.2 ms, where the shop is
WAITING = (0.0, 0.00005, 0.0001, 0.00015, 0.0002, 0.0003, 0.0004, 0.0006, 0.0008, 0.0011, 0.0015)


def load_origin(run: Run) -> float:
    """Epoch seconds of the load's start (the first generator's), which the drill's fault
    times count from; the run's ``started_at`` (before the stack started) without it."""
    load = run.meta.get("load")
    summaries = load.get("summaries") if isinstance(load, dict) else None
    found = [s.get("started_at") for s in summaries or [] if isinstance(s, dict)]
    starts = [float(s) for s in found if isinstance(s, int | float)]
    return min(starts) if starts else run.started_at


def run_scenario(run: Run):  # type: ignore[no-untyped-def]
    """The run's own resolved scenario (``scenario.yaml``)."""
    path = run.path / "scenario.yaml"
    try:
        return parse_scenario(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise RunDirError(f"{path}: cannot read the scenario: {exc.strerror}") from None
    except ScenarioError as exc:
        raise RunDirError(f"{path}: {exc.problems[0]}") from None


def _kind(product: str) -> str:
    known = PRODUCTS.get(product)
    return known.kind if known is not None else "local"


def _quiet(run: Run, origin: float, workers: int) -> Callable[[FloatArray], npt.NDArray[np.bool_]]:
    """Event times (seconds from the load's start) outside faults and with a short queue."""
    faults = [(float(a) - origin, float(b) - origin)
              for a, b in zip(run.faults["started_at"], run.faults["ended_at"], strict=True)
              if math.isfinite(a)]
    queue = queue_steps(run.orders)

    def quiet(at: FloatArray) -> npt.NDArray[np.bool_]:
        keep = queue.at(at + origin) <= workers
        for start, end in faults:
            keep &= ~((at >= start - 1) & (at < end + 5))
        return keep

    return quiet


def _relative(run: Run, origin: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    orders = run.orders.copy()
    for column in ("created_at", "paid_at", "shop_paid_at", "buyer_paid_at", "delivered_at"):
        orders[column] = orders[column] - origin
    events = run.events.copy()
    events["at"] = events["at"] - origin
    return orders, events


def _measured_depth(run: Run, origin: float, times: FloatArray) -> FloatArray:
    return queue_steps(run.orders).at(times + origin).astype(float)


def _queue_error(model: PipelineModel, measured: FloatArray, times: FloatArray,
                 seeds: Sequence[int]) -> float:
    depth = np.zeros(len(times))
    for seed in seeds:
        records = simulate(model, seed).records
        frame = pd.DataFrame({"paid_at": np.fmin(records.paid_at, records.paid_click_at),
                              "delivered_at": records.delivered_at})
        depth += queue_steps(frame).at(times) / len(seeds)
    busy = (depth > model.workers) | (measured > model.workers)
    return float(np.abs(depth - measured)[busy].mean()) if busy.any() else 0.0


def _drain_case(run: Run, cal: ShopCalibration):  # type: ignore[no-untyped-def]
    from fakalab.simulate.scenario_model import scenario_model

    origin = load_origin(run)
    model, _ = scenario_model(run_scenario(run), calibration=cal)
    times = np.arange(0.0, run.ended_at - origin, 1.0)
    return model, _measured_depth(run, origin, times), times


def speed_identified(best: float, slower: float, faster: float) -> bool:
    """Whether a run's queue tells its CPU speed: the model holds it worse by at least
    ``IDENTIFIED_ORDERS`` (or a quarter of the best fit's difference, if more) at a speed
    ``IDENTIFIED_STEP`` times slower *and* at one that much faster. A drill whose workers, not
    the CPU, set the drain's pace fits every speed above some bound equally well."""
    margin = max(IDENTIFIED_ORDERS, 0.25 * best)
    return slower >= best + margin and faster >= best + margin


def _speed_error(case: tuple[PipelineModel, FloatArray, FloatArray], speed: float,
                 seeds: Sequence[int] = (0, 1)) -> float:
    """The queue difference of a drain case (``_drain_case``) with the CPU at ``speed``."""
    model, measured, times = case
    assert model.cpu is not None
    m = model.model_copy(update={"cpu": model.cpu.model_copy(update={"speed": speed})})
    return _queue_error(m, measured, times, seeds)


def fit_speed(run: Run, cal: ShopCalibration, seeds: Sequence[int] = (0, 1),
              speeds: Sequence[float] = SPEEDS, *, refine: bool = True) -> tuple[float, float]:
    """The CPU speed at which the model, run on this run's own scenario (its orders, faults
    and settings) with ``cal``, holds the queue closest to the one measured, second by second
    (the mean absolute difference over the seconds when either queue was longer than the
    workers); returns (speed, that difference). The best point of ``speeds`` is refined
    between its neighbours on a grid ``REFINE`` times finer, so that two runs a few per cent
    apart get speeds a few per cent apart (their spread is the forecasts' noise)."""
    case = _drain_case(run, cal)
    grid = sorted(float(s) for s in speeds)
    errors = [_speed_error(case, speed, seeds) for speed in grid]
    i = int(np.argmin(errors))
    best = (grid[i], errors[i])
    if refine and len(grid) > 1:
        lo = grid[i - 1] if i > 0 else grid[0] ** 2 / grid[1]
        hi = grid[i + 1] if i + 1 < len(grid) else grid[-1] ** 2 / grid[-2]
        for speed in np.geomspace(lo, hi, 2 * REFINE + 1)[1:-1]:
            if math.isclose(speed, grid[i]):
                continue
            error = _speed_error(case, float(speed), seeds)
            if error < best[1]:
                best = (round(float(speed), 4), error)
    return best


def fit_cpu(
    runs: Sequence[Run],
    cal: ShopCalibration,
    *,
    waiting: Sequence[float] = WAITING,
    log: Callable[[str], None] | None = None,
) -> tuple[float, dict[str, tuple[float, float]]]:
    """The CPU cost per waiting order (shared by every run) and each run's CPU speed that
    together hold the drain runs' queues closest to the measured ones (the sum of the runs'
    mean absolute differences)."""
    best: tuple[float, dict[str, tuple[float, float]]] = (0.0, {})
    best_total = math.inf
    for cost in waiting:
        trial = cal.model_copy(update={"per_waiting_s": cost})
        fits = {run.run_id: fit_speed(run, trial, speeds=SPEEDS[::2]) for run in runs}
        total = sum(error for _, error in fits.values())
        if log is not None:
            log(f"  per waiting order {cost * 1000:.2f} ms/s: queue off by "
                f"{total / max(len(fits), 1):.1f} orders on average")
        if total < best_total:
            best, best_total = (float(cost), fits), total
    cost = best[0]
    trial = cal.model_copy(update={"per_waiting_s": cost})
    return cost, {run.run_id: fit_speed(run, trial) for run in runs}


def _source(run: Run, role: str) -> Source:
    versions = run.meta.get("versions")
    version = versions.get("fakalab") if isinstance(versions, dict) else None
    return Source(run_id=run.run_id, scenario=str(run.meta.get("scenario")), role=role,
                  started_at=iso(run.started_at), fakalab=version, path=str(run.path))


def calibrate_runs(paths: Sequence[str | Path], *, log: Callable[[str], None] | None = None
                   ) -> ShopCalibration:
    """Fit a calibration from run directories (``RunDirError`` on a bad one)."""
    runs = [load_run(path) for path in paths]
    if not runs:
        raise RunDirError("no run directory to calibrate from")
    draining = [run for run in runs if int(queue_steps(run.orders).depth.max(initial=0)) > BACKLOG]
    light = [run for run in runs if run not in draining] or runs
    parts: dict[str, list[FloatArray]] = {}
    for run in light:
        origin = load_origin(run)
        workers = int((run.meta.get("shop") or {}).get("workers", 4))
        orders, events = _relative(run, origin)
        samples = base_samples(orders, events, _kind, _quiet(run, origin, workers))
        for name, values in samples.items():
            parts.setdefault(name, []).append(np.asarray(values))
    base = {name: tuple(float(v) for v in np.concatenate(values)) for name, values in parts.items()}
    from fakalab.simulate.shop_calibration import quantiles

    base = {name: quantiles(values) for name, values in base.items()}
    sources = [_source(run, "drain" if run in draining else "base") for run in runs]
    cal = ShopCalibration(sources=tuple(sources), fitted_at=now_iso(), fakalab=fakalab_version(),
                          **base)
    speeds: list[float] = []
    loose: list[float] = []
    errors: dict[str, dict[str, Any]] = {}
    cost, fits = fit_cpu(draining, cal, log=log) if draining else (0.0, {})
    fitted = cal.model_copy(update={"per_waiting_s": cost})
    for run in draining:
        speed, error = fits[run.run_id]
        case = _drain_case(run, fitted)
        slower = _speed_error(case, speed / IDENTIFIED_STEP)
        faster = _speed_error(case, speed * IDENTIFIED_STEP)
        told = speed_identified(error, slower, faster)
        (speeds if told else loose).append(speed)
        errors[run.run_id] = {"speed": speed, "mean_abs_queue_error": round(error, 2),
                              "at_slower": round(slower, 2), "at_faster": round(faster, 2),
                              "identified": told}
        if log is not None:
            step = f"{IDENTIFIED_STEP:g}x"
            log(f"{run.run_id}: CPU speed {speed:.3f} (queue off by {error:.1f} orders; "
                f"{slower:.1f} at {step} slower, {faster:.1f} at {step} faster: "
                f"{'told' if told else 'not told, left out of the spread'})")
    if not speeds:
        speeds = loose
    logs = np.log(speeds) if speeds else np.zeros(0)
    fit = {
        "speed_grid": [float(SPEEDS[0]), float(SPEEDS[-1]), len(SPEEDS)],
        "per_waiting_grid_s": list(WAITING),
        "objective": "mean absolute difference of the queue (paid, undelivered) per second, "
                     "model (mean of 2 seeds, the run's own orders and faults) against the run, "
                     "over the seconds with a backlog",
        "speeds_from": "the runs whose queue tells the speed (identified: a speed "
                       f"{IDENTIFIED_STEP:g}x off either way holds it at least "
                       f"{IDENTIFIED_ORDERS:g} orders worse)",
        "runs": errors,
    }
    if draining and not any(e["identified"] for e in errors.values()):
        fit["speeds_note"] = "no run's queue told the speed: the spread is of every drain run's"
    if not speeds:
        fit["note"] = "no run had a backlog: CPU speed 1 (the base run's), no spread"
    return cal.model_copy(update={
        "per_waiting_s": cost,
        "speeds": tuple(speeds),
        "speed_log_mean": float(logs.mean()) if len(logs) else 0.0,
        "speed_log_sd": float(logs.std(ddof=1)) if len(logs) > 1 else 0.0,
        "fit": fit,
    })


def run_calibration_drills(out: Path, *, repeat: int = 2,
                           log: Callable[[str], None] | None = None) -> list[Path]:
    """Run the calibration drills one at a time — the base drill once, then each drain drill
    ``repeat`` times, alternating — and return the run directories they wrote."""
    out.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    plan = [DRILLS["base"]] + [DRILLS["drain"], DRILLS["drain-long"], DRILLS["surge"]] * repeat
    for k, scenario in enumerate(plan, 1):
        before = set(out.iterdir())
        if log is not None:
            log(f"calibration drill {k}/{len(plan)}: {scenario.name}")
        command = [sys.executable, "-m", "fakalab", "drill", str(scenario), "--out", str(out),
                   "--no-report"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        new = sorted(p for p in set(out.iterdir()) - before if (p / "run.json").is_file())
        if done.returncode not in (0, 1) or not new:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RunDirError(f"calibration drill {scenario.name} failed (exit "
                              f"{done.returncode}): {tail[0]}")
        made += new
    return made
