"""Delivery metrics: pure, vectorised functions of the orders and events tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fakalab.contract.rundir import delays
from fakalab.contract.stages import FINAL_LABELS

__all__ = [
    "WINDOW_CHOICES",
    "Queue",
    "by_class",
    "headline",
    "outcomes",
    "over_time",
    "percentile",
    "queue_steps",
    "stage_intervals",
    "stages",
    "window_frame",
    "window_width",
]

WINDOW_CHOICES = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
MAX_WINDOWS = 60


def percentile(values: np.ndarray | pd.Series, q: float) -> float | None:
    """The q-th percentile (0-100, linear interpolation) of the finite values; None when none."""
    array = np.asarray(values, dtype=float)
    array = array[np.isfinite(array)]
    return float(np.percentile(array, q)) if array.size else None


def ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


def outcomes(orders: pd.DataFrame, sla_s: float, ended_at: float) -> pd.DataFrame:
    """Per order: paid, delivered, ttd (seconds paid -> delivered), undecided, decided, delayed."""
    d = delays(orders["paid_at"], orders["delivered_at"], sla_s, ended_at)
    return pd.DataFrame(
        {
            "paid": d.paid,
            "delivered": d.delivered,
            "ttd": d.ttd,
            "undecided": d.paid & ~d.decided,
            "decided": d.decided,
            "delayed": d.delayed,
        },
        index=orders.index,
    )


def headline(out: pd.DataFrame, faults: pd.DataFrame, slos: list[dict[str, Any]]) -> dict[str, Any]:
    delayed = int(out["delayed"].sum())
    ttd = out["ttd"].to_numpy()
    return {
        "orders": len(out),
        "paid": int(out["paid"].sum()),
        "delivered": int(out["delivered"].sum()),
        "undecided": int(out["undecided"].sum()),
        "delayed": delayed,
        "delay_rate": ratio(delayed, int(out["decided"].sum())),
        "ttd_p50_s": percentile(ttd, 50),
        "ttd_p95_s": percentile(ttd, 95),
        "ttd_p99_s": percentile(ttd, 99),
        "ttd_max_s": percentile(ttd, 100),
        "faults_injected": len(faults),
        "slos_passed": sum(1 for s in slos if s.get("passed") is True),
        "slos_failed": sum(1 for s in slos if s.get("passed") is False),
    }


def window_width(duration_s: float) -> int:
    """The smallest of WINDOW_CHOICES that cuts the run into at most MAX_WINDOWS windows."""
    for width in WINDOW_CHOICES:
        if duration_s / width <= MAX_WINDOWS:
            return width
    return WINDOW_CHOICES[-1]


@dataclass(frozen=True)
class Queue:
    """The paid-but-not-delivered count as a step function: `depth[i]` holds from `times[i]`."""

    times: np.ndarray
    depth: np.ndarray

    def at(self, instants: np.ndarray) -> np.ndarray:
        """Depth at each instant (changes at that very instant included)."""
        index = np.searchsorted(self.times, instants, side="right") - 1
        if not self.depth.size:
            return np.zeros(np.shape(instants), dtype=np.int64)
        return np.where(index >= 0, self.depth[np.clip(index, 0, None)], 0).astype(np.int64)


def queue_steps(orders: pd.DataFrame) -> Queue:
    """The queue of paid, undelivered orders; deliveries sort before payments at one instant."""
    paid_at = orders["paid_at"].to_numpy()
    paid = np.isfinite(paid_at)
    delivered_at = orders["delivered_at"].to_numpy()[paid]
    delivered_at = delivered_at[np.isfinite(delivered_at)]
    times = np.concatenate([paid_at[paid], delivered_at])
    deltas = np.concatenate(
        [np.ones(int(paid.sum()), np.int64), -np.ones(delivered_at.size, np.int64)]
    )
    order = np.lexsort((deltas, times))
    return Queue(times[order], np.cumsum(deltas[order]))


def window_frame(
    orders: pd.DataFrame,
    out: pd.DataFrame,
    queue: Queue,
    started_at: float,
    ended_at: float,
    width: float,
) -> pd.DataFrame:
    """Per window [start, start+width): arrivals_per_s, queue depth at its end, decided, delayed."""
    count = max(1, int(np.ceil((ended_at - started_at) / width)))
    start = np.arange(count) * float(width)
    end = np.minimum(start + width, ended_at - started_at)

    def per_window(at: pd.Series, weights: pd.Series | None = None) -> np.ndarray:
        rel = ((at - started_at) // width).to_numpy()
        keep = np.isfinite(rel) & (rel >= 0)
        bins = np.clip(rel[keep].astype(np.int64), 0, count - 1)
        w = None if weights is None else weights.to_numpy(dtype=float)[keep]
        return np.bincount(bins, weights=w, minlength=count)

    decided = per_window(orders["paid_at"].where(out["decided"]))
    delayed = per_window(orders["paid_at"].where(out["delayed"]))
    return pd.DataFrame(
        {
            "start_s": start,
            "end_s": end,
            "arrivals_per_s": per_window(orders["created_at"]) / (end - start),
            "queue_depth": queue.at(end + started_at),
            "decided": decided.astype(np.int64),
            "delayed": delayed.astype(np.int64),
            "delay_rate": np.divide(
                delayed, decided, out=np.full(count, np.nan), where=decided > 0
            ),
        }
    )


def over_time(
    queue: Queue, windows: pd.DataFrame, started_at: float, width: float
) -> dict[str, Any]:
    times, depth = queue.times, queue.depth
    peak = int(depth.argmax()) if depth.size else -1
    return {
        "window_s": width,
        "windows": len(windows),
        "peak_arrival_rate_per_s": float(windows["arrivals_per_s"].max()),
        "peak_queue_depth": int(depth[peak]) if peak >= 0 else 0,
        "peak_queue_depth_at_s": float(times[peak] - started_at) if peak >= 0 else None,
        "worst_window_delay_rate": percentile(windows["delay_rate"], 100),
    }


def _by_order_then_seq(okey: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """The permutation sorting by (okey, seq); linear time when the ledger is already in order."""
    if not okey.size:
        return np.zeros(0, dtype=np.int64)
    seq = seq - seq.min()
    span = int(seq.max()) + 1
    if int(okey.max()) < 2**62 // span:
        return np.argsort(okey * span + seq, kind="stable")
    return np.lexsort((seq, okey))


def stage_intervals(events: pd.DataFrame, ended_at: float) -> pd.DataFrame:
    """One row per (order, state entered): oid, state, start, end; open states end at ended_at."""
    categories = events["state"].cat.categories
    codes = events["okey"].to_numpy()
    order = _by_order_then_seq(codes, events["seq"].to_numpy())
    codes = codes[order]
    at = events["at"].to_numpy()[order]
    has_next = np.append(codes[1:] == codes[:-1], False)[: codes.size]
    end = np.where(has_next, np.append(at[1:], np.nan)[: at.size], ended_at)
    state_codes = events["state"].cat.codes.to_numpy()[order]
    terminal = np.asarray(categories.isin(list(FINAL_LABELS)), dtype=bool)
    end[~has_next & terminal[state_codes]] = np.nan
    return pd.DataFrame(
        {
            "oid": events["oid"].to_numpy()[order],
            "state": pd.Categorical.from_codes(state_codes, categories),
            "start": at,
            "end": end,
        }
    )


def stages(intervals: pd.DataFrame) -> list[dict[str, Any]]:
    """Time per state over all orders, largest total first."""
    frame = intervals.assign(seconds=intervals["end"] - intervals["start"]).dropna(
        subset=["seconds"]
    )
    grouped = frame.groupby("state", observed=True)["seconds"]
    table = grouped.agg(["count", "sum", "mean"]).join(grouped.quantile(0.95).rename("p95"))
    total = float(table["sum"].sum())
    table = table.sort_values(["sum", "count"], ascending=False)
    return [
        {
            "state": str(state),
            "transitions": int(row["count"]),
            "total_s": float(row["sum"]),
            "mean_s": float(row["mean"]),
            "p95_s": float(row["p95"]),
            "share": ratio(row["sum"], total),
        }
        for state, row in table.iterrows()
    ]


def _class_key(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def by_class(orders: pd.DataFrame, out: pd.DataFrame, column: str) -> list[dict[str, Any]]:
    """Counts, delay rate and time-to-delivery per value of `column` (priority or channel)."""
    frame = out.assign(key=orders[column].fillna(-1 if column == "priority" else ""))
    grouped = frame.groupby("key", sort=True)
    counts = grouped[["paid", "delayed", "decided"]].sum().join(grouped.size().rename("orders"))
    ttd = grouped["ttd"]
    counts = counts.join(ttd.quantile(0.5).rename("p50")).join(ttd.quantile(0.95).rename("p95"))
    return [
        {
            column: _class_key(key),
            "orders": int(row["orders"]),
            "paid": int(row["paid"]),
            "delayed": int(row["delayed"]),
            "delay_rate": ratio(row["delayed"], row["decided"]),
            "ttd_p50_s": None if pd.isna(row["p50"]) else float(row["p50"]),
            "ttd_p95_s": None if pd.isna(row["p95"]) else float(row["p95"]),
        }
        for key, row in counts.iterrows()
    ]
