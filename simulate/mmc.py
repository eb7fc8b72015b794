"""The fast M/M/c path: lean heapq loops, used for validation against theory and the bench.

Inputs (arrival times, service times, priority classes) come from their own named streams, so a
run is a pure function of model and seed, and runs that differ only in ``servers`` see the same
customers. One priority class runs the Kiefer-Wolfowitz recursion over a heap of server free
times (first come, first served, memory bounded: inputs are drawn and consumed in chunks); several
classes run an event loop with non-pre-emptive priorities (class 0 first): a heap of departures
and one FIFO queue per class.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fakalab.simulate.parallel import Progress
from fakalab.simulate.stats import BatchAccumulator, Estimate
from fakalab.simulate.streams import Streams

__all__ = [
    "InputStream",
    "MMcModel",
    "MMcReport",
    "QueueInputs",
    "fcfs_starts",
    "priority_starts",
    "run_mmc",
    "simulate_waits",
]

CHUNK = 100_000


@dataclass(frozen=True)
class MMcModel:
    """M/M/c with ``len(class_shares)`` priority classes (class 0 is served first)."""

    arrival_rate: float
    service_rate: float
    servers: int
    orders: int
    class_shares: tuple[float, ...] = (1.0,)
    warmup: int | None = None

    def __post_init__(self) -> None:
        if self.arrival_rate <= 0 or self.service_rate <= 0:
            raise ValueError("arrival_rate and service_rate must be positive")
        if self.servers < 1 or self.orders < 1:
            raise ValueError("servers and orders must be at least 1")
        if any(s < 0 for s in self.class_shares) or not math.isclose(sum(self.class_shares), 1):
            raise ValueError("class_shares must be non-negative and sum to 1")

    @property
    def classes(self) -> int:
        return len(self.class_shares)

    @property
    def warmup_orders(self) -> int:
        """Orders left out of statistics while the empty system fills (default n/20, ≤ 20k)."""
        return self.warmup if self.warmup is not None else min(self.orders // 20, 20_000)

    @property
    def utilisation(self) -> float:
        return self.arrival_rate / (self.servers * self.service_rate)


@dataclass(frozen=True)
class QueueInputs:
    arrivals: npt.NDArray[np.float64]
    services: npt.NDArray[np.float64]
    classes: npt.NDArray[np.int64]


class InputStream:
    """Draws customers in order; chunked draws equal one draw of the same total length."""

    def __init__(self, model: MMcModel, seed: int) -> None:
        self.model = model
        self._streams = Streams(seed)
        self._clock = 0.0

    def next(self, count: int) -> QueueInputs:
        model, streams = self.model, self._streams
        gaps = streams["arrivals"].exponential(1 / model.arrival_rate, count)
        arrivals = np.cumsum(np.concatenate(([self._clock], gaps)))[1:]  # exact across chunks
        self._clock = float(arrivals[-1])
        services = streams["services"].exponential(1 / model.service_rate, count)
        if model.classes == 1:
            classes = np.zeros(count, dtype=np.int64)
        else:
            shares = np.asarray(model.class_shares)
            classes = streams["classes"].choice(model.classes, size=count, p=shares)
        return QueueInputs(arrivals, services, classes.astype(np.int64))


def fcfs_starts(arrivals: list[float], services: list[float], free_at: list[float]) -> list[float]:
    """Service starts under first come, first served; ``free_at`` (a heap, one entry per
    server) carries the servers' state from one chunk to the next."""
    starts = [0.0] * len(arrivals)
    replace = heapq.heapreplace
    for k, (t, service) in enumerate(zip(arrivals, services, strict=True)):
        free = free_at[0]
        start = free if free > t else t
        replace(free_at, start + service)
        starts[k] = start
    return starts


def priority_starts(
    arrivals: list[float], services: list[float], classes: list[int], servers: int
) -> list[float]:
    """Service starts with non-pre-emptive priorities: an event loop over a heap of departures
    and one FIFO queue per class (constant cost per customer, however long the queues grow).

    Every waiting customer arrived before every pending departure, so the departures up to
    each arrival hand servers over in time order. A departure tied with an arrival goes first.
    """
    n = len(arrivals)
    starts = [math.nan] * n
    busy: list[float] = []
    queues: list[deque[int]] = [deque() for _ in range(max(classes, default=0) + 1)]
    waiting = 0
    push, pop = heapq.heappush, heapq.heappop
    for i in range(n + 1):
        t = arrivals[i] if i < n else math.inf
        while waiting and busy[0] <= t:
            free = pop(busy)
            for queue in queues:
                if queue:
                    j = queue.popleft()
                    break
            waiting -= 1
            starts[j] = free
            push(busy, free + services[j])
        while busy and busy[0] <= t:
            pop(busy)
        if i == n:
            break
        if len(busy) < servers:
            starts[i] = t
            push(busy, t + services[i])
        else:
            queues[classes[i]].append(i)
            waiting += 1
    return starts


def simulate_waits(model: MMcModel, seed: int = 0) -> tuple[QueueInputs, npt.NDArray[np.float64]]:
    """All customers' inputs and queue waits, in arrival order (keeps everything in memory)."""
    inputs = InputStream(model, seed).next(model.orders)
    arrivals, services = inputs.arrivals.tolist(), inputs.services.tolist()
    if model.classes == 1:
        starts = fcfs_starts(arrivals, services, [0.0] * model.servers)
    else:
        starts = priority_starts(arrivals, services, inputs.classes.tolist(), model.servers)
    return inputs, np.asarray(starts) - inputs.arrivals


@dataclass(frozen=True)
class MMcReport:
    """Steady-state figures of one run with batch-means 95% confidence intervals."""

    model: MMcModel
    seed: int
    t: float
    mean_wait: Estimate
    p_wait: Estimate
    p_wait_gt_t: Estimate
    class_mean_waits: tuple[Estimate, ...]
    utilisation: float
    elapsed_s: float

    @property
    def orders_per_s(self) -> float:
        return self.model.orders / self.elapsed_s if self.elapsed_s > 0 else math.inf


class _Figures:
    """Batch accumulators for every figure of an ``MMcReport``."""

    def __init__(self, model: MMcModel, t: float, batches: int) -> None:
        def make() -> BatchAccumulator:
            return BatchAccumulator(model.orders, batches, model.warmup_orders)

        self.t = t
        self.wait, self.waited, self.long = make(), make(), make()
        self.by_class = [make() for _ in range(model.classes)]

    def add(
        self, first: int, waits: npt.NDArray[np.float64], classes: npt.NDArray[np.int64]
    ) -> None:
        self.wait.add(first, waits)
        self.waited.add(first, (waits > 0).astype(np.float64))
        self.long.add(first, (waits > self.t).astype(np.float64))
        if len(self.by_class) > 1:
            for k, accumulator in enumerate(self.by_class):
                accumulator.add(first, waits, classes == k)


def run_mmc(
    model: MMcModel,
    seed: int = 0,
    *,
    t: float = 1.0,
    batches: int = 30,
    progress: Progress | None = None,
) -> MMcReport:
    """Simulate ``model.orders`` customers and estimate Wq, P(Wq > 0) and P(Wq > t)."""
    clock = time.perf_counter()
    figures = _Figures(model, t, batches)
    if model.classes == 1:
        first_arrival, last_departure, busy = _run_fcfs(model, seed, figures, progress)
    else:
        inputs, waits = simulate_waits(model, seed)
        figures.add(0, waits, inputs.classes)
        first_arrival = float(inputs.arrivals[0])
        last_departure = float((inputs.arrivals + waits + inputs.services).max())
        busy = float(inputs.services.sum())
        if progress is not None:
            progress(model.orders, model.orders)
    class_waits = figures.by_class if model.classes > 1 else [figures.wait]
    return MMcReport(
        model,
        seed,
        t,
        figures.wait.estimate(),
        figures.waited.estimate(),
        figures.long.estimate(),
        tuple(a.estimate() for a in class_waits),
        busy / (model.servers * (last_departure - first_arrival)),
        time.perf_counter() - clock,
    )


def _run_fcfs(
    model: MMcModel, seed: int, figures: _Figures, progress: Progress | None
) -> tuple[float, float, float]:
    """Chunked FCFS run; returns the first arrival, the last departure and the busy time."""
    stream = InputStream(model, seed)
    free_at = [0.0] * model.servers
    first_arrival, busy = math.nan, 0.0
    for first in range(0, model.orders, CHUNK):
        inputs = stream.next(min(CHUNK, model.orders - first))
        if first == 0:
            first_arrival = float(inputs.arrivals[0])
        busy += float(inputs.services.sum())
        starts = fcfs_starts(inputs.arrivals.tolist(), inputs.services.tolist(), free_at)
        figures.add(first, np.asarray(starts) - inputs.arrivals, inputs.classes)
        if progress is not None:
            progress(first + len(inputs.arrivals), model.orders)
    return first_arrival, max(free_at), busy
