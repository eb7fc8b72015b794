"""The fulfilment queue of the worker pool: one FIFO lane per priority class, with the shop's
lane wait limit (``reference_shop/queue.py`` ``WorkQueue``), handing orders to idle workers
(SimPy events).

SimPy's ``PriorityResource`` re-sorts its whole queue on every request, which is quadratic when
the queue grows under overload; here a lane is a deque (keys join a class in increasing order,
so each lane is sorted) and choosing the next order looks at the lanes' heads only.
"""

from __future__ import annotations

from collections import deque

import simpy

__all__ = ["HeapQueue"]


class HeapQueue:
    """Waiting orders keyed by (class, order of joining); idle workers wait on events.

    One FIFO lane per class (keys join a class in increasing order), served class 0 first —
    except that with ``max_wait_s`` a lane's head that has waited that long is served before
    the lanes above it, the oldest such head first: ``reference_shop.queue.WorkQueue``'s rule
    (the head it would wait behind must have joined later). Within a lane, orders put
    ``urgent`` (the delay-risk model acting, ``simulate.delay_risk``) go before the others,
    unless the lane's oldest order is overdue (then it goes first, as across lanes)."""

    def __init__(self, env: simpy.Environment, classes: int, max_wait_s: float | None = None
                 ) -> None:
        self.env = env
        self.max_wait_s = max_wait_s
        self.lanes: list[deque[tuple[int, float]]] = [deque() for _ in range(classes)]
        self.urgent: list[deque[tuple[int, float]]] = [deque() for _ in range(classes)]
        self.idle: list[simpy.Event] = []
        self.waiting_by_class = [0] * classes
        self.waiting = 0

    def put(self, key: int, cls: int, urgent: bool = False) -> None:
        if self.idle:
            self.idle.pop().succeed(key)
            return
        (self.urgent if urgent else self.lanes)[cls].append((key, self.env.now))
        self.waiting_by_class[cls] += 1
        self.waiting += 1

    def ahead_of(self, cls: int) -> int:
        """Orders that an order of class ``cls`` joining now would wait behind."""
        return sum(self.waiting_by_class[: cls + 1])

    def _head_at(self, cls: int) -> float:
        normal, urgent = self.lanes[cls], self.urgent[cls]
        if normal and urgent:
            return min(normal[0][1], urgent[0][1])
        return (normal or urgent)[0][1]

    def _chosen(self) -> int:
        """The lane served next (the queue is not empty)."""
        limit = self.max_wait_s
        chosen, chosen_at = -1, 0.0
        for cls, count in enumerate(self.waiting_by_class):
            if not count:
                continue
            head_at = self._head_at(cls)
            if chosen < 0:
                chosen, chosen_at = cls, head_at
                if limit is None:
                    break
            elif limit is not None and self.env.now - head_at >= limit and head_at < chosen_at:
                chosen, chosen_at = cls, head_at  # overdue, and older than the head it waits behind
        return chosen

    def get(self, classes_stride: int) -> int | simpy.Event:
        """A waiting key, or an event that an idle worker yields to receive the next one."""
        if self.waiting:
            cls = self._chosen()
            normal, urgent = self.lanes[cls], self.urgent[cls]
            line = urgent if urgent and not (
                normal and normal[0][1] < urgent[0][1] and self.max_wait_s is not None
                and self.env.now - normal[0][1] >= self.max_wait_s) else normal
            key, _ = line.popleft()
            self.waiting_by_class[cls] -= 1
            self.waiting -= 1
            return key
        event = self.env.event()
        self.idle.append(event)
        return event
