"""The order pipeline model: the package's entry point, ``run(model, seed)`` (pure).

Arrivals and the payment wait are computed in vectors (nothing there competes for a resource);
the worker pool runs in SimPy; buyers' tickets are derived from what each buyer saw. Every random
source has its own named stream, so runs with the same seed share common random numbers.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from fakalab.simulate.arrivals import arrival_times
from fakalab.simulate.buyer import Timeline, file_tickets, queue_stale_at
from fakalab.simulate.eta import payment_etas, stage_clock, stage_etas
from fakalab.simulate.faults import FaultSchedule
from fakalab.simulate.params import PipelineModel
from fakalab.simulate.payment import Payments, settle_payments
from fakalab.simulate.results import OrderRecords, Summary, Window, summarise, windows
from fakalab.simulate.streams import Streams
from fakalab.simulate.workers import (
    HoldDraws,
    PoolInputs,
    PoolRecords,
    RetryDraws,
    floats,
    run_pool,
)

__all__ = ["SimulationResult", "draw_pool_inputs", "run"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SimulationResult:
    model: PipelineModel
    seed: int
    records: OrderRecords
    summary: Summary
    windows: list[Window]


def _created(model: PipelineModel, streams: Streams) -> npt.NDArray[np.float64]:
    """Creation times: the model's trace when it has one, else drawn from its load shape."""
    if model.arrival_times is None:
        return arrival_times(
            model.arrivals, streams["arrivals"], orders=model.orders, duration_s=model.duration_s
        )
    times = np.asarray(model.arrival_times, dtype=np.float64)
    if model.duration_s is None:
        return times[: model.orders]
    return times[times < model.duration_s]


def run(model: PipelineModel, seed: int = 0) -> SimulationResult:
    """Simulate ``model`` once; the same model and seed always give the same result."""
    streams, faults = Streams(seed), FaultSchedule(model.faults)
    created = _created(model, streams)
    priority = _priorities(model, streams, len(created))
    payments = settle_payments(model.payment, created, streams, faults)
    inputs = draw_pool_inputs(model, priority, payments.paid_at, streams)
    retries = [RetryDraws(stage, streams[f"retry:{stage.name}"]) for stage in model.stages]
    classes = len(model.classes) if model.priority_lanes else 1
    pool = run_pool(
        model.workers,
        model.stages,
        inputs,
        faults,
        retries,
        classes=classes,
        horizon_s=model.horizon_s,
        hold_s=model.hold_s,
        hold_retry_s=model.hold_retry_s,
        holds=HoldDraws(streams["hold"]),
    )
    records = _records(model, created, priority, payments, pool, streams)
    utilisation = _utilisation(model, records, pool.busy_s)
    return SimulationResult(
        model,
        seed,
        records,
        summarise(records, utilisation=utilisation),
        windows(records, model.window_s),
    )


def _priorities(model: PipelineModel, streams: Streams, n: int) -> npt.NDArray[np.int64]:
    if len(model.classes) == 1:
        return np.zeros(n, dtype=np.int64)
    shares = np.array([c.share for c in model.classes])
    return streams["priority"].choice(len(shares), size=n, p=shares / shares.sum())


def draw_pool_inputs(
    model: PipelineModel, priority: npt.NDArray[np.int64], paid_at: FloatArray, streams: Streams
) -> PoolInputs:
    """Queue order and every order's first-attempt draws (one stream per stage and purpose)."""
    n = len(paid_at)
    confirmed = np.flatnonzero(~np.isnan(paid_at))
    queue_order = confirmed[np.argsort(paid_at[confirmed], kind="stable")]
    lanes = priority if model.priority_lanes else np.zeros(n, dtype=np.int64)
    return PoolInputs(
        queue_order=queue_order.tolist(),
        paid_at=floats(paid_at),
        priority=lanes.tolist(),
        first_service=[
            floats(s.service.sample(streams[f"service:{s.name}"], n)) for s in model.stages
        ],
        first_uniform=[floats(streams[f"failure:{s.name}"].random(n)) for s in model.stages],
    )


def _records(
    model: PipelineModel,
    created: FloatArray,
    priority: npt.NDArray[np.int64],
    payments: Payments,
    pool: PoolRecords,
    streams: Streams,
) -> OrderRecords:
    starts = np.column_stack([_numpy(column) for column in pool.stage_start])
    ends = np.column_stack([_numpy(column) for column in pool.stage_end])
    delivered_at = _numpy(pool.delivered_at)
    patience = model.buyer.patience.sample(streams["patience"], len(created))
    started_at = _numpy(pool.started_at)
    if model.buyer.transparency == "transparent":
        ahead = np.frombuffer(pool.ahead, dtype=np.int64)
        timeline = _transparent(model, payments, starts, ends, delivered_at, ahead)
        if model.buyer.queue_updates:
            queue_stale = queue_stale_at(
                payments.paid_at,
                patience,
                started_at,
                payments.paid_click_at,
                model.buyer.poll_s,
            )
            timeline = replace(timeline, queued_column=1, queue_stale=queue_stale)
    else:
        timeline = _opaque(payments, delivered_at)
    eta_at = timeline.etas[:, 1]
    buyer = model.buyer
    tickets = file_tickets(
        timeline,
        patience,
        max_wait_s=buyer.max_wait_s,
        eta_grace_s=buyer.eta_grace_s,
        poll_s=buyer.poll_s,
    )
    end = model.horizon_s if model.horizon_s is not None else math.inf
    ticket_at = np.where(tickets.at <= end, tickets.at, np.nan)
    return OrderRecords(
        stage_names=tuple(s.name for s in model.stages),
        created_at=created,
        priority=priority,
        channel=payments.channel,
        buyer_paid=payments.paid,
        paid_click_at=payments.paid_click_at,
        paid_at=payments.paid_at,
        confirmed_by=payments.confirmed_by,
        queue_wait=started_at - payments.paid_at,
        stage_start=starts,
        stage_time=ends - starts,
        delivered_at=delivered_at,
        failed_stage=np.frombuffer(pool.failed_stage, dtype=np.int64).copy(),
        eta_at=eta_at,
        delayed=_delayed(payments.paid_at, delivered_at, model.sla_s, end),
        ticket_at=ticket_at,
        ticket_reason=np.where(np.isnan(ticket_at), -1, tickets.reason),
        gave_up=tickets.gave_up & (tickets.at <= end),
    )


def _numpy(values: array[float]) -> FloatArray:
    return np.frombuffer(values, dtype=np.float64).copy()


def _utilisation(model: PipelineModel, records: OrderRecords, busy_s: float) -> float:
    """Worker busy time over worker time from the first payment to the last stage end."""
    paid_at = records.paid_at[records.paid]
    ends = (records.stage_start + records.stage_time).ravel()
    ends = ends[~np.isnan(ends)]
    if not len(paid_at) or not len(ends):
        return math.nan
    end = model.horizon_s if model.horizon_s is not None else float(ends.max())
    span = end - float(paid_at.min())
    return float(busy_s / (model.workers * span)) if span > 0 else math.nan


def _delayed(
    paid_at: FloatArray, delivered_at: FloatArray, sla_s: float, end: float
) -> npt.NDArray[np.bool_]:
    """Paid and not delivered within the SLA (undelivered orders count once the SLA has passed
    before the end of the run)."""
    late = (delivered_at - paid_at) > sla_s
    overdue = np.isnan(delivered_at) & (end - paid_at > sla_s)
    return ~np.isnan(paid_at) & (late | overdue)


def _blocking(model: PipelineModel) -> list[int]:
    return [k for k, stage in enumerate(model.stages) if stage.blocks_delivery]


def _transparent(
    model: PipelineModel,
    payments: Payments,
    starts: FloatArray,
    ends: FloatArray,
    delivered_at: FloatArray,
    ahead: npt.NDArray[np.int64],
) -> Timeline:
    """Buyer says paid; payment confirmed (with an ETA); each blocking stage starts (with a
    new ETA); delivered."""
    blocking = _blocking(model)
    clock = stage_clock(
        starts[:, blocking],
        ends[:, blocking],
        [model.stages[k].service.expected for k in blocking],
    )
    on_payment = payment_etas(clock, payments.paid_at, ahead.astype(np.float64), model.workers)
    none = np.full(len(delivered_at), np.nan)
    changes = [payments.paid_click_at, payments.paid_at, *starts[:, blocking].T, delivered_at]
    etas = [none, on_payment, *stage_etas(clock, starts[:, blocking]).T, none]
    return _timeline(changes, etas, delivered_at)


def _opaque(payments: Payments, delivered_at: FloatArray) -> Timeline:
    """Buyer says paid; "processing" once payment is confirmed; "completed"."""
    none = np.full(len(delivered_at), np.nan)
    changes = [payments.paid_click_at, payments.paid_at, delivered_at]
    return _timeline(changes, [none, none, none], delivered_at)


def _timeline(
    changes: list[FloatArray], etas: list[FloatArray], delivered_at: FloatArray
) -> Timeline:
    matrix = np.column_stack(changes)
    delivered = np.where(np.isnan(delivered_at), np.inf, delivered_at)
    return Timeline(np.where(np.isnan(matrix), np.inf, matrix), np.column_stack(etas), delivered)
