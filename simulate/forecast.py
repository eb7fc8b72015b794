"""A forecast: the model run many times, every figure as the drill's report defines it, with
intervals that respect each figure's bounds (pure; replications spread over processes).

**Figures** (``reports.metrics``): an order is paid at the earlier of the shop's confirmation
and the buyer's "I have paid"; delayed when delivered more than ``sla_s`` later, or not
delivered by the end of the run though paid ``sla_s`` before it; ``delay_rate`` = delayed /
decided; ``p95_s`` of paid → delivered over delivered orders; ``tickets_per_100_delayed`` =
100 × tickets / delayed orders (every ticket, as the report counts them; 0 when none was
delayed); ``peak_queue_depth``: the most orders paid and not yet delivered at any moment.
The run ends as a drill does (``run_end``): when the load ends and nothing is in flight any
more, at most ``min(sla_s, 20 s)`` later, plus the drill's tear-down; tickets stop with the load
(Locust's run time).

**Intervals**, named in every output (``METHOD``):

- the *prediction interval* of a figure is the 2.5th–97.5th percentile of its values over the
  replications (so it lies within the figure's bounds: rates in [0, 1], counts ≥ 0). Each
  replication has its own random draws (service times, payments, buyers) and its own CPU speed
  (``Cpu.speed``), drawn from the spread the calibration measured between repeats of its drain
  drill: a drill on this machine is one draw of that harness noise too;
- the interval of the *mean* is a bootstrap percentile interval (2,000 resamples of the
  replications; also within bounds).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from fakalab.reports.metrics import outcomes, percentile, queue_steps
from fakalab.reports.spread import bootstrap_mean
from fakalab.simulate.door import DoorCounts
from fakalab.simulate.model import run
from fakalab.simulate.parallel import Progress, run_all
from fakalab.simulate.params import PipelineModel
from fakalab.simulate.results import OrderRecords

__all__ = ["ADMISSION_FIGURES", "FIGURES", "METHOD", "TEARDOWN_S", "Estimate", "Forecast",
           "bootstrap_mean", "door_figures", "figures_of", "forecast", "prediction_interval",
           "run_end", "shown_figures", "windows_of"]

FloatArray = npt.NDArray[np.float64]
FIGURES = ("delay_rate", "p95_s", "tickets_per_100_delayed", "peak_queue_depth")
# with admission control: buyers refused at least once (share of those who tried), buyers who
# gave up after a refusal, paid orders delivered inside the SLA per second of the run
ADMISSION_FIGURES = ("buyers_refused_share", "buyers_gave_up", "goodput_per_s")
TEARDOWN_S = 1.2  # a drill's ended_at comes this long after its load (the shop's stop)
LEVEL = 0.95
METHOD = {
    "prediction": "2.5th-97.5th percentiles of the replications (each with its own random "
                  "draws and a CPU speed drawn from the calibration's repeat spread)",
    "mean": "bootstrap percentile interval of the mean (2,000 resamples of the replications)",
}


@dataclass(frozen=True)
class Estimate:
    """A forecast figure: the mean over replications, the interval a single drill should fall
    in (``lo``, ``hi``), and the bootstrap interval of the mean."""

    mean: float
    lo: float
    hi: float
    mean_lo: float
    mean_hi: float
    values: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, float | None]:
        def clean(v: float) -> float | None:
            return None if v is None or math.isnan(v) else float(v)

        return {"mean": clean(self.mean), "lo": clean(self.lo), "hi": clean(self.hi),
                "mean_lo": clean(self.mean_lo), "mean_hi": clean(self.mean_hi)}

    def contains(self, value: float | None) -> bool | None:
        if value is None or math.isnan(value) or math.isnan(self.lo):
            return None
        return self.lo <= value <= self.hi


def prediction_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    finite = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if not len(finite):
        return math.nan, math.nan
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return float(lo), float(hi)


def estimate(values: Sequence[float]) -> Estimate:
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    mean = float(np.mean(finite)) if finite else math.nan
    lo, hi = prediction_interval(finite)
    mlo, mhi = bootstrap_mean(finite)
    return Estimate(mean, lo, hi, mlo, mhi, tuple(finite))


def run_end(model: PipelineModel, records: OrderRecords) -> float:
    """When a drill of this model would end (seconds from the load's start): once the load is
    over and no confirmed order is in flight, but at most the drain limit (``horizon_s``)
    after the load; plus the tear-down."""
    load_end = model.duration_s if model.duration_s is not None else float(
        np.nanmax(records.created_at, initial=0.0))
    limit = model.horizon_s if model.horizon_s is not None else math.inf
    confirmed = records.paid
    ends = records.stage_start + records.stage_time
    parked_at = np.full(len(records), np.nan)
    rows = np.flatnonzero(records.failed_stage >= 0)
    parked_at[rows] = ends[rows, records.failed_stage[rows]]
    final = np.fmin(records.delivered_at, parked_at)[confirmed]
    if np.isnan(final).any():
        last = limit
    else:
        last = min(max(load_end, float(final.max(initial=load_end))), limit)
    return last + TEARDOWN_S if math.isfinite(last) else float(np.nanmax(final, initial=0.0))


def _frame(records: OrderRecords) -> pd.DataFrame:
    return pd.DataFrame({"paid_at": np.fmin(records.paid_at, records.paid_click_at),
                         "delivered_at": records.delivered_at})


def shown_figures(model: PipelineModel) -> tuple[str, ...]:
    """The figures a forecast of ``model`` shows: the headline, and refusals with admission."""
    return FIGURES + (ADMISSION_FIGURES if model.admission is not None else ())


def door_figures(buyers: int, refused: int, gave_up: int, refusals: int, inside: int,
                 end_s: float) -> dict[str, float]:
    """The admission figures (the report's ``admission`` section; goodput per second from the
    load's start to the run's end)."""
    return {"buyers": float(buyers), "refusals": float(refusals),
            "buyers_refused": float(refused),
            "buyers_refused_share": refused / buyers if buyers else math.nan,
            "buyers_gave_up": float(gave_up),
            "goodput_per_s": inside / end_s if end_s > 0 else math.nan}


def figures_of(model: PipelineModel, records: OrderRecords, end_s: float | None = None,
               door: DoorCounts | None = None) -> dict[str, float]:
    """The headline figures of one replication, as the report computes them (and what the
    door did, ``door``: without one every buyer's order was created)."""
    end = run_end(model, records) if end_s is None else end_s
    frame = _frame(records)
    out = outcomes(frame, model.sla_s, end)
    delayed, decided = int(out["delayed"].sum()), int(out["decided"].sum())
    load_end = model.duration_s if model.duration_s is not None else end
    tickets = int(((records.ticket_reason >= 0) & (records.ticket_at <= min(load_end, end))).sum())
    depth = queue_steps(frame).depth
    p95 = percentile(out["ttd"], 95)
    return {
        "delay_rate": delayed / decided if decided else math.nan,
        "p95_s": math.nan if p95 is None else p95,
        "tickets_per_100_delayed": 100 * tickets / delayed if delayed else 0.0,
        "peak_queue_depth": float(depth.max()) if depth.size else 0.0,
        "orders": float(len(records)),
        "paid": float(out["paid"].sum()),
        "delayed": float(delayed),
        "decided": float(decided),
        "tickets": float(tickets),
        "end_s": end,
        **door_figures(
            door.buyers if door else len(records), door.buyers_refused if door else 0,
            door.buyers_gave_up if door else 0, door.refusals if door else 0,
            int((out["paid"] & out["delivered"] & ~out["delayed"]).sum()), end),
    }


def windows_of(model: PipelineModel, records: OrderRecords, end_s: float,
               window_s: float = 10.0) -> pd.DataFrame:
    """Per window of payment time: delay rate, p95 and the queue depth at the window's end."""
    return window_figures(_frame(records), model.sla_s, end_s, window_s)


def window_figures(frame: pd.DataFrame, sla_s: float, end_s: float, window_s: float
                   ) -> pd.DataFrame:
    """The same per-window figures for any orders table (``paid_at``, ``delivered_at``): delay
    rate and p95 (linear interpolation, as ``reports.metrics.percentile``) of the orders paid
    in each window, and the queue depth at its end (vectorised: millions of orders)."""
    out = outcomes(frame, sla_s, end_s)
    count = max(1, math.ceil(end_s / window_s))
    starts = np.arange(count) * window_s
    stops = np.minimum(starts + window_s, end_s)
    paid = frame["paid_at"].to_numpy(dtype=float)
    inside = np.isfinite(paid) & (paid >= 0) & (paid < count * window_s)
    index = np.where(inside, np.floor(np.where(inside, paid, 0) / window_s), -1).astype(np.int64)
    keep = index >= 0
    decided = np.bincount(index[keep], weights=out["decided"].to_numpy()[keep], minlength=count)
    delayed = np.bincount(index[keep], weights=out["delayed"].to_numpy()[keep], minlength=count)
    ttd = out["ttd"].to_numpy(dtype=float)
    done = keep & np.isfinite(ttd)
    groups, values = index[done], ttd[done]
    order = np.lexsort((values, groups))
    groups, values = groups[order], values[order]
    first = np.searchsorted(groups, np.arange(count), side="left")
    size = np.searchsorted(groups, np.arange(count), side="right") - first
    position = first + 0.95 * np.maximum(size - 1, 0)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, first + np.maximum(size - 1, 0))
    frac = position - low
    p95 = np.full(count, np.nan)
    has = size > 0
    if values.size:
        p95[has] = values[low[has]] * (1 - frac[has]) + values[high[has]] * frac[has]
    depth = queue_steps(frame).at(stops).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(decided > 0, delayed / np.where(decided > 0, decided, 1), np.nan)
    return pd.DataFrame({"window_start": starts, "window_end": stops, "delay_rate": rate,
                         "p95_s": p95, "queue_depth": depth})


@dataclass(frozen=True)
class Forecast:
    """Every figure's estimate, and per window (the mean and interval over replications)."""

    model: PipelineModel
    seeds: tuple[int, ...]
    speeds: tuple[float, ...]
    figures: dict[str, Estimate]
    windows: pd.DataFrame  # window_start, window_end, then <figure>, <figure>_lo, <figure>_hi
    end_s: Estimate
    notes: list[str] = field(default_factory=list)
    calibration: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        return {
            "seeds": list(self.seeds),
            "cpu_speeds": [round(s, 4) for s in self.speeds],
            "figures": {name: e.as_dict() for name, e in self.figures.items()},
            "run_end_s": self.end_s.as_dict(),
            "windows": _records(self.windows),
            "intervals": METHOD,
            "faults": self.notes,
            "calibration": self.calibration,
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in frame.to_dict(orient="records")]


def _replicate(task: tuple[PipelineModel, int, float]) -> tuple[dict[str, float], pd.DataFrame]:
    model, seed, window_s = task
    result = run(model, seed)
    records = result.records
    figures = figures_of(model, records, door=result.admission)
    return figures, windows_of(model, records, figures["end_s"], window_s)


def speeds_for(seeds: Sequence[int], log_mean: float, log_sd: float) -> list[float]:
    """One CPU speed per replication, lognormal, from a stream of its own per seed."""
    return [float(math.exp(log_mean + log_sd * np.random.default_rng([seed, 7919])
                           .standard_normal())) for seed in seeds]


def forecast(
    model: PipelineModel,
    seeds: Sequence[int],
    *,
    speed_log_mean: float = 0.0,
    speed_log_sd: float = 0.0,
    window_s: float = 10.0,
    processes: int | None = None,
    progress: Progress | None = None,
    notes: Sequence[str] = (),
    calibration: dict[str, Any] | None = None,
) -> Forecast:
    speeds = speeds_for(seeds, speed_log_mean, speed_log_sd) if model.cpu is not None \
        else [1.0] * len(seeds)
    tasks = []
    for seed, speed in zip(seeds, speeds, strict=True):
        m = model
        if model.cpu is not None:
            m = model.model_copy(update={"cpu": model.cpu.model_copy(update={"speed": speed})})
        tasks.append((m, seed, window_s))
    results = run_all(_replicate, tasks, processes=processes, progress=progress)
    figures = {name: estimate([r[0][name] for r in results]) for name in FIGURES}
    for extra in ("orders", "paid", "delayed", "decided", "tickets", "buyers", "refusals",
                  "buyers_refused", *ADMISSION_FIGURES):
        figures[extra] = estimate([r[0][extra] for r in results])
    frames = [r[1] for r in results]
    longest = max(frames, key=len)
    windows = longest[["window_start", "window_end"]].copy()
    tail = (1 - LEVEL) / 2 * 100
    for name in ("delay_rate", "p95_s", "queue_depth"):
        grid = np.full((len(frames), len(windows)), np.nan)
        for k, f in enumerate(frames):
            grid[k, : len(f)] = f[name].to_numpy(dtype=float)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a window no replication has
            windows[name] = np.nanmean(grid, axis=0)
            windows[f"{name}_lo"] = np.nanpercentile(grid, tail, axis=0)
            windows[f"{name}_hi"] = np.nanpercentile(grid, 100 - tail, axis=0)
    end = estimate([r[0]["end_s"] for r in results])
    return Forecast(model, tuple(seeds), tuple(speeds), figures, windows, end, list(notes),
                    dict(calibration or {}))
