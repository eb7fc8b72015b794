"""Per-order records of a simulated run, its summary and its per-window series (pure)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fakalab.simulate.buyer import TICKET_REASONS

__all__ = ["OrderRecords", "Summary", "Window", "summarise", "windows"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class OrderRecords:
    """One entry per created order, in creation order. Times are seconds from the start; NaN
    means "did not happen". ``paid_at`` is when the shop confirmed payment; ``stage_start`` and
    ``stage_time`` (attempts and backoff included) have one column per stage."""

    stage_names: tuple[str, ...]
    created_at: FloatArray
    priority: IntArray
    channel: IntArray
    buyer_paid: BoolArray
    paid_click_at: FloatArray
    paid_at: FloatArray
    confirmed_by: IntArray
    queue_wait: FloatArray
    stage_start: FloatArray
    stage_time: FloatArray
    delivered_at: FloatArray
    failed_stage: IntArray
    review: BoolArray  # parked as needs_review (else failed_stage parks it in needs_attention)
    supplier: BoolArray  # an order of a supplier product
    eta_at: FloatArray
    delayed: BoolArray
    ticket_at: FloatArray
    ticket_reason: IntArray
    gave_up: BoolArray

    def __len__(self) -> int:
        return len(self.created_at)

    @property
    def paid(self) -> BoolArray:
        return ~np.isnan(self.paid_at)

    @property
    def latency(self) -> FloatArray:
        """Paid → delivered (NaN when either did not happen)."""
        return self.delivered_at - self.paid_at

    def columns(self) -> dict[str, npt.NDArray[Any]]:
        """Flat columns (one per stage for stage figures), for tables and files at the edges."""
        flat = {k: v for k, v in asdict(self).items() if k not in _MATRICES}
        for k, name in enumerate(self.stage_names):
            flat[f"{name}_start"] = self.stage_start[:, k]
            flat[f"{name}_time"] = self.stage_time[:, k]
        return flat


_MATRICES = {"stage_names", "stage_start", "stage_time"}


@dataclass(frozen=True)
class Summary:
    """Headline figures. ``delay_rate``: share of paid orders not delivered within the SLA;
    latency percentiles are over delivered orders; tickets per 100 delayed orders."""

    orders: int
    paid: int
    unconfirmed: int
    delivered: int
    needs_attention: int
    delayed: int
    delay_rate: float
    p50_s: float
    p95_s: float
    p99_s: float
    mean_queue_wait_s: float
    tickets: int
    tickets_per_100_delayed: float
    tickets_by_reason: dict[str, int]
    utilisation: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _percentiles(values: FloatArray) -> tuple[float, float, float]:
    if len(values) == 0:
        return (math.nan, math.nan, math.nan)
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return float(p50), float(p95), float(p99)


def _nanmean(values: FloatArray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if len(finite) else math.nan


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def summarise(records: OrderRecords, *, utilisation: float) -> Summary:
    paid = records.paid
    latency = records.latency
    delivered = ~np.isnan(latency)
    delayed = int(records.delayed.sum())
    reasons = records.ticket_reason
    tickets = int((reasons >= 0).sum())
    by_reason = {name: int((reasons == k).sum()) for k, name in enumerate(TICKET_REASONS)}
    return Summary(
        orders=len(records),
        paid=int(paid.sum()),
        unconfirmed=int((records.buyer_paid & ~paid).sum()),
        delivered=int(delivered.sum()),
        needs_attention=int(((records.failed_stage >= 0) & ~records.review).sum()),
        delayed=delayed,
        delay_rate=_ratio(delayed, int(paid.sum())),
        p50_s=_percentiles(latency[delivered])[0],
        p95_s=_percentiles(latency[delivered])[1],
        p99_s=_percentiles(latency[delivered])[2],
        mean_queue_wait_s=_nanmean(records.queue_wait),
        tickets=tickets,
        tickets_per_100_delayed=100 * _ratio(tickets, delayed),
        tickets_by_reason=by_reason,
        utilisation=utilisation,
    )


@dataclass(frozen=True)
class Window:
    """Orders confirmed paid in [start_s, start_s + window_s)."""

    start_s: float
    paid: int
    delayed: int
    delay_rate: float
    p95_s: float
    tickets: int
    mean_queue_wait_s: float


def windows(records: OrderRecords, window_s: float) -> list[Window]:
    """The per-window series, by time of payment confirmation."""
    paid = records.paid
    if not paid.any():
        return []
    index = (records.paid_at[paid] // window_s).astype(np.int64)
    latency, wait = records.latency[paid], records.queue_wait[paid]
    delayed, ticketed = records.delayed[paid], records.ticket_reason[paid] >= 0
    order = np.argsort(index, kind="stable")
    bounds = np.searchsorted(index[order], np.arange(index.max() + 2))
    series = []
    for w in range(index.max() + 1):
        rows = order[bounds[w] : bounds[w + 1]]
        done = latency[rows][~np.isnan(latency[rows])]
        series.append(
            Window(
                start_s=w * window_s,
                paid=len(rows),
                delayed=int(delayed[rows].sum()),
                delay_rate=_ratio(int(delayed[rows].sum()), len(rows)),
                p95_s=float(np.percentile(done, 95)) if len(done) else math.nan,
                tickets=int(ticketed[rows].sum()),
                mean_queue_wait_s=_nanmean(wait[rows]),
            )
        )
    return series
