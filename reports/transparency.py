"""What buyers saw while they waited: pure, vectorised functions of polls, tickets and incidents."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fakalab.contract.stages import GENERIC_LABELS
from fakalab.reports.metrics import percentile, ratio

__all__ = [
    "eta_outcomes",
    "incident_note_delays",
    "successful",
    "transparency",
    "vacuum_per_order",
    "waiting",
]


def successful(polls: pd.DataFrame) -> np.ndarray:
    """Observations that got an answer (HTTP 2xx) about an order of the run."""
    status = polls["http_status"].to_numpy()
    return (status >= 200) & (status < 300) & (polls["oid"].to_numpy() >= 0)


def _delivered_at(orders: pd.DataFrame, oid: np.ndarray) -> np.ndarray:
    delivered = orders["delivered_at"].to_numpy()
    return delivered[oid] if delivered.size else np.full(oid.size, np.nan)


def waiting(orders: pd.DataFrame, polls: pd.DataFrame) -> np.ndarray:
    """Successful observations made before the order was delivered."""
    ok = successful(polls)
    delivered = _delivered_at(orders, np.where(ok, polls["oid"].to_numpy(), 0))
    return ok & ~(polls["at"].to_numpy() >= delivered)


def stage_visible(polls: pd.DataFrame) -> np.ndarray:
    """Observations naming a specific stage and showing an ETA."""
    codes, seen = pd.factorize(polls["state_seen"].fillna(""))
    generic = seen.str.strip().str.lower().isin(list(GENERIC_LABELS))
    specific = ~np.asarray(generic, dtype=bool)[codes] if len(seen) else np.zeros(0, bool)
    return specific & polls["eta_seen"].notna().to_numpy()


def _view_codes(polls: pd.DataFrame) -> np.ndarray:
    """One integer per distinct (state_seen, message_seen, eta_seen): what the buyer saw."""
    columns = [polls[c].fillna("") for c in ("state_seen", "message_seen")]
    columns.append(polls["eta_seen"].fillna(-1.0))
    codes = np.zeros(len(polls), dtype=np.int64)
    for column in columns:
        part, uniques = pd.factorize(column)
        codes = pd.factorize(codes * (len(uniques) + 1) + part)[0]  # stays compact: no overflow
    return codes


def vacuum_per_order(polls: pd.DataFrame, orders_mask: np.ndarray) -> pd.Series:
    """Per order in `orders_mask` (by oid): the longest time what its buyer saw did not change."""
    keep = successful(polls)
    keep[keep] = orders_mask[polls["oid"].to_numpy()[keep]]
    sub = polls.loc[keep, ["oid", "at", "state_seen", "message_seen", "eta_seen"]]
    sub = sub.iloc[np.lexsort((sub["at"].to_numpy(), sub["oid"].to_numpy()))]
    oid = sub["oid"]
    eta = sub["eta_seen"].fillna(-1.0)
    changed = (
        oid.ne(oid.shift())
        | sub["state_seen"].ne(sub["state_seen"].shift())
        | sub["message_seen"].ne(sub["message_seen"].shift())
        | eta.ne(eta.shift())
    )
    last_at = sub.groupby("oid")["at"].max()
    starts = sub.loc[changed.to_numpy(), ["oid", "at"]]
    same_next = starts["oid"].shift(-1).eq(starts["oid"])
    next_at = starts["at"].shift(-1).where(same_next, starts["oid"].map(last_at))
    return (next_at - starts["at"]).groupby(starts["oid"]).max().rename("vacuum_s")


def eta_outcomes(orders: pd.DataFrame, polls: pd.DataFrame, ended_at: float) -> pd.DataFrame:
    """Distinct (order, ETA shown) pairs whose outcome is known, with delivered_at and on_time."""
    keep = successful(polls) & polls["eta_seen"].notna().to_numpy()
    pairs = polls.loc[keep, ["oid", "eta_seen"]].drop_duplicates()
    delivered = _delivered_at(orders, pairs["oid"].to_numpy())
    pairs = pairs.assign(delivered_at=delivered)
    pairs = pairs[pairs["delivered_at"].notna() | (pairs["eta_seen"] < ended_at)]
    return pairs.assign(on_time=pairs["delivered_at"] <= pairs["eta_seen"])


def incident_note_delays(faults: pd.DataFrame, incidents: pd.DataFrame) -> np.ndarray:
    """Per fault: seconds from its start to the first incident update at or after it (NaN: none)."""
    notes = np.sort(incidents["at"].dropna().to_numpy())
    started = faults["started_at"].to_numpy()
    index = np.searchsorted(notes, started, side="left")
    found = index < notes.size
    first = notes[np.clip(index, 0, max(notes.size - 1, 0))] if notes.size else np.zeros(index.size)
    return np.where(found, first - started, np.nan)


def transparency(
    orders: pd.DataFrame,
    out: pd.DataFrame,
    polls: pd.DataFrame,
    tickets: pd.DataFrame,
    note_delays: np.ndarray,
    vacuum: pd.Series,
    etas: pd.DataFrame,
) -> dict[str, Any]:
    waiting_mask = waiting(orders, polls)
    delayed = int(out["delayed"].sum())
    errors = (etas["delivered_at"] - etas["eta_seen"]).abs()
    reasons = tickets["reason"].value_counts().sort_index()
    found = note_delays[np.isfinite(note_delays)]
    return {
        "observations": len(polls),
        "polls_per_order": ratio(len(polls), len(orders)),
        "waiting_observations": int(waiting_mask.sum()),
        "stage_visibility": ratio(
            int((waiting_mask & stage_visible(polls)).sum()), int(waiting_mask.sum())
        ),
        "vacuum_orders": len(vacuum),
        "vacuum_p50_s": percentile(vacuum, 50),
        "vacuum_p90_s": percentile(vacuum, 90),
        "vacuum_max_s": percentile(vacuum, 100),
        "etas_judged": len(etas),
        "eta_on_time_share": ratio(int(etas["on_time"].sum()), len(etas)),
        "eta_abs_error_p50_s": percentile(errors, 50),
        "tickets": len(tickets),
        "tickets_per_100_delayed": ratio(100 * len(tickets), delayed),
        "tickets_by_reason": {str(k): int(v) for k, v in reasons.items()},
        "faults_with_incident_note": int(found.size),
        "incident_note_delay_p50_s": percentile(found, 50),
    }
