"""Model vs measurement: the simulator's predictions per window against what the run measured."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["EPOCH_THRESHOLD", "model_frame", "model_metrics"]

# Window bounds below this are seconds since the run start; above, UNIX epoch seconds.
EPOCH_THRESHOLD = 1e9


def model_frame(
    windows: pd.DataFrame, orders: pd.DataFrame, out: pd.DataFrame, started_at: float
) -> pd.DataFrame:
    """Per simulation window: predicted and measured delay rate and p95, with their errors."""
    offset = 0.0 if windows["window_start"].min() >= EPOCH_THRESHOLD else started_at
    start = windows["window_start"].to_numpy() + offset
    end = windows["window_end"].to_numpy() + offset
    order = np.argsort(start, kind="stable")
    paid_at = orders["paid_at"].to_numpy()
    pos = np.searchsorted(start[order], paid_at, side="right") - 1
    index = order[np.clip(pos, 0, None)] if order.size else pos
    inside = (pos >= 0) & np.isfinite(paid_at)
    inside[inside] &= paid_at[inside] < end[index[inside]]
    frame = out[inside].assign(window=index[inside])
    grouped = frame.groupby("window")
    decided = grouped["decided"].sum().reindex(range(len(windows)), fill_value=0).to_numpy()
    delayed = grouped["delayed"].sum().reindex(range(len(windows)), fill_value=0).to_numpy()
    p95 = grouped["ttd"].quantile(0.95).reindex(range(len(windows))).to_numpy(dtype=float)
    measured = np.divide(delayed, decided, out=np.full(len(windows), np.nan), where=decided > 0)
    return pd.DataFrame(
        {
            "start_s": start - started_at,
            "end_s": end - started_at,
            "predicted_delay_rate": windows["predicted_delay_rate"].to_numpy(),
            "measured_delay_rate": measured,
            "delay_rate_error": windows["predicted_delay_rate"].to_numpy() - measured,
            "predicted_p95_s": windows["predicted_p95_s"].to_numpy(),
            "measured_p95_s": p95,
            "p95_error_s": windows["predicted_p95_s"].to_numpy() - p95,
        }
    )


def _mean(values: pd.Series) -> float | None:
    finite = values.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else None


def model_metrics(frame: pd.DataFrame, summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "windows": len(frame),
        "delay_rate_mae": _mean(frame["delay_rate_error"].abs()),
        "delay_rate_bias": _mean(frame["delay_rate_error"]),
        "p95_mae_s": _mean(frame["p95_error_s"].abs()),
        "summary": summary,
    }
