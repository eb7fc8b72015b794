"""Admission as buyers met it (pure over attempts.csv and the outcomes): how many buyers the
shop turned away and how many came back, the answer times of order placement, goodput, and
the share of paid orders delivered inside the SLA — the figures that tell graceful overload
(refuse early, deliver what was accepted) from collapse (accept everything, deliver late)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fakalab.reports.metrics import percentile, ratio

__all__ = ["admission"]


def admission(attempts: pd.DataFrame | None, out: pd.DataFrame, started_at: float,
              ended_at: float) -> dict[str, Any] | None:
    """None for a run without attempts.csv rows (runs before it existed)."""
    if attempts is None or attempts.empty:
        return None
    tries = attempts[attempts["outcome"] != "gave_up"]
    by_journey = attempts.groupby("journey")["outcome"]
    refused_once = by_journey.apply(lambda o: bool((o == "refused").any()))
    created = by_journey.apply(lambda o: bool((o == "created").any()))
    gave_up = by_journey.apply(lambda o: bool((o == "gave_up").any()))
    journeys = len(refused_once)
    duration = max(ended_at - started_at, 1e-9)
    inside = out["paid"].to_numpy() & out["delivered"].to_numpy() & ~out["delayed"].to_numpy()
    paid = int(out["paid"].sum())
    latency = tries["latency_ms"].to_numpy(dtype=float) / 1000
    retry = tries.loc[tries["outcome"] == "refused", "retry_after_s"].to_numpy(dtype=float)
    return {
        "buyers": journeys,
        "attempts": len(tries),
        "refusals": int((tries["outcome"] == "refused").sum()),
        "failed_attempts": int((tries["outcome"] == "failed").sum()),
        "buyers_refused": int(refused_once.sum()),
        "buyers_refused_share": ratio(int(refused_once.sum()), journeys),
        "buyers_served_after_refusal": int((refused_once & created).sum()),
        "buyers_gave_up": int(gave_up.sum()),
        "buyers_gave_up_share": ratio(int(gave_up.sum()), journeys),
        "create_p50_s": percentile(latency, 50),
        "create_p99_s": percentile(latency, 99),
        "retry_after_p50_s": percentile(retry, 50) if len(retry) else None,
        "goodput_per_s": int(inside.sum()) / duration,
        "paid_inside_sla": int(inside.sum()),
        "paid_inside_sla_share": ratio(int(inside.sum()), paid),
        "refusals_per_s": float(np.count_nonzero(tries["outcome"] == "refused")) / duration,
    }
