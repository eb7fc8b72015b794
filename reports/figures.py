"""Figures as PNG bytes (Agg, no pyplot); plotted data is aggregated or sampled."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fakalab.reports.analysis import Analysis

__all__ = ["Chart", "comparison_charts", "run_charts"]

SAMPLES = 600  # points of sampled curves (queue depth, CDFs)
FAULT_COLOR = "#d62728"


@dataclass(frozen=True)
class Chart:
    name: str  # file name, e.g. "over_time.png"
    caption: str
    png: bytes


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _shade_faults(ax: Axes, a: Analysis) -> None:
    for start, end in zip(a.run.faults["started_at"], a.run.faults["ended_at"], strict=True):
        stop = a.run.ended_at if pd.isna(end) else end
        ax.axvspan(start - a.run.started_at, stop - a.run.started_at, color=FAULT_COLOR, alpha=0.15)


def _per_window(windows: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Step-plot points of a per-window value, the last window drawn to its end."""
    x = np.append(windows["start_s"].to_numpy(), windows["end_s"].to_numpy()[-1:])
    y = windows[column].to_numpy(dtype=float)
    return x, np.append(y, y[-1:])


def _over_time(a: Analysis) -> Figure:
    fig = Figure(figsize=(9, 7))
    axes = fig.subplots(3, 1, sharex=True)
    w = a.windows
    axes[0].step(*_per_window(w, "arrivals_per_s"), where="post")
    axes[0].set_ylabel("orders created / s")
    t = np.linspace(0, a.run.ended_at - a.run.started_at, SAMPLES)
    axes[1].step(t, a.queue.at(t + a.run.started_at), where="post")
    axes[1].set_ylabel("paid, not delivered")
    axes[2].step(*_per_window(w, "delay_rate"), where="post")
    axes[2].set_ylabel("delay rate (paid in window)")
    axes[2].set_xlabel("seconds since run start (red: faults)")
    for ax in axes:
        _shade_faults(ax, a)
    return fig


def _ecdf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.sort(values[np.isfinite(values)])
    if values.size <= SAMPLES:
        return values, np.arange(1, values.size + 1) / max(values.size, 1)
    p = np.linspace(0, 1, SAMPLES)
    return np.quantile(values, p), p


def _cdf(analyses: Sequence[Analysis]) -> Figure:
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    for a in analyses:
        x, y = _ecdf(a.out["ttd"].to_numpy())
        delivered, paid = a.out["delivered"].sum(), a.out["paid"].sum()
        ax.step(x, y * (delivered / paid if paid else 1.0), where="post", label=a.run.label)
    ax.axvline(analyses[0].run.sla_s, color=FAULT_COLOR, linestyle="--", label="SLA")
    ax.set_xlabel("seconds from payment to delivery")
    ax.set_ylabel("share of paid orders delivered")
    ax.legend()
    return fig


def _bars(ax: Axes, labels: list[str], values: list[float | None], title: str) -> None:
    ax.barh(labels, [np.nan if v is None else v for v in values])
    ax.set_title(title)


def _where(a: Analysis) -> Figure:
    fig = Figure(figsize=(9, 6))
    axes = fig.subplots(1, 3)
    st = a.metrics["stages"]
    _bars(axes[0], [s["state"] for s in st], [s["total_s"] for s in st], "seconds per stage")
    for ax, key in ((axes[1], "by_priority"), (axes[2], "by_channel")):
        rows = a.metrics[key]
        column = "priority" if key == "by_priority" else "channel"
        _bars(
            ax,
            [str(r[column]) for r in rows],
            [r["ttd_p95_s"] for r in rows],
            f"p95 paid→delivered s by {column}",
        )
    fig.tight_layout()
    return fig


def _vacuum(a: Analysis) -> Figure:
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    x, y = _ecdf(a.vacuum.to_numpy())
    ax.step(x, y, where="post")
    ax.set_xlabel("longest seconds without a change the buyer could see (delayed orders)")
    ax.set_ylabel("share of delayed orders")
    return fig


def _model(a: Analysis) -> Figure:
    assert a.model is not None
    fig = Figure(figsize=(9, 5))
    axes = fig.subplots(2, 1, sharex=True)
    for ax, key, label in ((axes[0], "delay_rate", "delay rate"), (axes[1], "p95_s", "p95 s")):
        ax.plot(a.model["start_s"], a.model[f"predicted_{key}"], marker="o", label="predicted")
        ax.plot(a.model["start_s"], a.model[f"measured_{key}"], marker="x", label="measured")
        ax.set_ylabel(label)
        ax.legend()
        _shade_faults(ax, a)
    axes[1].set_xlabel("window start, seconds since run start")
    return fig


def run_charts(a: Analysis, prefix: str = "") -> list[Chart]:
    charts = [
        Chart(
            f"{prefix}over_time.png",
            "Arrival rate, queue depth and delay rate per window; fault windows shaded.",
            _png(_over_time(a)),
        ),
        Chart(
            f"{prefix}ttd_cdf.png",
            "Time from payment to delivery (CDF over paid orders).",
            _png(_cdf([a])),
        ),
        Chart(
            f"{prefix}where_time_went.png",
            "Where the time went: per stage, per priority class, per channel.",
            _png(_where(a)),
        ),
    ]
    if len(a.vacuum):
        charts.append(
            Chart(
                f"{prefix}vacuum.png",
                "Information vacuum per delayed order (CDF).",
                _png(_vacuum(a)),
            )
        )
    if a.model is not None:
        charts.append(
            Chart(f"{prefix}model.png", "Model vs measurement per window.", _png(_model(a)))
        )
    return charts


def _overlay_delay(analyses: Sequence[Analysis]) -> Figure:
    fig = Figure(figsize=(9, 4))
    ax = fig.subplots()
    for a in analyses:
        ax.step(*_per_window(a.windows, "delay_rate"), where="post", label=a.run.label)
    ax.set_xlabel("seconds since run start")
    ax.set_ylabel("delay rate (paid in window)")
    ax.legend()
    return fig


def _overlay_tickets(analyses: Sequence[Analysis]) -> Figure:
    fig = Figure(figsize=(8, 3))
    ax = fig.subplots()
    _bars(
        ax,
        [a.run.label for a in analyses],
        [a.metrics["transparency"]["tickets_per_100_delayed"] for a in analyses],
        "tickets per 100 delayed orders",
    )
    return fig


def comparison_charts(analyses: Sequence[Analysis]) -> list[Chart]:
    return [
        Chart(
            "compare_ttd_cdf.png",
            "Time from payment to delivery, runs overlaid.",
            _png(_cdf(analyses)),
        ),
        Chart(
            "compare_delay_rate.png",
            "Delay rate per window, runs overlaid.",
            _png(_overlay_delay(analyses)),
        ),
        Chart(
            "compare_tickets.png",
            "Tickets per 100 delayed orders per run.",
            _png(_overlay_tickets(analyses)),
        ),
    ]
