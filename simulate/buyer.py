"""Buyers watching their orders after paying, and the tickets they file (vectorised, pure).

A buyer starts watching when they say "I have paid". They file one ticket at the first moment
that either what they see has not changed for longer than their patience (``stale_status``) or
an ETA they were shown has passed by more than the grace without delivery (``eta_passed``: every
ETA shown is a promise, even if a later one moved it); if neither happened and the order is
still not delivered after ``max_wait_s`` they give up and file a ``gave_up`` ticket.

In the queue, a transparent shop shows the order's position and a refreshed ETA, so what the
buyer sees changes every time an order ahead starts (``queue_stale_at``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["TICKET_REASONS", "Tickets", "Timeline", "file_tickets", "queue_stale_at"]

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


def file_tickets(
    timeline: Timeline, patience: FloatArray, *, max_wait_s: float, eta_grace_s: float
) -> Tickets:
    """The first ticket each buyer files, if any (in blocks of rows, to bound memory)."""
    parts = [
        _file_tickets(_rows(timeline, block), patience[block], max_wait_s, eta_grace_s)
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


def _stale_at(timeline: Timeline, patience: FloatArray) -> FloatArray:
    changes, delivered = timeline.changes, timeline.delivered_at[:, None]
    following = np.concatenate([changes[:, 1:], np.full((len(changes), 1), np.inf)], axis=1)
    stale = changes + patience[:, None]
    watching = np.isfinite(changes) & (changes < delivered)
    first = np.where(watching & (stale < following), stale, np.inf)
    if timeline.queued_column is not None:
        assert timeline.queue_stale is not None
        first[:, timeline.queued_column] = timeline.queue_stale
    return first.min(axis=1)


def _eta_passed_at(timeline: Timeline, eta_grace_s: float) -> FloatArray:
    shown = np.isfinite(timeline.changes) & (timeline.changes < timeline.delivered_at[:, None])
    promises = np.where(shown & ~np.isnan(timeline.etas), timeline.etas, np.inf)
    passed = promises.min(axis=1) + eta_grace_s
    return np.where(passed < timeline.delivered_at, passed, np.inf)


def _file_tickets(
    timeline: Timeline, patience: FloatArray, max_wait_s: float, eta_grace_s: float
) -> Tickets:
    stale, passed = _stale_at(timeline, patience), _eta_passed_at(timeline, eta_grace_s)
    at = np.minimum(stale, passed)
    reason = np.where(stale <= passed, STALE, ETA_PASSED)
    watch_from = timeline.changes[:, 0]
    give_up_at = watch_from + max_wait_s
    gave_up = timeline.delivered_at > give_up_at
    late = at > give_up_at
    at = np.where(late, np.where(gave_up, give_up_at, np.inf), at)
    reason = np.where(late, GAVE_UP, reason)
    at = np.where(np.isfinite(at), at, np.nan)
    reason = np.where(np.isnan(at), -1, reason)
    return Tickets(at, reason.astype(np.int64), at - watch_from, gave_up)


def queue_stale_at(enqueued_at: FloatArray, patience: FloatArray, starts: FloatArray) -> FloatArray:
    """When each buyer's patience first runs out while their order waits (+inf: never).

    ``starts`` are the times orders left the queue (NaN: never). An order enqueued at e and
    started at s sees its position change at e and at every start in (e, s].
    """
    dequeues = np.sort(starts[~np.isnan(starts)])
    boundary = np.append(dequeues, np.inf)
    first = np.searchsorted(dequeues, enqueued_at, side="right")
    own = np.where(np.isnan(starts), len(dequeues), np.searchsorted(dequeues, starts))
    next_change = np.fmin(boundary[first], starts)  # an order served at once never waited
    stale = enqueued_at + patience
    at = np.where(stale < next_change, stale, np.inf)
    gaps = np.diff(boundary)
    candidates = np.flatnonzero(gaps > patience.min()) if len(patience) else np.array([], int)
    low, high = np.searchsorted(candidates, first), np.searchsorted(candidates, own)
    pending = np.flatnonzero((high > low) & np.isinf(at) & ~np.isnan(enqueued_at))
    while len(pending):
        j = candidates[low[pending]]
        stale = boundary[j] + patience[pending]
        fired = stale < boundary[j + 1]
        at[pending[fired]] = stale[fired]
        low[pending] += 1
        pending = pending[~fired & (low[pending] < high[pending])]
    return at
