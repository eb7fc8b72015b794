"""Calibration: fit the pipeline model to what a drill measured (pure; tables in, model out).

Times are seconds since the run's start. Stage service times are the durations between an
order's successive events (time in ``paid`` is queueing and is not used). Each fitted quantity
is an empirical *base* distribution, from the samples outside the drill's fault windows, plus a
*shift* per time segment that moves the segment's mean to the measured one: an added latency
when the segment is slower (a latency fault adds a constant, so the shape is kept), a factor
when it is faster. The shifts become the model's ``Fault`` windows, so they carry both the
injected faults and any slowdown under load (SQLite's write path).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from fakalab.simulate.dists import Dist
from fakalab.simulate.params import (
    HOLDING_STAGES,
    Buyer,
    Channel,
    Fault,
    LoadShape,
    Payment,
    PipelineModel,
    PriorityClass,
    Stage,
)

__all__ = [
    "CALLBACK",
    "STAGES",
    "ArrivalMode",
    "Calibration",
    "Fitted",
    "arrival_rates",
    "fit",
    "fit_shifts",
    "segment_edges",
    "stage_samples",
    "to_model",
]

FloatArray = npt.NDArray[np.float64]
# event state whose duration is the stage's service time -> model stage
STAGES = {"risk_check": "risk_check", "allocating": "allocation", "delivering": "delivery"}
CALLBACK = "callback"
MIN_SAMPLES = 5  # a segment with fewer samples keeps the base distribution
_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Fitted(BaseModel):
    """An empirical base distribution and per-segment shifts (start, end, factor, added)."""

    model_config = _FROZEN

    base: tuple[float, ...] = Field(min_length=1)
    shifts: tuple[tuple[float, float, float, float], ...] = ()

    @property
    def mean(self) -> float:
        return float(np.mean(self.base))

    def faults(self, target: str) -> list[Fault]:
        return [
            Fault(target=target, start_s=a, end_s=b, latency_factor=f, added_latency_s=add)
            for a, b, f, add in self.shifts
        ]


class Calibration(BaseModel):
    """Everything fitted from one run; ``to_model`` turns it into a ``PipelineModel``."""

    model_config = _FROZEN

    run_id: str
    window_s: float
    arrivals: tuple[tuple[float, float], ...]  # (segment start, orders/s), piecewise constant
    created: tuple[float, ...] = ()  # the run's own creation times, increasing (the trace)
    duration_s: float
    horizon_s: float
    sla_s: float
    pay_prob: float
    pay_time: tuple[float, ...]
    callback: Fitted
    stages: dict[str, Fitted]
    workers: int
    priority_lanes: bool
    classes: tuple[float, ...]  # shares, most urgent first
    fault_windows: tuple[tuple[float, float], ...]


def stage_samples(events: pd.DataFrame) -> dict[str, tuple[FloatArray, FloatArray]]:
    """Per model stage: (entered at, seconds until the order's next event)."""
    ev = events.sort_values(["okey", "seq"], kind="stable")
    okey, at = ev["okey"].to_numpy(), ev["at"].to_numpy(dtype=float)
    state = ev["state"].astype(str).to_numpy()
    has_next = np.append(okey[1:] == okey[:-1], False)
    duration = np.append(at[1:] - at[:-1], np.nan)
    out = {}
    for name, stage in STAGES.items():
        mask = has_next & (state == name)
        out[stage] = (at[mask], np.maximum(duration[mask], 0.0))
    return out


def segment_edges(
    end_s: float, window_s: float, fault_windows: Sequence[tuple[float, float]]
) -> FloatArray:
    """A grid every ``window_s`` plus the fault windows' edges (grid lines closer than 1 s to a
    fault edge are dropped, so no segment is a sliver)."""
    grid = np.arange(0.0, end_s + window_s, window_s)
    cuts = np.array([t for w in fault_windows for t in w if 0 < t < end_s])
    if len(cuts):
        grid = grid[np.min(np.abs(grid[:, None] - cuts[None, :]), axis=1) >= 1.0]
    return np.unique(np.concatenate([grid, cuts]))


def _outside(at: FloatArray, windows: Sequence[tuple[float, float]]) -> npt.NDArray[np.bool_]:
    inside = np.zeros(len(at), dtype=bool)
    for start, end in windows:
        inside |= (start <= at) & (at < end)
    return ~inside


def fit_shifts(
    at: FloatArray,
    values: FloatArray,
    edges: FloatArray,
    fault_windows: Sequence[tuple[float, float]],
) -> Fitted:
    """Base from the samples outside the fault windows (all, if none is); a shift per segment."""
    quiet = _outside(at, fault_windows)
    base = values[quiet] if quiet.sum() >= MIN_SAMPLES else values
    if not len(base):
        base = np.zeros(1)
    base_mean = float(base.mean())
    shifts = []
    for start, end in itertools.pairwise(edges):
        mine = values[(start <= at) & (at < end)]
        if len(mine) < MIN_SAMPLES:
            continue
        gap = float(mine.mean()) - base_mean
        if gap > 1e-6:
            shifts.append((float(start), float(end), 1.0, gap))
        elif gap < -1e-6 and base_mean > 0:
            shifts.append((float(start), float(end), float(mine.mean()) / base_mean, 0.0))
    return Fitted(base=tuple(float(v) for v in base), shifts=tuple(shifts))


def arrival_rates(
    created: FloatArray, window_s: float
) -> tuple[tuple[tuple[float, float], ...], float]:
    """Orders/s per window of ``window_s`` (the last window ends at the last arrival)."""
    if not len(created):
        raise ValueError("the run has no orders to calibrate from")
    end = float(created.max()) + 1e-6
    starts = np.arange(0.0, end, window_s)
    counts = np.histogram(created, bins=np.append(starts, end))[0]
    widths = np.diff(np.append(starts, end))
    return tuple(
        (float(s), float(c / w)) for s, c, w in zip(starts, counts, widths, strict=True)
    ), end


def fit(
    orders: pd.DataFrame,
    events: pd.DataFrame,
    *,
    meta: dict[str, object],
    fault_windows: Sequence[tuple[float, float]],
    window_s: float = 5.0,
) -> Calibration:
    """Fit from ``orders`` (created_at, paid_at = the buyer's view, shop_paid_at, priority) and
    ``events`` (okey, seq, at, state), all in seconds since the run's start."""
    created = orders["created_at"].to_numpy(dtype=float)
    paid = orders["paid_at"].to_numpy(dtype=float)
    shop_paid = orders["shop_paid_at"].to_numpy(dtype=float)
    horizon = float(meta["ended_at"]) - float(meta["started_at"])  # type: ignore[arg-type]
    arrivals, duration = arrival_rates(created, window_s)
    edges = segment_edges(horizon, window_s, fault_windows)
    confirmed = ~np.isnan(paid) & ~np.isnan(shop_paid)
    callback = fit_shifts(
        paid[confirmed], shop_paid[confirmed] - paid[confirmed], edges, fault_windows
    )
    payers = ~np.isnan(paid)
    stages = {
        stage: fit_shifts(at, values, edges, fault_windows)
        for stage, (at, values) in stage_samples(events).items()
    }
    shop = meta.get("shop") or {}
    assert isinstance(shop, dict)
    return Calibration(
        run_id=str(meta["run_id"]),
        window_s=window_s,
        arrivals=arrivals,
        created=tuple(float(v) for v in np.sort(created)),
        duration_s=duration,
        horizon_s=horizon,
        sla_s=float(meta["sla_s"]),  # type: ignore[arg-type]
        pay_prob=float(payers.mean()),
        pay_time=tuple(float(v) for v in (paid - created)[payers]) or (0.0,),
        callback=callback,
        stages=stages,
        workers=int(shop.get("workers", 4)),
        priority_lanes=bool(shop.get("priority_lanes", True)),
        classes=_class_shares(orders["priority"].to_numpy(dtype=float)),
        fault_windows=tuple((float(a), float(b)) for a, b in fault_windows),
    )


def _class_shares(priority: FloatArray) -> tuple[float, ...]:
    known = priority[~np.isnan(priority)]
    if not len(known):
        return (1.0,)
    _, counts = np.unique(known, return_counts=True)
    return tuple(float(c) for c in counts / counts.sum())


def _piecewise(points: Sequence[tuple[float, float]], end: float) -> LoadShape:
    """Piecewise-constant rates as a LoadShape (which interpolates linearly between points)."""
    out: list[tuple[float, float]] = []
    bounds = [s for s, _ in points[1:]] + [end]
    for (start, rate), stop in zip(points, bounds, strict=True):
        out += [(start, rate), (max(start, stop - 1e-6), rate)]
    if not any(rate > 0 for _, rate in out):
        out = [(0.0, 1e-9)]
    return LoadShape(points=tuple(out))


ArrivalMode = Literal["trace", "rate"]


def to_model(cal: Calibration, arrivals: ArrivalMode = "trace") -> PipelineModel:
    """The calibrated model: empirical stages and payment wait, shifts as fault windows.

    ``arrivals="trace"`` (the default) creates orders at the run's own creation times: a drill's
    arrival schedule is seeded by its scenario, so it is an input of the run, not a quantity to
    predict. ``"rate"`` draws Poisson arrivals at the rate fitted per window instead (another
    realisation of the same load).

    Measured service times already include retries, timeouts and holds, so stages run one
    attempt with no timeout and never fail (risk check and allocation hold if a what-if makes
    them fail). The delivered transaction's own write follows the ``delivered`` event and is
    never observed; the worker is held for it as long as for the ``delivering`` write
    (``commit``, a stage that does not block delivery)."""

    def stage(name: str, fitted: Fitted, blocks: bool = True) -> Stage:
        service = Dist(kind="empirical", values=fitted.base)
        return Stage(
            name=name,
            service=service,
            timeout_s=None,
            attempts=1,
            blocks_delivery=blocks,
            holds=name in HOLDING_STAGES,
        )

    fitted = dict(cal.stages)
    stages = [stage(name, f) for name, f in fitted.items()]
    if "delivery" in fitted:
        stages.append(stage("commit", fitted["delivery"], blocks=False))
        fitted["commit"] = fitted["delivery"]
    faults = [fault for name, f in fitted.items() for fault in f.faults(name)]
    faults += cal.callback.faults(CALLBACK)
    payment = Payment(
        pay_time=Dist(kind="empirical", values=cal.pay_time),
        pay_prob=cal.pay_prob,
        channels=(
            Channel(name=CALLBACK, callback_delay=Dist(kind="empirical", values=cal.callback.base)),
        ),
        failover=False,
        reconciliation=False,
        provider_retry_s=None,
    )
    classes = tuple(PriorityClass(name=f"p{k}", share=s) for k, s in enumerate(cal.classes))
    shares = sum(c.share for c in classes)
    classes = tuple(c.model_copy(update={"share": c.share / shares}) for c in classes)
    return PipelineModel(
        arrivals=_piecewise(cal.arrivals, cal.duration_s),
        arrival_times=cal.created if arrivals == "trace" and cal.created else None,
        duration_s=cal.duration_s,
        horizon_s=max(cal.horizon_s, cal.duration_s),
        workers=cal.workers,
        stages=tuple(stages),
        payment=payment,
        classes=classes,
        priority_lanes=cal.priority_lanes,
        faults=tuple(faults),
        buyer=Buyer(),
        sla_s=cal.sla_s,
        window_s=cal.window_s,
    )
