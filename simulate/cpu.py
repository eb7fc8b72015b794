"""The shop's CPU as one server with a calendar of reservations (pure; no SimPy).

The reference shop is one asyncio process: every stage's database write, every order placed,
every poll and every callback runs on its one event loop, and SQLite has one writer
(``reference_shop/db.py`` serialises writes behind a lock). With the workers' stages planned
when a worker takes an order (``simulate.plan``), each stage's own work is *reserved* on this
calendar: it starts at the earliest moment at or after it is ready when the CPU has room for
it — first come, first served in the order the passes are planned, filling gaps left by work
planned earlier. So four workers with nothing to wait for share the CPU instead of running
four times as fast, and a backlog drains at the CPU's pace, not the workers'.

Work the workers do not see slows the CPU down: a stage's work w takes w / (1 − u) where
u = per_created_s · (orders created per second) + (per_poll_s · polls_per_watcher +
per_waiting_s) · (paid, undelivered orders) + per_delivery_s · (deliveries per second), at most
``max_background``.
While the shop is down (``Cpu.outages``) nothing runs.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sortedcontainers import SortedList

from fakalab.simulate.params import Cpu

__all__ = ["CpuCalendar"]

FloatArray = npt.NDArray[np.float64]
_EPS = 1e-9
_PRUNE = 4096
HISTORY_S = 1.0  # the busy intervals kept behind the present (the CPU share's window)


class CpuCalendar:
    """Busy intervals ahead of the present, merged and sorted; reservations fill gaps."""

    def __init__(self, cpu: Cpu, created: FloatArray, paid: FloatArray) -> None:
        self.cpu = cpu
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.head = 0
        finite = created[np.isfinite(created)]
        horizon = math.ceil(finite.max()) + 2 if len(finite) else 2
        per_second = np.bincount(np.floor(finite).astype(np.int64), minlength=horizon)
        self._created_rate = per_second.astype(float).tolist()
        # paid moments, sorted: an order the door moves moves here too (a plain list's insort
        # shifts every later moment, quadratic over a million-order sale)
        self._paid = SortedList(paid[np.isfinite(paid)].tolist())
        self._deliveries: list[float] = []  # heap of planned deliveries not yet counted
        self._delivered = 0
        self._recent: list[float] = []  # deliveries of the last second (a heap)
        self.busy_s = 0.0
        for start, end in sorted(cpu.outages):
            self._insert(float(start), float(end))

    def background(self, t: float) -> float:
        """The share of the CPU taken by work the workers do not see, at ``t``."""
        cpu = self.cpu
        u = 0.0
        if cpu.per_created_s:
            k = int(t)
            rate = self._created_rate[k] if 0 <= k < len(self._created_rate) else 0.0
            u += cpu.per_created_s * rate
        if cpu.per_poll_s or cpu.per_waiting_s or cpu.per_delivery_s:
            deliveries = self._deliveries
            while deliveries and deliveries[0] <= t:
                heapq.heappush(self._recent, heapq.heappop(deliveries))
                self._delivered += 1
            recent = self._recent
            while recent and recent[0] < t - 1.0:
                heapq.heappop(recent)
            if cpu.per_poll_s or cpu.per_waiting_s:
                waiting = max(self._paid.bisect_right(t) - self._delivered, 0)
                u += (cpu.per_poll_s * cpu.polls_per_watcher + cpu.per_waiting_s) * waiting
            u += cpu.per_delivery_s * len(recent)
        return min(u, cpu.max_background)

    def moved(self, created: float, to: float | None, watching: float | None,
              watching_to: float | None) -> None:
        """An order counted as created at ``created`` (and watched from ``watching``) was
        created at ``to`` instead (None: never — a buyer the door turned away)."""
        rate = self._created_rate
        for t, sign in ((created, -1), (to, 1)):
            if t is None or not math.isfinite(t):
                continue
            k = int(t)
            if k >= len(rate):
                rate.extend([0.0] * (k + 2 - len(rate)))
            rate[k] = max(rate[k] + sign, 0.0)
        paid = self._paid
        if watching is not None and math.isfinite(watching):
            paid.discard(watching)
        if watching_to is not None and math.isfinite(watching_to):
            paid.add(watching_to)

    def busy_share(self, now: float, span_s: float = HISTORY_S) -> float:
        """The share of the last ``span_s`` the CPU was busy (the shop's process CPU share)."""
        starts, ends = self.starts, self.ends
        since = now - span_s
        busy = 0.0
        i = bisect.bisect_right(ends, since)
        while i < len(starts) and starts[i] < now:
            busy += min(ends[i], now) - max(starts[i], since)
            i += 1
        return busy / span_s

    def delivered(self, at: float) -> None:
        """A delivery planned at ``at`` (its buyer stops polling then)."""
        if at == at:  # not NaN
            heapq.heappush(self._deliveries, at)

    def reserve(self, ready: float, work: float, now: float) -> float:
        """Run ``work`` seconds of CPU from the earliest free moment at or after ``ready``
        (≥ ``now``, the present); returns when it ends."""
        if work <= 0:
            return ready
        self._prune(now)
        duration = work / (self.cpu.speed * (1.0 - self.background(ready)))
        starts, ends = self.starts, self.ends
        i = bisect.bisect_right(ends, ready, lo=self.head)
        start, n = ready, len(starts)
        while i < n and starts[i] < start + duration - _EPS:
            if ends[i] > start:
                start = ends[i]
            i += 1
        self._insert(start, start + duration, i)
        self.busy_s += duration
        return start + duration

    def _insert(self, start: float, end: float, i: int | None = None) -> None:
        starts, ends = self.starts, self.ends
        if i is None:
            i = bisect.bisect_left(starts, start, lo=self.head)
        merge_left = i > self.head and ends[i - 1] >= start - _EPS
        merge_right = i < len(starts) and starts[i] <= end + _EPS
        if merge_left and merge_right:
            ends[i - 1] = max(ends[i], end)
            del starts[i], ends[i]
        elif merge_left:
            ends[i - 1] = max(ends[i - 1], end)
        elif merge_right:
            starts[i] = min(starts[i], start)
            ends[i] = max(ends[i], end)
        else:
            starts.insert(i, start)
            ends.insert(i, end)

    def _prune(self, now: float) -> None:
        """Forget intervals that ended ``HISTORY_S`` before ``now``: nothing planned from now can
        use them, and the CPU share looks back no further."""
        ends = self.ends
        head = self.head
        while head < len(ends) - 1 and ends[head] < now - HISTORY_S:
            head += 1
        if head > _PRUNE:
            del self.starts[:head], self.ends[:head]
            head = 0
        self.head = head

    def intervals(self) -> Sequence[tuple[float, float]]:
        """The busy intervals still kept (for tests)."""
        return list(zip(self.starts[self.head :], self.ends[self.head :], strict=True))
