"""The fulfilment queue: one FIFO lane per priority class, served highest class first (pure),
except that an order which has waited `max_wait_s` is served before the lanes above it (the
oldest such first) — strict priority alone starves the last lane under overload. Within a lane,
orders pushed `urgent` (the delay-risk model says they are likely to miss their SLA,
reference_shop/delay_risk.py) are served before the others, unless the lane's oldest order has
waited `max_wait_s` (then it goes first, as across lanes).

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
class _Line:
    items: deque[tuple[int, str, float]] = field(default_factory=deque)
    pushed: int = 0
    popped: int = 0

    def head_at(self) -> float | None:
        return self.items[0][2] if self.items else None


@dataclass
class _Lane:
    normal: _Line = field(default_factory=_Line)
    urgent: _Line = field(default_factory=_Line)

    def __len__(self) -> int:
        return len(self.normal.items) + len(self.urgent.items)

    def head_at(self) -> float | None:
        heads = [t for t in (self.normal.head_at(), self.urgent.head_at()) if t is not None]
        return min(heads) if heads else None

    def line(self, urgent: bool) -> _Line:
        return self.urgent if urgent else self.normal


class WorkQueue:
    def __init__(self, lanes: bool = True, max_wait_s: float | None = None) -> None:
        self.use_lanes = lanes
        self.max_wait_s = max_wait_s
        self._lanes: dict[int, _Lane] = {}
        self._queued: dict[str, tuple[int, bool, int]] = {}  # order_no -> (lane, urgent, ticket)
        self._ready = asyncio.Event()
        self._recent: dict[int, deque[float]] = {}  # push times per lane, for arrival rates

    def _lane_of(self, priority: int) -> int:
        return priority if self.use_lanes else 0

    def push(self, order_no: str, priority: int, now: float, urgent: bool = False) -> bool:
        """Queue an order unless it is queued already (``urgent``: ahead of its lane's others)."""
        if order_no in self._queued:
            return False
        lane_no = self._lane_of(priority)
        line = self._lanes.setdefault(lane_no, _Lane()).line(urgent)
        ticket = line.pushed
        line.pushed += 1
        line.items.append((ticket, order_no, now))
        self._recent.setdefault(lane_no, deque()).append(now)
        self._queued[order_no] = (lane_no, urgent, ticket)
        self._ready.set()
        return True

    def _overdue(self, head_at: float | None, now: float | None) -> bool:
        return head_at is not None and now is not None and self.max_wait_s is not None and \
            now - head_at >= self.max_wait_s

    def pop_nowait(self, now: float | None = None) -> str | None:
        """The next order to serve (`now`: the clock the pushes used, for the wait limit)."""
        chosen: _Lane | None = None
        chosen_at = 0.0
        for lane_no in sorted(self._lanes):
            lane = self._lanes[lane_no]
            head_at = lane.head_at()
            if head_at is None:
                continue
            if chosen is None:
                chosen, chosen_at = lane, head_at
                if now is None or self.max_wait_s is None:
                    break
            elif self._overdue(head_at, now) and head_at < chosen_at:
                chosen, chosen_at = lane, head_at  # overdue, older than the head it waits behind
        if chosen is None:
            self._ready.clear()
            return None
        normal_at, urgent_at = chosen.normal.head_at(), chosen.urgent.head_at()
        take_urgent = urgent_at is not None and not (
            normal_at is not None and normal_at < urgent_at and self._overdue(normal_at, now))
        line = chosen.line(take_urgent)
        _, order_no, _ = line.items.popleft()
        line.popped += 1
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
        lane_no, urgent, ticket = found
        ahead = sum(len(lane) for n, lane in self._lanes.items() if n < lane_no)
        lane = self._lanes[lane_no]
        if not urgent:
            ahead += len(lane.urgent.items)
        return ahead + ticket - lane.line(urgent).popped

    def positions(self) -> Iterator[tuple[str, int]]:
        """Every queued order with the number of orders that will be served before it."""
        ahead = 0
        for lane_no in sorted(self._lanes):
            lane = self._lanes[lane_no]
            for line in (lane.urgent, lane.normal):
                for index, (_, order_no, _) in enumerate(line.items):
                    yield order_no, ahead + index
                ahead += len(line.items)

    def ahead_of_new(self, priority: int) -> int:
        """How many queued orders would be served before an order of ``priority`` pushed now."""
        lane_no = self._lane_of(priority)
        return sum(len(lane) for n, lane in self._lanes.items() if n <= lane_no)

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
        heads = [t for t in (lane.head_at() for lane in self._lanes.values()) if t is not None]
        return now - min(heads) if heads else 0.0

    def __len__(self) -> int:
        return len(self._queued)

    def __contains__(self, order_no: object) -> bool:
        return order_no in self._queued
