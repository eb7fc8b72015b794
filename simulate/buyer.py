"""Buyers watching their orders after paying, and the tickets they file (vectorised, pure).

A buyer starts watching when they say "I have paid". What they see changes at each visible
transition. They file one ticket at the first moment that either the status has not changed for
longer than their patience (``stale_status``) or the latest ETA they were shown has passed by
more than the grace (``eta_passed``); if neither happened and the order is still not delivered
after ``max_wait_s`` they give up and file a ``gave_up`` ticket.

In the queue, a transparent shop shows the order's position and an ETA computed from it, so what
the buyer sees changes every time an order ahead starts (``queue_triggers``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["TICKET_REASONS", "QueueEta", "Tickets", "Timeline", "file_tickets", "queue_triggers"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
TICKET_REASONS = ("stale_status", "eta_passed", "gave_up")  # codes 0, 1, 2; −1: no ticket
STALE, ETA_PASSED, GAVE_UP = 0, 1, 2


@dataclass(frozen=True)
class Timeline:
    """What buyers see: ``changes[:, j]`` is when the j-th visible change happened (column 0:
    the buyer says they paid; +inf: never), ``etas[:, j]`` the ETA shown from then (NaN: none).
    ``queued_column`` (optional) is the change after which the order waits in the queue: its
    triggers come from ``queue_triggers`` instead of the next column."""

    changes: FloatArray
    etas: FloatArray
    delivered_at: FloatArray  # +inf when not delivered
    queued_column: int | None = None
    queue_at: FloatArray | None = None  # first queue-phase trigger (+inf: none)
    queue_reason: IntArray | None = None


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
        cut(timeline.queue_at),
        cut(timeline.queue_reason),
    )


def _file_tickets(
    timeline: Timeline, patience: FloatArray, max_wait_s: float, eta_grace_s: float
) -> Tickets:
    changes, etas, n = timeline.changes, timeline.etas, len(timeline.changes)
    following = np.concatenate([changes[:, 1:], np.full((n, 1), np.inf)], axis=1)
    stale_at = changes + patience[:, None]
    eta_at = np.where(np.isnan(etas), np.inf, etas + eta_grace_s)
    trigger = np.minimum(stale_at, eta_at)
    watching = np.isfinite(changes) & (changes < timeline.delivered_at[:, None])
    first = np.where(watching & (trigger < following), trigger, np.inf)
    reasons = np.where(stale_at <= eta_at, STALE, ETA_PASSED)
    if timeline.queued_column is not None:
        assert timeline.queue_at is not None and timeline.queue_reason is not None
        first[:, timeline.queued_column] = timeline.queue_at
        reasons[:, timeline.queued_column] = timeline.queue_reason
    rows, column = np.arange(n), first.argmin(axis=1)
    at, reason = first[rows, column], reasons[rows, column]
    watch_from = changes[:, 0]
    give_up_at = watch_from + max_wait_s
    gave_up = timeline.delivered_at > give_up_at
    late = at > give_up_at
    at = np.where(late, np.where(gave_up, give_up_at, np.inf), at)
    reason = np.where(late, GAVE_UP, reason)
    at = np.where(np.isfinite(at), at, np.nan)
    reason = np.where(np.isnan(at), -1, reason)
    return Tickets(at, reason.astype(np.int64), at - watch_from, gave_up)


@dataclass(frozen=True)
class QueueEta:
    """How the shop estimates while an order waits: ``ahead × per_order_s / workers +
    own_s`` from now."""

    per_order_s: float
    own_s: float
    workers: int


def queue_triggers(
    enqueued_at: FloatArray,
    first_eta: FloatArray,
    patience: FloatArray,
    starts: FloatArray,
    eta: QueueEta,
    *,
    eta_grace_s: float,
) -> tuple[FloatArray, IntArray]:
    """First queue-phase trigger per order (time, reason), +inf when none.

    ``starts`` are the times orders left the queue (NaN: never). An order enqueued at e and
    started at s sees changes at e and at every start in (e, s]; at each, the ETA is recomputed
    with the starts still ahead of it. ``first_eta`` is the ETA shown on joining (NaN: none).
    """
    dequeues = np.sort(starts[~np.isnan(starts)])
    boundary = np.append(dequeues, np.inf)
    first = np.searchsorted(dequeues, enqueued_at, side="right")
    own = np.where(np.isnan(starts), len(dequeues), np.searchsorted(dequeues, starts))
    next_change = np.fmin(boundary[first], starts)  # a served-at-once order never waited
    at, reason = _first_segment(enqueued_at, first_eta, patience, next_change, eta_grace_s)
    gaps = np.diff(boundary)
    slack = np.minimum(patience, eta.own_s + eta_grace_s)  # no trigger sooner than this
    candidates = np.flatnonzero(gaps > slack.min()) if len(slack) else np.array([], np.int64)
    low = np.searchsorted(candidates, first)
    high = np.searchsorted(candidates, own)
    pending = np.flatnonzero((high > low) & np.isinf(at) & ~np.isnan(enqueued_at))
    while len(pending):
        j = candidates[low[pending]]
        stale = boundary[j] + patience[pending]
        ahead = (own[pending] - j - 1) * eta.per_order_s / eta.workers
        passed = boundary[j] + ahead + eta.own_s + eta_grace_s
        trigger = np.minimum(stale, passed)
        fired = trigger < boundary[j + 1]
        at[pending[fired]] = trigger[fired]
        reason[pending[fired]] = np.where(stale[fired] <= passed[fired], STALE, ETA_PASSED)
        low[pending] += 1
        pending = pending[~fired & (low[pending] < high[pending])]
    return at, reason


def _first_segment(
    enqueued_at: FloatArray,
    first_eta: FloatArray,
    patience: FloatArray,
    next_change: FloatArray,
    eta_grace_s: float,
) -> tuple[FloatArray, IntArray]:
    stale = enqueued_at + patience
    passed = np.where(np.isnan(first_eta), np.inf, first_eta + eta_grace_s)
    trigger = np.minimum(stale, passed)
    fired = trigger < next_change
    at = np.where(fired, trigger, np.inf)
    return at, np.where(stale <= passed, STALE, ETA_PASSED).astype(np.int64)
