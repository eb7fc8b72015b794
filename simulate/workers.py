"""The fulfilment worker pool as SimPy processes, fed by a heap-based priority queue.

SimPy's ``PriorityResource`` re-sorts its whole queue on every request, which is quadratic
when the queue grows under overload; ``HeapQueue`` keeps waiting orders in a binary heap and
hands an order straight to an idle worker. A worker holds an order through every stage,
attempts included (timeouts, failures, jittered exponential backoff); since nothing interrupts
it, the order's stages are worked out when it starts and the worker sleeps until delivery and
then until the end of the order's work: two SimPy events per order instead of one per attempt.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy

from simulate.faults import FaultSchedule
from simulate.params import Stage

__all__ = ["HeapQueue", "Plan", "PoolInputs", "PoolRecords", "RetryDraws", "floats", "run_pool"]

Process = Generator[simpy.Event, Any, Any]


class HeapQueue:
    """Waiting orders keyed by (class, arrival sequence); idle workers wait on events."""

    def __init__(self, env: simpy.Environment, classes: int) -> None:
        self.env = env
        self.heap: list[int] = []
        self.idle: list[simpy.Event] = []
        self.waiting_by_class = [0] * classes

    def put(self, key: int, cls: int) -> None:
        if self.idle:
            self.idle.pop().succeed(key)
            return
        heapq.heappush(self.heap, key)
        self.waiting_by_class[cls] += 1

    def ahead_of(self, cls: int) -> int:
        """Orders that an order of class ``cls`` joining now would wait behind."""
        return sum(self.waiting_by_class[: cls + 1])

    def get(self, classes_stride: int) -> int | simpy.Event:
        """A waiting key, or an event that an idle worker yields to receive the next one."""
        if self.heap:
            key = heapq.heappop(self.heap)
            self.waiting_by_class[key // classes_stride] -= 1
            return key
        event = self.env.event()
        self.idle.append(event)
        return event


class RetryDraws:
    """Buffered (service, failure uniform, backoff jitter) draws for retried attempts."""

    BLOCK = 1024

    def __init__(self, stage: Stage, rng: np.random.Generator) -> None:
        self.stage, self.rng = stage, rng
        self._buffer: list[tuple[float, float, float]] = []

    def next(self) -> tuple[float, float, float]:
        if not self._buffer:
            services = self.stage.service.sample(self.rng, self.BLOCK)
            uniforms = self.rng.random(self.BLOCK)
            jitters = self.rng.uniform(0.5, 1.5, self.BLOCK)
            self._buffer = list(zip(services, uniforms, jitters, strict=True))[::-1]
        return self._buffer.pop()


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
    waiting ahead on joining the queue; and the total worker busy time. Stages are recorded
    when the order's work ends, so an order still in progress at the horizon has only
    ``started_at`` (and ``delivered_at`` if it was delivered before the horizon)."""

    orders: int
    stages: int
    started_at: array[float] = field(init=False)
    stage_start: list[array[float]] = field(init=False)
    stage_end: list[array[float]] = field(init=False)
    delivered_at: array[float] = field(init=False)
    failed_stage: array[int] = field(init=False)
    ahead: array[int] = field(init=False)
    busy_s: float = 0.0

    def __post_init__(self) -> None:
        n = self.orders
        self.started_at, self.delivered_at = _nans(n), _nans(n)
        self.stage_start = [_nans(n) for _ in range(self.stages)]
        self.stage_end = [_nans(n) for _ in range(self.stages)]
        self.failed_stage, self.ahead = array("q", [-1]) * n, array("q", [0]) * n


def _nans(n: int) -> array[float]:
    return array("d", [math.nan]) * n


@dataclass
class Plan:
    """An order's work, worked out when a worker takes it: nothing can interrupt a worker,
    and faults are windows in time, so every attempt's start is known in advance."""

    starts: list[float]
    ends: list[float]
    delivered_at: float
    failed_stage: int
    end: float


class _Pool:
    def __init__(
        self,
        env: simpy.Environment,
        stages: Sequence[Stage],
        inputs: PoolInputs,
        faults: FaultSchedule,
        retries: Sequence[RetryDraws],
        classes: int,
        horizon_s: float | None,
    ) -> None:
        self.env, self.stages, self.inputs, self.faults = env, stages, inputs, faults
        self.retries = retries
        self.queue = HeapQueue(env, classes)
        self.stride = max(len(inputs.paid_at), 1)
        self.records = PoolRecords(len(inputs.paid_at), len(stages))
        self.faulted = [faults.affects(stage.name) for stage in stages]
        self.last_blocking = max(k for k, s in enumerate(stages) if s.blocks_delivery)
        self.horizon_s = horizon_s
        self.stage_info = [
            (
                k,
                stage,
                inputs.first_service[k],
                inputs.first_uniform[k],
                -math.inf if self.faulted[k] else (stage.timeout_s or math.inf),
                stage.failure_prob,
            )
            for k, stage in enumerate(stages)
        ]

    def feeder(self) -> Process:
        env, queue, paid_at = self.env, self.queue, self.inputs.paid_at
        priority, ahead = self.inputs.priority, self.records.ahead
        for seq, i in enumerate(self.inputs.queue_order):
            if paid_at[i] > env.now:
                yield env.timeout(paid_at[i] - env.now)
            cls = priority[i]
            ahead[i] = queue.ahead_of(cls)
            queue.put(cls * self.stride + seq, cls)

    def worker(self) -> Process:
        queue, order = self.queue, self.inputs.queue_order
        while True:
            got = queue.get(self.stride)
            key = (yield got) if isinstance(got, simpy.Event) else got
            yield from self.serve(order[key % self.stride])

    def serve(self, i: int) -> Process:
        env, records = self.env, self.records
        began = records.started_at[i] = env.now
        plan = self.plan(i, began)
        if self.horizon_s is None:  # nothing stops the run early: record now, sleep once
            self.record(i, plan)
            yield env.timeout(plan.end - began)
            return
        if plan.delivered_at == plan.delivered_at:  # delivered (not NaN)
            yield env.timeout(plan.delivered_at - began)
            records.delivered_at[i] = plan.delivered_at
        if plan.end > env.now:
            yield env.timeout(plan.end - env.now)
        self.record(i, plan)

    def record(self, i: int, plan: Plan) -> None:
        records = self.records
        for k in range(len(plan.starts)):
            records.stage_start[k][i] = plan.starts[k]
            records.stage_end[k][i] = plan.ends[k]
        records.delivered_at[i] = plan.delivered_at
        records.failed_stage[i] = plan.failed_stage
        records.busy_s += plan.end - plan.starts[0]

    def plan(self, i: int, t: float) -> Plan:
        starts: list[float] = []
        ends: list[float] = []
        delivered_at, failed = math.nan, -1
        for k, stage, services, uniforms, fast_limit, failure in self.stage_info:
            starts.append(t)
            service = services[i]
            if service < fast_limit and uniforms[i] >= failure:
                t += service  # the common case: one attempt, no fault, no timeout, no failure
                done = True
            else:
                t, done = self.attempts(k, stage, i, t)
            ends.append(t)
            if not done and stage.blocks_delivery:
                failed = k
                break
            if k == self.last_blocking:
                delivered_at = t
        return Plan(starts, ends, delivered_at, failed, t)

    def attempts(self, k: int, stage: Stage, i: int, t: float) -> tuple[float, bool]:
        """When stage ``k`` of order ``i`` ends if started at ``t``, and whether it succeeded."""
        service, uniform = self.inputs.first_service[k][i], self.inputs.first_uniform[k][i]
        for attempt in range(stage.attempts):
            if attempt:
                service, uniform, jitter = self.retries[k].next()
                t += min(stage.backoff_max_s, stage.backoff_s * 2 ** (attempt - 1)) * jitter
            failure = stage.failure_prob
            if self.faulted[k]:
                factor, added, failure = self.faults.at(stage.name, t, failure)
                service = service * factor + added
            if stage.timeout_s is not None and service > stage.timeout_s:
                t += stage.timeout_s
                continue
            t += service
            if uniform >= failure:
                return t, True
        return t, False


def run_pool(
    workers: int,
    stages: Sequence[Stage],
    inputs: PoolInputs,
    faults: FaultSchedule,
    retries: Sequence[RetryDraws],
    *,
    classes: int = 1,
    horizon_s: float | None = None,
) -> PoolRecords:
    """Run the pool until every queued order is done (or until ``horizon_s``)."""
    env = simpy.Environment()
    pool = _Pool(env, stages, inputs, faults, retries, classes, horizon_s)
    env.process(pool.feeder())
    for _ in range(workers):
        env.process(pool.worker())
    env.run(until=horizon_s)
    return pool.records
