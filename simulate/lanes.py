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
    (the head it would wait behind must have joined later)."""

    def __init__(self, env: simpy.Environment, classes: int, max_wait_s: float | None = None
                 ) -> None:
        self.env = env
        self.max_wait_s = max_wait_s
        self.lanes: list[deque[tuple[int, float]]] = [deque() for _ in range(classes)]
        self.idle: list[simpy.Event] = []
        self.waiting_by_class = [0] * classes
        self.waiting = 0

    def put(self, key: int, cls: int) -> None:
        if self.idle:
            self.idle.pop().succeed(key)
            return
        self.lanes[cls].append((key, self.env.now))
        self.waiting_by_class[cls] += 1
        self.waiting += 1

    def ahead_of(self, cls: int) -> int:
        """Orders that an order of class ``cls`` joining now would wait behind."""
        return sum(self.waiting_by_class[: cls + 1])

    def _chosen(self) -> int:
        """The lane served next (the queue is not empty)."""
        lanes, limit = self.lanes, self.max_wait_s
        chosen = -1
        for cls, lane in enumerate(lanes):
            if not lane:
                continue
            if chosen < 0:
                chosen = cls
                if limit is None:
                    break
            elif limit is not None and self.env.now - lane[0][1] >= limit \
                    and lane[0][1] < lanes[chosen][0][1]:
                chosen = cls  # overdue, and older than the head it would wait behind
        return chosen

    def get(self, classes_stride: int) -> int | simpy.Event:
        """A waiting key, or an event that an idle worker yields to receive the next one."""
        if self.waiting:
            cls = self._chosen()
            key, _ = self.lanes[cls].popleft()
            self.waiting_by_class[cls] -= 1
            self.waiting -= 1
            return key
        event = self.env.event()
        self.idle.append(event)
        return event
