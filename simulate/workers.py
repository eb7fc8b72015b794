"""The fulfilment worker pool as SimPy processes, fed by a heap-based priority queue.

SimPy's ``PriorityResource`` re-sorts its whole queue on every request, which is quadratic
when the queue grows under overload; ``HeapQueue`` keeps waiting orders in a binary heap and
hands an order straight to an idle worker. A worker holds an order through every stage,
attempts included (timeouts, failures, jittered exponential backoff).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from simulate.faults import FaultSchedule
from simulate.params import Stage

__all__ = ["HeapQueue", "PoolInputs", "PoolRecords", "RetryDraws", "run_pool"]

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


@dataclass(frozen=True)
class PoolInputs:
    """What the pool needs per order (Python lists, indexed by order)."""

    queue_order: list[int]  # paid orders, in order of confirmation
    paid_at: list[float]
    priority: list[int]
    first_service: list[list[float]]  # [stage][order]: first attempt's service time
    first_uniform: list[list[float]]  # [stage][order]: first attempt's failure draw


@dataclass
class PoolRecords:
    """Per order: queue exit, stage starts and ends, delivery, failed stage (−1: none), orders
    waiting ahead on joining the queue; and the total worker busy time."""

    orders: int
    stages: int
    started_at: list[float] = field(init=False)
    stage_start: list[list[float]] = field(init=False)
    stage_end: list[list[float]] = field(init=False)
    delivered_at: list[float] = field(init=False)
    failed_stage: list[int] = field(init=False)
    ahead: list[int] = field(init=False)
    busy_s: float = 0.0

    def __post_init__(self) -> None:
        n, nan = self.orders, math.nan
        self.started_at, self.delivered_at = [nan] * n, [nan] * n
        self.stage_start = [[nan] * n for _ in range(self.stages)]
        self.stage_end = [[nan] * n for _ in range(self.stages)]
        self.failed_stage, self.ahead = [-1] * n, [0] * n


class _Pool:
    def __init__(
        self,
        env: simpy.Environment,
        stages: Sequence[Stage],
        inputs: PoolInputs,
        faults: FaultSchedule,
        retries: Sequence[RetryDraws],
        classes: int,
    ) -> None:
        self.env, self.stages, self.inputs, self.faults = env, stages, inputs, faults
        self.retries = retries
        self.queue = HeapQueue(env, classes)
        self.stride = max(len(inputs.paid_at), 1)
        self.records = PoolRecords(len(inputs.paid_at), len(stages))
        self.faulted = [faults.affects(stage.name) for stage in stages]
        self.last_blocking = max(k for k, s in enumerate(stages) if s.blocks_delivery)

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
        for k, stage in enumerate(self.stages):
            records.stage_start[k][i] = env.now
            done = yield from self.attempts(k, stage, i)
            records.stage_end[k][i] = env.now
            if not done and stage.blocks_delivery:
                records.failed_stage[i] = k
                break
            if k == self.last_blocking:
                records.delivered_at[i] = env.now
        records.busy_s += env.now - began

    def attempts(self, k: int, stage: Stage, i: int) -> Process:
        env = self.env
        service, uniform = self.inputs.first_service[k][i], self.inputs.first_uniform[k][i]
        for attempt in range(stage.attempts):
            if attempt:
                service, uniform, jitter = self.retries[k].next()
                backoff = stage.backoff_s * 2 ** (attempt - 1)
                yield env.timeout(min(stage.backoff_max_s, backoff) * jitter)
            failure = stage.failure_prob
            if self.faulted[k]:
                factor, added, failure = self.faults.at(stage.name, env.now, failure)
                service = service * factor + added
            if stage.timeout_s is not None and service > stage.timeout_s:
                yield env.timeout(stage.timeout_s)
                continue
            yield env.timeout(service)
            if uniform >= failure:
                return True
        return False


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
    pool = _Pool(env, stages, inputs, faults, retries, classes)
    env.process(pool.feeder())
    for _ in range(workers):
        env.process(pool.worker())
    env.run(until=horizon_s)
    return pool.records
