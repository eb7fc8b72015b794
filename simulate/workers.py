"""The fulfilment worker pool as SimPy processes, fed by a priority queue of FIFO lanes.

SimPy's ``PriorityResource`` re-sorts its whole queue on every request, which is quadratic
when the queue grows under overload; ``HeapQueue`` keeps waiting orders in one FIFO lane per
class (with the shop's lane wait limit) and hands an order straight to an idle worker. A
worker holds an order through every stage, attempts included (timeouts, failures, jittered
exponential backoff); since nothing interrupts it, the order's pass is worked out when it
starts (``simulate.plan``) and the worker sleeps until delivery and then until the end of the
order's work: two SimPy events per order instead of one per attempt. Calls to the shop's
upstreams near a fault (or with a breaker that has counted failures) are the exception: the
worker sleeps until each such attempt's moment before it is worked out (``Planner.steps``),
so a breaker counts every worker's failures in the order they happen. A pass that ends in a
hold frees the worker at the failure; the order joins the queue again after the hold delay,
behind the orders of its class waiting then (the shop's FIFO lanes), and resumes the held
stage.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import simpy

from fakalab.simulate.calls import Calls
from fakalab.simulate.cpu import CpuCalendar
from fakalab.simulate.delay_risk import ActingRisk
from fakalab.simulate.faults import FaultSchedule
from fakalab.simulate.lanes import HeapQueue
from fakalab.simulate.params import Stage
from fakalab.simulate.plan import HoldDraws, Plan, Planner, RetryDraws

__all__ = [
    "HeapQueue",
    "HoldDraws",
    "Plan",
    "PoolInputs",
    "PoolRecords",
    "RetryDraws",
    "floats",
    "run_pool",
]

Process = Generator[simpy.Event, Any, Any]


class DoorHooks(Protocol):
    """What the pool asks of admission control (``simulate.door.Doorway``)."""

    def arrivals(self, pool: _Pool) -> Process: ...

    def planned(self, plan: Plan, blocking: Sequence[int]) -> None: ...


def floats(values: npt.NDArray[np.float64]) -> array[float]:
    """A compact float array whose items read back as Python floats (fast scalar access)."""
    out = array("d")
    out.frombytes(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return out


@dataclass(frozen=True)
class PoolInputs:
    """What the pool needs per order, indexed by order."""

    queue_order: list[int]  # paid orders, in order of confirmation
    paid_at: array[float]
    priority: list[int]
    first_service: list[array[float]]  # [stage][order]: first attempt's service time
    first_uniform: list[array[float]]  # [stage][order]: first attempt's failure draw


@dataclass
class PoolRecords:
    """Per order: queue exit, stage starts and ends, delivery, failed stage (−1: none), orders
    waiting ahead on first joining the queue; and the total worker busy time. Stages are
    recorded when a pass ends, so an order still in progress at the horizon has only
    ``started_at`` (and ``delivered_at`` if it was delivered before the horizon) and the stages
    of its earlier passes. A held stage's start is its first start, its end the last pass's."""

    orders: int
    stages: int
    started_at: array[float] = field(init=False)
    stage_start: list[array[float]] = field(init=False)
    stage_end: list[array[float]] = field(init=False)
    delivered_at: array[float] = field(init=False)
    failed_stage: array[int] = field(init=False)
    review: array[int] = field(init=False)  # 1: parked as needs_review
    ahead: array[int] = field(init=False)
    busy_s: float = 0.0

    def __post_init__(self) -> None:
        n = self.orders
        self.started_at, self.delivered_at = _nans(n), _nans(n)
        self.stage_start = [_nans(n) for _ in range(self.stages)]
        self.stage_end = [_nans(n) for _ in range(self.stages)]
        self.failed_stage, self.ahead = array("q", [-1]) * n, array("q", [0]) * n
        self.review = array("b", [0]) * n


def _nans(n: int) -> array[float]:
    return array("d", [math.nan]) * n


class _Pool:
    def __init__(
        self,
        env: simpy.Environment,
        stages: Sequence[Stage],
        inputs: PoolInputs,
        planner: Planner,
        holds: HoldDraws,
        classes: int,
        hold_retry_s: float,
        horizon_s: float | None,
        lane_max_wait_s: float | None = None,
        door: DoorHooks | None = None,
        workers: int = 1,
        risk: ActingRisk | None = None,
    ) -> None:
        self.door, self.workers, self.risk = door, workers, risk
        self.stages_blocking = [k for k, s in enumerate(stages) if s.blocks_delivery]
        self.env, self.inputs, self.holds, self.hold_retry_s = env, inputs, holds, hold_retry_s
        self.plan, self.steps = planner.plan, planner.steps
        self.stepping = planner.calls is not None  # the shop's calls: step through them
        self.stages = len(stages)
        self.queue = HeapQueue(env, classes, lane_max_wait_s)
        n = max(len(inputs.paid_at), 1)
        self.stride = n * _entries_per_order(stages, planner.hold_s, hold_retry_s)
        self.entries: list[int] = []  # by queue entry: the order, or ~(order·stages + stage)
        self.records = PoolRecords(len(inputs.paid_at), len(stages))
        self.horizon_s = horizon_s
        if risk is not None:
            risk.depth = lambda: self.queue.waiting
            risk.busy = lambda: self.busy
            risk.paid_on_queue = door is not None  # the door decides when orders are paid

    def feeder(self) -> Process:
        env, paid_at = self.env, self.inputs.paid_at
        for i in self.inputs.queue_order:
            if paid_at[i] > env.now:
                yield env.timeout(paid_at[i] - env.now)
            self.enqueue(i)

    def enqueue(self, i: int) -> None:
        """Paid order ``i`` joins the queue now."""
        cls = self.inputs.priority[i]
        ahead = self.records.ahead[i] = self.queue.ahead_of(cls)
        key = cls * self.stride + len(self.entries)
        self.entries.append(i)
        urgent = self.risk is not None and self.risk.paid(i, self.env.now, ahead)
        self.queue.put(key, cls, urgent)

    @property
    def busy(self) -> int:
        """Workers holding an order now."""
        return self.workers - len(self.queue.idle)

    def requeue(self, i: int, stage: int) -> None:
        """Queue held order ``i`` again after the hold delay, behind every order waiting then."""

        def put(_: simpy.Event) -> None:
            cls, joined = self.inputs.priority[i], len(self.entries)
            if joined >= self.stride:  # cannot happen (_entries_per_order); never misorder
                raise RuntimeError("more queue entries than _entries_per_order allows")
            key = cls * self.stride + joined
            self.entries.append(~(i * self.stages + stage))
            self.queue.put(key, cls, self.risk is not None and i in self.risk.urgent)

        delay = self.hold_retry_s * self.holds.next()
        self.env.timeout(delay).callbacks.append(put)

    def worker(self) -> Process:
        queue, entries, stride = self.queue, self.entries, self.stride
        while True:
            got = queue.get(stride)
            key = (yield got) if isinstance(got, simpy.Event) else got
            entry = entries[key % stride]
            if entry >= 0:
                yield from self.serve(entry)
            else:
                yield from self.serve(*divmod(~entry, self.stages))

    def serve(self, i: int, resume: int = -1) -> Process:
        env, records = self.env, self.records
        began = env.now
        if resume < 0:
            records.started_at[i] = began
        if self.stepping:
            plan = yield from self.work_out(i, began, resume)
        else:
            plan = self.plan(i, began, resume)
        if self.door is not None:
            self.door.planned(plan, self.stages_blocking)
        if self.horizon_s is None:  # nothing stops the run early: record now, sleep once
            self.record(i, plan)
            yield env.timeout(plan.end - env.now)
        else:
            if plan.delivered_at == plan.delivered_at:  # delivered (not NaN)
                yield env.timeout(plan.delivered_at - env.now)
                records.delivered_at[i] = plan.delivered_at
            if plan.end > env.now:
                yield env.timeout(plan.end - env.now)
            self.record(i, plan)
        if plan.held >= 0:
            self.requeue(i, plan.held)

    def work_out(self, i: int, began: float, resume: int) -> Process:
        """Order ``i``'s pass step by step, sleeping until each moment it yields: every other
        worker's attempts before it are worked out first, so breakers count the failures of
        all workers in the order they happen."""
        env, steps = self.env, self.steps(i, began, resume)
        while True:
            try:
                at = next(steps)
            except StopIteration as done:
                plan: Plan = done.value
                return plan
            if at > env.now:
                yield env.timeout(at - env.now)

    def record(self, i: int, plan: Plan) -> None:
        records = self.records
        if plan.resume >= 0 or plan.held >= 0:
            self.record_pass(i, plan)
            return
        for k in range(len(plan.starts)):
            records.stage_start[k][i] = plan.starts[k]
            records.stage_end[k][i] = plan.ends[k]
        records.delivered_at[i] = plan.delivered_at
        records.failed_stage[i] = plan.failed_stage
        records.review[i] = plan.review
        records.busy_s += plan.end - plan.starts[0]

    def record_pass(self, i: int, plan: Plan) -> None:
        """A pass that resumes a held stage keeps the stage's first start; a held stage has no
        end until its last pass."""
        records, first = self.records, max(plan.resume, 0)
        for offset, (start, end) in enumerate(zip(plan.starts, plan.ends, strict=True)):
            k = first + offset
            if k != plan.resume:
                records.stage_start[k][i] = start
            records.stage_end[k][i] = math.nan if k == plan.held else end
        records.delivered_at[i] = plan.delivered_at
        records.failed_stage[i] = plan.failed_stage
        records.review[i] = plan.review
        records.busy_s += plan.end - plan.starts[0]


def _entries_per_order(stages: Sequence[Stage], hold_s: float, hold_retry_s: float) -> int:
    """At most how often an order enters the queue: once, plus once per hold. Holds happen
    before ``hold_s`` after payment and at least 0.5 × ``hold_retry_s`` apart."""
    if hold_s <= 0 or not any(stage.holds for stage in stages):
        return 1
    return 3 + math.ceil(2 * hold_s / hold_retry_s)


def run_pool(
    workers: int,
    stages: Sequence[Stage],
    inputs: PoolInputs,
    faults: FaultSchedule,
    retries: Sequence[RetryDraws],
    *,
    classes: int = 1,
    horizon_s: float | None = None,
    hold_s: float = 0.0,
    hold_retry_s: float = 1.0,
    holds: HoldDraws | None = None,
    calls: Calls | None = None,
    cpu: CpuCalendar | None = None,
    supplier: Sequence[bool] | None = None,
    lane_max_wait_s: float | None = None,
    door: DoorHooks | None = None,
    risk: ActingRisk | None = None,
) -> PoolRecords:
    """Run the pool until every queued order is done (or until ``horizon_s``). An order whose
    holding stage fails less than ``hold_s`` after payment is queued again after
    ``hold_retry_s`` × a jitter from ``holds`` (default: a stream of its own, seed 0). With
    ``lane_max_wait_s`` an order waiting that long is served before the classes above it. With
    a ``door`` (admission control, ``simulate.door``) orders join when it lets them in and
    they are paid, instead of at ``inputs.paid_at``."""
    env = simpy.Environment()
    planner = Planner(
        stages,
        inputs.first_service,
        inputs.first_uniform,
        inputs.paid_at,
        faults,
        retries,
        hold_s,
        calls,
        cpu,
        supplier,
        risk,
    )
    holds = holds or HoldDraws(np.random.default_rng(0))
    pool = _Pool(env, stages, inputs, planner, holds, classes, hold_retry_s, horizon_s,
                 lane_max_wait_s, door, workers, risk)
    env.process(pool.feeder() if door is None else door.arrivals(pool))
    for _ in range(workers):
        env.process(pool.worker())
    env.run(until=horizon_s)
    return pool.records
