"""The fulfilment queue: one FIFO lane per priority class, served highest class first (pure),
except that an order which has waited `max_wait_s` is served before the lanes above it (the
oldest such first) — strict priority alone starves the last lane under overload.

With priority lanes off every order goes to one lane. Each lane counts what it has served, so an
order's position is known in O(1): the lanes above it plus the orders ahead of it in its lane.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from fakalab.contract.rates import recent_rate

__all__ = ["WorkQueue"]


@dataclass
class _Lane:
    items: deque[tuple[int, str, float]] = field(default_factory=deque)
    pushed: int = 0
    popped: int = 0


class WorkQueue:
    def __init__(self, lanes: bool = True, max_wait_s: float | None = None) -> None:
        self.use_lanes = lanes
        self.max_wait_s = max_wait_s
        self._lanes: dict[int, _Lane] = {}
        self._queued: dict[str, tuple[int, int]] = {}  # order_no -> (lane, ticket)
        self._ready = asyncio.Event()
        self._recent: dict[int, deque[float]] = {}  # push times per lane, for arrival rates

    def _lane_of(self, priority: int) -> int:
        return priority if self.use_lanes else 0

    def push(self, order_no: str, priority: int, now: float) -> bool:
        """Queue an order unless it is queued already."""
        if order_no in self._queued:
            return False
        lane_no = self._lane_of(priority)
        lane = self._lanes.setdefault(lane_no, _Lane())
        ticket = lane.pushed
        lane.pushed += 1
        lane.items.append((ticket, order_no, now))
        self._recent.setdefault(lane_no, deque()).append(now)
        self._queued[order_no] = (lane_no, ticket)
        self._ready.set()
        return True

    def pop_nowait(self, now: float | None = None) -> str | None:
        """The next order to serve (`now`: the clock the pushes used, for the wait limit)."""
        chosen = None
        for lane_no in sorted(self._lanes):
            lane = self._lanes[lane_no]
            if lane.items:
                if chosen is None:
                    chosen = lane_no
                    if now is None or self.max_wait_s is None:
                        break
                elif now is not None and self.max_wait_s is not None and \
                        now - lane.items[0][2] >= self.max_wait_s and \
                        lane.items[0][2] < self._lanes[chosen].items[0][2]:
                    chosen = lane_no  # overdue, and older than the head it would wait behind
        if chosen is None:
            self._ready.clear()
            return None
        lane = self._lanes[chosen]
        _, order_no, _ = lane.items.popleft()
        lane.popped += 1
        del self._queued[order_no]
        return order_no

    async def pop(self, clock: Callable[[], float] | None = None) -> str:
        while True:
            order_no = self.pop_nowait(clock() if clock is not None else None)
            if order_no is not None:
                return order_no
            await self._ready.wait()

    def position(self, order_no: str) -> int | None:
        """How many orders will be served before this one (None: not queued)."""
        found = self._queued.get(order_no)
        if found is None:
            return None
        lane_no, ticket = found
        ahead = sum(len(lane.items) for n, lane in self._lanes.items() if n < lane_no)
        return ahead + ticket - self._lanes[lane_no].popped

    def positions(self) -> Iterator[tuple[str, int]]:
        """Every queued order with the number of orders that will be served before it."""
        ahead = 0
        for lane_no in sorted(self._lanes):
            for index, (_, order_no, _) in enumerate(self._lanes[lane_no].items):
                yield order_no, ahead + index
            ahead += len(self._lanes[lane_no].items)

    def ahead_of_new(self, priority: int) -> int:
        """How many queued orders would be served before an order of ``priority`` pushed now."""
        lane_no = self._lane_of(priority)
        return sum(len(lane.items) for n, lane in self._lanes.items() if n <= lane_no)

    def overtaking_rate(self, priority: int, now: float, window_s: float = 10.0) -> float:
        """Orders per second recently pushed into lanes served before ``priority``'s lane."""
        lane_no = self._lane_of(priority)
        count, oldest = 0, None
        for n, times in self._recent.items():
            while times and times[0] < now - window_s:
                times.popleft()
            if n < lane_no and times:
                count += len(times)
                oldest = times[0] if oldest is None else min(oldest, times[0])
        return recent_rate(count, oldest, now, window_s)

    def oldest_wait(self, now: float) -> float:
        heads = [lane.items[0][2] for lane in self._lanes.values() if lane.items]
        return now - min(heads) if heads else 0.0

    def __len__(self) -> int:
        return len(self._queued)

    def __contains__(self, order_no: object) -> bool:
        return order_no in self._queued
