"""Status disputes (pure over disputes.csv and the outcomes): buyers' claims of non-delivery
and the share a receipt settled either way — the measure of verifiable receipts (claim S11,
docs/scenarios.md, docs/receipts.md).

`disputes(frame, out)` gives the figures of one run (None without disputes.csv);
`compare_disputes` the deltas of the share settled by receipt and of the open disputes per 100
paid orders against the first run, with percentile bootstrap intervals (reports/compare.py's
binomial and ratio resampling).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fakalab.reports.analysis import Analysis
from fakalab.reports.compare import (
    RESAMPLES,
    SEED,
    bootstrap_binary,
    bootstrap_ratio,
    delta_row,
)
from fakalab.reports.metrics import percentile, ratio

__all__ = ["COMPARED_DISPUTES", "compare_disputes", "disputes"]

COMPARED_DISPUTES = ("settled_by_receipt_share", "open_per_100_paid")


def disputes(frame: pd.DataFrame | None, out: pd.DataFrame) -> dict[str, Any] | None:
    """The run's claims and how they were settled; None for a run in which no buyer claimed."""
    if frame is None:
        return None
    kind, outcome = frame["kind"], frame["outcome"]
    by_receipt = frame["settled_by"] == "receipt"
    paid = int(out["paid"].sum())
    opened = int((outcome == "open").sum())
    return {
        "claims": len(frame),
        "honest_claims": int((kind == "honest").sum()),
        "false_claims": int((kind == "false").sum()),
        "key_claims": int((kind == "key").sum()),
        "settled_by_receipt": int(by_receipt.sum()),
        "settled_by_receipt_share": ratio(int(by_receipt.sum()), len(frame)),
        "settled_for_buyer": int((outcome == "for_buyer").sum()),
        "settled_against_buyer": int((outcome == "against_buyer").sum()),
        "honest_settled_against": int(((kind == "honest") & (outcome == "against_buyer")).sum()),
        "false_settled_for": int(((kind == "false") & (outcome == "for_buyer")).sum()),
        "open": opened,
        "claims_per_100_paid": None if not paid else 100 * len(frame) / paid,
        "open_per_100_paid": None if not paid else 100 * opened / paid,
        "settle_p50_s": percentile(frame["settle_s"].to_numpy(dtype=float), 50),
        "settle_p95_s": percentile(frame["settle_s"].to_numpy(dtype=float), 95),
    }


def _boot(a: Analysis, metric: str, rng: np.random.Generator, size: int) -> np.ndarray:
    frame = a.run.disputes
    assert frame is not None
    if metric == "settled_by_receipt_share":
        return bootstrap_binary(rng, int((frame["settled_by"] == "receipt").sum()), len(frame),
                                size)
    oid = frame.loc[frame["outcome"] == "open", "oid"].to_numpy()
    per_order = np.bincount(oid[oid >= 0], minlength=len(a.out)).astype(float)
    paid = a.out["paid"].to_numpy(dtype=float)
    return bootstrap_ratio(rng, per_order, paid, size, 100.0)


def compare_disputes(analyses: list[Analysis], resamples: int = RESAMPLES,
                     seed: int = SEED) -> list[dict[str, Any]]:
    """Comparison rows (reports/compare.py's shape) of each run against the first for
    COMPARED_DISPUTES; [] unless every run has disputes.csv."""
    if len(analyses) < 2 or any(a.metrics.get("disputes") is None for a in analyses):
        return []
    rng = np.random.default_rng(seed + 13)
    base = analyses[0]
    rows = []
    for other in analyses[1:]:
        for metric in COMPARED_DISPUTES:
            b, v = base.metrics["disputes"][metric], other.metrics["disputes"][metric]
            deltas = _boot(other, metric, rng, resamples) - _boot(base, metric, rng, resamples)
            rows.append(delta_row(other, metric, b, v, deltas))
    return rows
