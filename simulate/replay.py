"""Replay a calibrated model with several seeds and compare it with what the run measured.

Both sides use the report's definitions (``reports.metrics.outcomes``): an order is paid at the
earlier of the shop's confirmation and the buyer's "I have paid"; a paid order not delivered by
the end is *undecided* (counted nowhere) when it was paid less than ``sla_s`` before the end.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from fakalab.reports.metrics import outcomes, percentile
from fakalab.simulate.model import run
from fakalab.simulate.parallel import Progress, run_all
from fakalab.simulate.params import PipelineModel
from fakalab.simulate.stats import Estimate, replication_estimate

__all__ = ["WINDOW_COLUMNS", "compare", "replay", "simulated_orders"]

WINDOW_COLUMNS = (
    "window_start",
    "window_end",
    "predicted_delay_rate",
    "predicted_p95_s",
    "measured_delay_rate",
    "measured_p95_s",
)


def simulated_orders(model: PipelineModel, seed: int) -> pd.DataFrame:
    """One replication as an orders table: paid_at from the buyer's view, delivered_at."""
    records = run(model, seed).records
    paid_at = np.fmin(records.paid_at, records.paid_click_at)
    return pd.DataFrame({"paid_at": paid_at, "delivered_at": records.delivered_at})


def _task(task: tuple[PipelineModel, int]) -> pd.DataFrame:
    return simulated_orders(*task)


def replay(
    model: PipelineModel,
    seeds: Sequence[int],
    *,
    processes: int | None = None,
    progress: Progress | None = None,
) -> list[pd.DataFrame]:
    """One orders table per seed, the seeds spread over all cores."""
    return run_all(_task, [(model, seed) for seed in seeds], processes=processes,
                   progress=progress)


def _figures(frame: pd.DataFrame, sla_s: float, end_s: float) -> tuple[int, int, pd.Series]:
    out = outcomes(frame, sla_s, end_s)
    return int(out["delayed"].sum()), int(out["decided"].sum()), out["ttd"]


def _rate(delayed: int, decided: int) -> float | None:
    return delayed / decided if decided else None


def _window_row(
    start: float,
    end: float,
    measured: pd.DataFrame,
    runs: list[pd.DataFrame],
    sla_s: float,
    horizon_s: float,
) -> dict[str, Any]:
    def inside(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[(frame["paid_at"] >= start) & (frame["paid_at"] < end)]

    m_delayed, m_decided, m_ttd = _figures(inside(measured), sla_s, horizon_s)
    predicted = [_figures(inside(frame), sla_s, horizon_s) for frame in runs]
    p_delayed = sum(p[0] for p in predicted)
    p_decided = sum(p[1] for p in predicted)
    p_ttd = np.concatenate([p[2].to_numpy(dtype=float) for p in predicted] or [np.zeros(0)])
    return {
        "window_start": start,
        "window_end": end,
        "predicted_delay_rate": _rate(p_delayed, p_decided),
        "predicted_p95_s": percentile(p_ttd, 95),
        "measured_delay_rate": _rate(m_delayed, m_decided),
        "measured_p95_s": percentile(m_ttd.to_numpy(dtype=float), 95),
    }


def _estimate(values: list[float]) -> Estimate | None:
    finite = [v for v in values if np.isfinite(v)]
    return replication_estimate(finite) if len(finite) >= 2 else None


def compare(
    measured: pd.DataFrame,
    runs: list[pd.DataFrame],
    *,
    sla_s: float,
    horizon_s: float,
    window_s: float,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-window rows (``WINDOW_COLUMNS``) and the overall comparison. Predicted figures pool
    the seeds; the 95% intervals are over seeds."""
    edges = np.arange(0.0, horizon_s + window_s, window_s)
    rows = [
        _window_row(float(a), float(b), measured, runs, sla_s, horizon_s)
        for a, b in itertools.pairwise(edges)
    ]
    m_delayed, m_decided, m_ttd = _figures(measured, sla_s, horizon_s)
    per_seed = [_figures(frame, sla_s, horizon_s) for frame in runs]
    p_rate = _rate(sum(p[0] for p in per_seed), sum(p[1] for p in per_seed))
    p_p95 = percentile(np.concatenate([p[2].to_numpy(dtype=float) for p in per_seed]), 95)
    m_rate = _rate(m_delayed, m_decided)
    m_p95 = percentile(m_ttd.to_numpy(dtype=float), 95)
    rate_ci = _estimate([_rate(d, n) or np.nan for d, n, _ in per_seed])
    p95_ci = _estimate([percentile(t.to_numpy(dtype=float), 95) or np.nan for *_, t in per_seed])
    summary = {
        "predicted": {
            "delay_rate": p_rate,
            "delay_rate_ci": rate_ci.as_list() if rate_ci else None,
            "p95_s": p_p95,
            "p95_s_ci": p95_ci.as_list() if p95_ci else None,
            "decided_per_seed": sum(p[1] for p in per_seed) / max(len(per_seed), 1),
        },
        "measured": {"delay_rate": m_rate, "p95_s": m_p95, "decided": m_decided},
        "error": {
            "delay_rate_pp": None if p_rate is None or m_rate is None else 100 * (p_rate - m_rate),
            "p95_pct": None if not p_p95 or not m_p95 else 100 * (p_p95 - m_p95) / m_p95,
        },
    }
    return pd.DataFrame(rows, columns=list(WINDOW_COLUMNS)), summary
