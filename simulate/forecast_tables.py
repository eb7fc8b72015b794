"""What ``fakalab simulate SCENARIO [--against RUN_DIR]`` prints (tables; no I/O here)."""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table

from fakalab.simulate.forecast import METHOD, Forecast, shown_figures

__all__ = ["LABELS", "against_table", "fmt", "forecast_table", "windows_table"]

LABELS = {
    "delay_rate": "delay rate",
    "p95_s": "p95 paid → delivered",
    "tickets_per_100_delayed": "tickets per 100 delayed",
    "peak_queue_depth": "peak queue depth",
    "buyers_refused_share": "buyers refused (at least once)",
    "buyers_gave_up": "buyers who gave up after a refusal",
    "goodput_per_s": "goodput (delivered inside the SLA)",
}


def fmt(name: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if name in ("delay_rate", "buyers_refused_share"):
        return f"{value:.2%}"
    if name == "goodput_per_s":
        return f"{value:.3g}/s"
    if name == "buyers_gave_up":
        return f"{value:.0f}"
    if name in ("p95_s",):
        return f"{value:.3g} s" if value < 10 else f"{value:.1f} s"
    if name == "queue_depth" or name == "peak_queue_depth":
        return f"{value:.0f}"
    return f"{value:.3g}"


def _interval(name: str, lo: float | None, hi: float | None) -> str:
    return f"[{fmt(name, lo)}, {fmt(name, hi)}]"


def forecast_table(title: str, forecast: Forecast) -> Table:
    table = Table(title=title, caption=f"interval: {METHOD['prediction']}; "
                                       f"mean: {METHOD['mean']}")
    for column in ("figure", "forecast", "95% prediction interval", "mean [95% CI]"):
        table.add_column(column, justify="right")
    for name in shown_figures(forecast.model):
        e = forecast.figures[name]
        table.add_row(LABELS[name], fmt(name, e.mean), _interval(name, e.lo, e.hi),
                      _interval(name, e.mean_lo, e.mean_hi))
    return table


def _error(name: str, row: dict[str, Any]) -> str:
    if name == "delay_rate" and row["error_pp"] is not None:
        return f"{row['error_pp']:+.2f} pp"
    if row["error_pct"] is not None:
        return f"{row['error_pct']:+.1f}%"
    if row["error"] is not None:
        return f"{row['error']:+.3g}"
    return "—"


def _yes(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "NO")


def against_table(title: str, comparison: dict[str, Any]) -> Table:
    table = Table(title=title, caption="target: delay rate ±3 pp, p95 ±20%, or the measurement "
                                       "inside the prediction interval")
    for column in ("figure", "forecast", "95% prediction interval", "measured", "error",
                   "inside", "target"):
        table.add_column(column, justify="right")
    for name in comparison["figures"]:
        row = comparison["figures"][name]
        table.add_row(LABELS[name], fmt(name, row["forecast"]),
                      _interval(name, *row["interval"]), fmt(name, row["measured"]),
                      _error(name, row), _yes(row["inside_interval"]), _yes(row["within_target"]))
    return table


def windows_table(comparison: dict[str, Any]) -> Table:
    table = Table(title="per 10 s window of payment time: forecast [interval] / measured")
    for column in ("window", "delay rate", "p95", "queue at end"):
        table.add_column(column, justify="right")
    for row in comparison["windows"]:
        cells = []
        for name in ("delay_rate", "p95_s", "queue_depth"):
            cell = row[name]
            mark = "" if cell["inside"] is None else (" ✓" if cell["inside"] else " ✗")
            cells.append(f"{fmt(name, cell['forecast'])} {_interval(name, *cell['interval'])}"
                         f" / {fmt(name, cell['measured'])}{mark}")
        table.add_row(f"{row['window_start']:g}–{row['window_end']:g} s", *cells)
    return table
