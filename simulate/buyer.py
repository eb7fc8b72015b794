"""Buyers watching their orders after paying, and the tickets they file (vectorised, pure).

The rules of the Locust personas (``scenarios/locust/patience.py``), in vectors. A buyer starts
watching when they say "I have paid". They file one ticket at the first moment that either what
they see has not changed for longer than their patience (``stale_status``) or the first ETA they
were shown has passed by more than the grace without delivery (``eta_passed``: the first ETA is
the promise, whatever later ones say); if neither happened and the order is still not delivered
after ``max_wait_s`` they give up and file a ``gave_up`` ticket.

Buyers look every ``poll_s`` seconds from the moment they said they paid (0: continuously, as
with server-sent events): a change is seen at the first look at or after it, and a ticket is
filed at a look. In the queue, a transparent shop shows the order's position and a refreshed
ETA, so what the buyer sees changes every time an order ahead starts (``queue_stale_at``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["TICKET_REASONS", "Looks", "Tickets", "Timeline", "file_tickets", "queue_stale_at"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
TICKET_REASONS = ("stale_status", "eta_passed", "gave_up")  # codes 0, 1, 2; −1: no ticket
STALE, ETA_PASSED, GAVE_UP = 0, 1, 2


@dataclass(frozen=True)
class Timeline:
    """What buyers see: ``changes[:, j]`` is when the j-th visible change happened (column 0:
    the buyer says they paid; +inf: never), ``etas[:, j]`` the ETA shown with it (NaN: none).
    While the order waits in the queue after change ``queued_column``, staleness comes from
    ``queue_stale`` (when the buyer's patience ran out between two queue moves; +inf: never)."""

    changes: FloatArray
    etas: FloatArray
    delivered_at: FloatArray  # +inf when not delivered
    queued_column: int | None = None
    queue_stale: FloatArray | None = None


@dataclass(frozen=True)
class Tickets:
    at: FloatArray  # NaN when no ticket
    reason: IntArray
    waited_s: FloatArray  # since the buyer said they paid
    gave_up: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Looks:
    """A buyer's looks at the order: from ``watch_from``, every ``poll_s`` (0: continuously);
    ``poll_s`` is one period for every buyer or one per buyer."""

    watch_from: FloatArray
    poll_s: float | FloatArray

    def _origin(self, t: FloatArray) -> FloatArray:
        return self.watch_from[:, None] if t.ndim == 2 else self.watch_from

    def _period(self, t: FloatArray) -> float | FloatArray:
        if np.ndim(self.poll_s) == 0:
            return float(self.poll_s)  # type: ignore[arg-type]
        period = np.asarray(self.poll_s, dtype=np.float64)
        return period[:, None] if t.ndim == 2 else period

    def _grid(self, t: FloatArray, step: FloatArray) -> FloatArray:
        period = self._period(t)
        if np.ndim(period) == 0:
            return t if period == 0 else self._origin(t) + step * period
        with np.errstate(invalid="ignore"):
            return np.where(period == 0, t, self._origin(t) + step * period)

    def _steps(self, t: FloatArray, ceil: bool) -> FloatArray:
        period = self._period(t)
        origin = self._origin(t)
        with np.errstate(invalid="ignore", divide="ignore"):  # inf - inf; a period of 0
            ratio = (t - origin) / period
            return np.maximum(np.ceil(ratio), 0) if ceil else np.floor(ratio) + 1

    def at_or_after(self, t: FloatArray) -> FloatArray:
        """The first look at or after ``t`` (rows: buyers; a matrix has one column per time)."""
        if np.ndim(self.poll_s) == 0 and self.poll_s == 0:
            return t
        return self._grid(t, self._steps(t, ceil=True))

    def after(self, t: FloatArray) -> FloatArray:
        """The first look strictly after ``t``."""
        if np.ndim(self.poll_s) == 0 and self.poll_s == 0:
            return t
        return self._grid(t, self._steps(t, ceil=False))


def _cut(poll_s: float | FloatArray, rows: slice | npt.NDArray[np.int64]) -> float | FloatArray:
    return poll_s if np.ndim(poll_s) == 0 else np.asarray(poll_s)[rows]


def file_tickets(
    timeline: Timeline,
    patience: FloatArray,
    *,
    max_wait_s: float,
    eta_grace_s: float,
    poll_s: float | FloatArray = 0.0,
) -> Tickets:
    """The first ticket each buyer files, if any (in blocks of rows, to bound memory)."""
    parts = [
        _file_tickets(
            _rows(timeline, block), patience[block], max_wait_s, eta_grace_s,
            _cut(poll_s, block),
        )
        for block in _blocks(len(patience))
    ]
    return Tickets(
        np.concatenate([p.at for p in parts]),
        np.concatenate([p.reason for p in parts]),
        np.concatenate([p.waited_s for p in parts]),
        np.concatenate([p.gave_up for p in parts]),
    )


def _blocks(n: int, size: int = 65_536) -> list[slice]:
    return [slice(start, start + size) for start in range(0, max(n, 1), size)]


def _rows(timeline: Timeline, block: slice) -> Timeline:
    def cut(values: npt.NDArray[Any] | None) -> npt.NDArray[Any] | None:
        return None if values is None else values[block]

    return Timeline(
        timeline.changes[block],
        timeline.etas[block],
        timeline.delivered_at[block],
        timeline.queued_column,
        cut(timeline.queue_stale),
    )


def _stale_at(timeline: Timeline, patience: FloatArray, looks: Looks) -> FloatArray:
    changes = looks.at_or_after(timeline.changes)  # when each change is seen
    delivered = looks.at_or_after(timeline.delivered_at)[:, None]
    following = np.concatenate([changes[:, 1:], np.full((len(changes), 1), np.inf)], axis=1)
    stale = looks.after(changes + patience[:, None])
    watching = np.isfinite(changes) & (changes < delivered)
    first = np.where(watching & (stale < following), stale, np.inf)
    if timeline.queued_column is not None:
        assert timeline.queue_stale is not None
        first[:, timeline.queued_column] = timeline.queue_stale
    return first.min(axis=1)


def _eta_passed_at(timeline: Timeline, eta_grace_s: float, looks: Looks) -> FloatArray:
    """The look at which the first ETA the buyer saw had passed (plus the grace), undelivered."""
    seen = looks.at_or_after(timeline.changes)
    shown = np.isfinite(seen) & (seen < looks.at_or_after(timeline.delivered_at)[:, None])
    with_eta = shown & ~np.isnan(timeline.etas)
    first = with_eta.argmax(axis=1)
    promise = np.where(with_eta.any(axis=1), timeline.etas[np.arange(len(first)), first], np.inf)
    passed = looks.after(promise + eta_grace_s)
    return np.where(passed < timeline.delivered_at, passed, np.inf)


def _file_tickets(
    timeline: Timeline,
    patience: FloatArray,
    max_wait_s: float,
    eta_grace_s: float,
    poll_s: float | FloatArray,
) -> Tickets:
    watch_from = timeline.changes[:, 0]
    looks = Looks(watch_from, poll_s)
    stale = _stale_at(timeline, patience, looks)
    passed = _eta_passed_at(timeline, eta_grace_s, looks)
    at = np.minimum(stale, passed)
    reason = np.where(stale < passed, STALE, ETA_PASSED)  # a look checks the ETA first
    give_up_at = looks.at_or_after(watch_from + max_wait_s)
    gave_up = timeline.delivered_at > give_up_at
    late = at >= give_up_at  # a look checks giving up first
    at = np.where(late, np.where(gave_up, give_up_at, np.inf), at)
    reason = np.where(late, GAVE_UP, reason)
    at = np.where(np.isfinite(at), at, np.nan)
    reason = np.where(np.isnan(at), -1, reason)
    return Tickets(at, reason.astype(np.int64), at - watch_from, gave_up)


def queue_stale_at(
    enqueued_at: FloatArray,
    patience: FloatArray,
    starts: FloatArray,
    watch_from: FloatArray | None = None,
    poll_s: float | FloatArray = 0.0,
) -> FloatArray:
    """When each buyer, looking every ``poll_s`` from ``watch_from``, first finds the queue
    position unchanged for longer than their patience while their order waits (+inf: never).

    ``starts`` are the times orders left the queue (NaN: never). An order enqueued at e and
    started at s sees its position change at e and at every start in (e, s].
    """
    origin = enqueued_at if watch_from is None else watch_from
    dequeues = np.sort(starts[~np.isnan(starts)])
    boundary = np.append(dequeues, np.inf)
    first = np.searchsorted(dequeues, enqueued_at, side="right")
    own = np.where(np.isnan(starts), len(dequeues), np.searchsorted(dequeues, starts))
    next_change = np.fmin(boundary[first], starts)  # an order served at once never waited
    at = _stale_between(origin, enqueued_at, next_change, patience, poll_s)
    gaps = np.diff(boundary)
    longest_poll = float(np.max(poll_s)) if np.size(poll_s) else 0.0
    shortest = max(float(patience.min()) - longest_poll, 0.0) if len(patience) else 0.0
    candidates = np.flatnonzero(gaps > shortest)
    low, high = np.searchsorted(candidates, first), np.searchsorted(candidates, own)
    pending = np.flatnonzero((high > low) & np.isinf(at) & ~np.isnan(enqueued_at))
    while len(pending):
        j = candidates[low[pending]]
        stale = _stale_between(
            origin[pending], boundary[j], boundary[j + 1], patience[pending],
            _cut(poll_s, pending),
        )
        fired = np.isfinite(stale)
        at[pending[fired]] = stale[fired]
        low[pending] += 1
        pending = pending[~fired & (low[pending] < high[pending])]
    return at


def _stale_between(
    origin: FloatArray,
    change: FloatArray,
    next_change: FloatArray,
    patience: FloatArray,
    poll_s: float | FloatArray,
) -> FloatArray:
    """The look that finds a view seen since ``change`` stale, if before ``next_change`` is seen."""
    looks = Looks(origin, poll_s)
    seen, next_seen = looks.at_or_after(change), looks.at_or_after(next_change)
    stale = looks.after(seen + patience)
    return np.where(stale < next_seen, stale, np.inf)
