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

from fakalab.simulate.announcements import Announced
from fakalab.simulate.arrivals import arrival_times
from fakalab.simulate.buyer import Timeline, file_tickets, queue_stale_at
from fakalab.simulate.calls import Calls, health_penalty
from fakalab.simulate.channels import settle_shop_payments
from fakalab.simulate.cpu import CpuCalendar
from fakalab.simulate.delay_risk import ActingRisk
from fakalab.simulate.door import DoorCounts, created_only, doorway, shifted
from fakalab.simulate.eta import payment_etas, shop_payment_etas, stage_clock, stage_etas
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

PENALISED = ("risk", "supplier-a")  # the upstreams whose health the shop's ETA adds (shop.py)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SimulationResult:
    model: PipelineModel
    seed: int
    records: OrderRecords
    summary: Summary
    windows: list[Window]
    admission: DoorCounts | None = None  # what the door did (None: no admission control)


def _created(model: PipelineModel, streams: Streams) -> npt.NDArray[np.float64]:
    """Creation times: the model's trace when it has one, else drawn from its load shape."""
    if model.trace is not None:
        times = np.asarray(model.trace.created_at, dtype=np.float64)
        if model.duration_s is None:
            return times[: model.orders]
        return times[times < model.duration_s]
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
    announced = Announced(model.announcements)
    created = _created(model, streams)
    n = len(created)
    priority = _priorities(model, streams, n)
    supplier = _suppliers(model, streams, priority)
    outages = model.cpu.outages if model.cpu is not None else ()
    if model.payment.failover_rule == "shop":
        horizon = model.horizon_s if model.horizon_s is not None else math.inf
        shop = settle_shop_payments(
            model.payment, created, streams, faults, model.upstreams, model.upstream_faults,
            outages, horizon, announced,
        )
        paid = shop.paid if model.trace is None else shop.paid & _column(model.trace.pays, n)
        payments = Payments(
            paid,
            np.where(paid, shop.paid_click_at, np.nan),
            np.where(paid, shop.paid_at, np.nan),
            shop.channel,
            np.where(paid, shop.confirmed_by, -1),
        )
    else:
        payments = settle_payments(model.payment, created, streams, faults)
    inputs = draw_pool_inputs(model, priority, payments.paid_at, streams)
    retries = [RetryDraws(stage, streams[f"retry:{stage.name}"]) for stage in model.stages]
    classes = len(model.classes) if model.priority_lanes else 1
    channels = {c.name for c in model.payment.channels}
    worker_upstreams = [u for u in model.upstreams if u.name not in channels]
    watching = np.fmin(payments.paid_at, payments.paid_click_at)  # the buyer's clock
    calls, risk = None, None
    if any(stage.upstreams for stage in model.stages):
        calls = Calls(
            worker_upstreams,
            [f for f in model.upstream_faults if f.target not in channels],
            {u.name: streams[f"calls:{u.name}"] for u in worker_upstreams},
            track_health=[u.name for u in worker_upstreams] if model.risk_acting else (),
            log_health=PENALISED if model.buyer.eta == "shop" else (),
            speed=model.cpu.speed if model.cpu is not None else 1.0,
            announced=announced,
        )
        if model.risk_acting is not None:
            suppliers = next((s.upstreams for s in model.stages if s.call_for == "supplier"),
                             ("supplier-a",))
            risk = ActingRisk(model.risk_acting, sla_s=model.sla_s, workers=model.workers,
                              calls=calls, priority=priority.tolist(),
                              supplier=supplier.tolist(),
                              paid_clock=watching.tolist(),
                              suppliers=suppliers)
    cpu = None
    if model.cpu is not None:
        cpu = CpuCalendar(model.cpu, created, watching)
    door = None
    if model.admission is not None:
        door = doorway(model.admission, model.workers, len(_blocking(model)), created, payments,
                       streams["busy"], cpu=cpu, logs=calls.log if calls is not None else None,
                       slow_s=model.payment.slow_ms / 1000, until=model.duration_s)
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
        calls=calls,
        cpu=cpu,
        supplier=supplier.tolist(),
        lane_max_wait_s=model.lane_max_wait_s if model.priority_lanes else None,
        door=door,
        risk=risk,
    )
    if door is not None:  # the orders the door let in, created and paid when it did
        payments = shifted(payments, created, door.created)
        created = door.created
    penalty = None
    if calls is not None and calls.log:
        slow_s = model.payment.slow_ms / 1000
        confirmed = np.nan_to_num(payments.paid_at, nan=0.0)
        penalty = np.max([health_penalty(log, confirmed, slow_s=slow_s)
                          for log in calls.log.values()], axis=0)
    records = _records(model, created, priority, supplier, payments, pool, streams, penalty)
    if door is not None:
        records = created_only(records)
    utilisation = _utilisation(model, records, pool.busy_s)
    return SimulationResult(
        model,
        seed,
        records,
        summarise(records, utilisation=utilisation),
        windows(records, model.window_s),
        door.counts() if door is not None else None,
    )


def _column(values: tuple[object, ...], n: int) -> npt.NDArray[np.bool_]:
    return np.asarray(values[:n], dtype=bool)


def _suppliers(
    model: PipelineModel, streams: Streams, priority: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Which orders are of supplier products: the trace's, else drawn per class."""
    if model.trace is not None:
        return _column(model.trace.supplier, len(priority))
    shares = np.array([c.supplier_share for c in model.classes])
    if not shares.any():
        return np.zeros(len(priority), dtype=bool)
    return streams["kind"].random(len(priority)) < shares[priority]


def _priorities(model: PipelineModel, streams: Streams, n: int) -> npt.NDArray[np.int64]:
    if model.trace is not None:
        return np.asarray(model.trace.cls[:n], dtype=np.int64)
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
    supplier: npt.NDArray[np.bool_],
    payments: Payments,
    pool: PoolRecords,
    streams: Streams,
    penalty: FloatArray | None = None,
) -> OrderRecords:
    starts = np.column_stack([_numpy(column) for column in pool.stage_start])
    ends = np.column_stack([_numpy(column) for column in pool.stage_end])
    delivered_at = _numpy(pool.delivered_at)
    patience = model.buyer.patience.sample(streams["patience"], len(created))
    poll: float | FloatArray = model.buyer.poll_s
    if model.trace is not None:
        patience = np.asarray(model.trace.patience_s[: len(created)], dtype=np.float64)
        poll = np.asarray(model.trace.poll_s[: len(created)], dtype=np.float64)
    elif model.buyer.poll_mix:
        shares = np.array([share for share, _ in model.buyer.poll_mix])
        periods = np.array([period for _, period in model.buyer.poll_mix])
        pick = streams["poll"].choice(len(shares), size=len(created), p=shares / shares.sum())
        poll = periods[pick]
    started_at = _numpy(pool.started_at)
    failed_stage = np.frombuffer(pool.failed_stage, dtype=np.int64).copy()
    if model.buyer.transparency == "transparent":
        ahead = np.frombuffer(pool.ahead, dtype=np.int64)
        left = _left_at(model, starts, ends, delivered_at, failed_stage)
        timeline = _transparent(model, payments, starts, ends, delivered_at, ahead, priority,
                                left, penalty)
        if model.buyer.queue_updates:
            queue_stale = queue_stale_at(
                payments.paid_at,
                patience,
                started_at,
                payments.paid_click_at,
                poll,
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
        poll_s=poll,
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
        failed_stage=failed_stage,
        review=np.frombuffer(pool.review, dtype=np.int8).astype(bool),
        supplier=supplier,
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


def _left_at(
    model: PipelineModel,
    starts: FloatArray,
    ends: FloatArray,
    delivered_at: FloatArray,
    failed_stage: npt.NDArray[np.int64],
) -> FloatArray:
    """When orders left the pipeline (delivered, or parked), sorted: the shop's throughput."""
    parked = failed_stage >= 0
    rows = np.flatnonzero(parked)
    parked_at = ends[rows, failed_stage[rows]] if len(rows) else np.zeros(0)
    left = np.concatenate([delivered_at[~np.isnan(delivered_at)], parked_at])
    return np.sort(left[~np.isnan(left)])


def _transparent(
    model: PipelineModel,
    payments: Payments,
    starts: FloatArray,
    ends: FloatArray,
    delivered_at: FloatArray,
    ahead: npt.NDArray[np.int64],
    priority: npt.NDArray[np.int64],
    left_at: FloatArray,
    penalty: FloatArray | None = None,
) -> Timeline:
    """Buyer says paid; payment confirmed (with an ETA); each blocking stage starts (with a
    new ETA); delivered."""
    blocking = _blocking(model)
    clock = stage_clock(
        starts[:, blocking],
        ends[:, blocking],
        [model.stages[k].service.expected for k in blocking],
    )
    if model.buyer.eta == "shop":
        lanes = priority if model.priority_lanes else np.zeros(len(priority), dtype=np.int64)
        on_payment = shop_payment_etas(
            clock, payments.paid_at, ahead.astype(np.float64), model.workers,
            priority=lanes, left_at=left_at, floor_s=model.buyer.eta_floor_s, penalty=penalty,
        )
    else:
        on_payment = payment_etas(clock, payments.paid_at, ahead.astype(np.float64),
                                  model.workers)
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
