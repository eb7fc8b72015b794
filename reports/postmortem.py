"""A blameless postmortem (Google SRE style) from the drill journal, the faults and the data."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from fakalab.reports.analysis import Analysis
from fakalab.reports.metrics import Queue

__all__ = ["ActionItem", "Postmortem", "action_items", "postmortem", "recovered_at", "timeline"]

# Thresholds of the communication action items (documented in docs/reports.md).
MIN_STAGE_VISIBILITY = 0.9
MIN_ETA_ON_TIME = 0.8
TIMELINE_ROWS = 100


@dataclass(frozen=True)
class ActionItem:
    kind: str  # mitigate | prevent | detect | communicate
    text: str


@dataclass(frozen=True)
class Postmortem:
    title: str
    summary: str
    impact: list[str]
    trigger: str
    detection: str
    resolution: str
    timeline: list[dict[str, Any]]
    action_items: list[ActionItem]
    went_well: list[str] = field(default_factory=list)
    went_wrong: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


def epoch(value: Any) -> float | None:
    """A journal time (epoch seconds or ISO 8601, naive = UTC) as epoch seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) else None  # NaN: did not happen
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return None


def recovered_at(queue: Queue, faults: pd.DataFrame) -> float | None:
    """First instant after the last fault ended with the queue at its level at the first start."""
    if faults.empty:
        return None
    first = float(faults["started_at"].min())
    last = float(faults["ended_at"].fillna(faults["started_at"]).max())
    baseline = int(queue.at(np.array([first - 1e-9]))[0])
    times, depth = queue.times, queue.depth
    if int(queue.at(np.array([last]))[0]) <= baseline:
        return last
    after = (times > last) & (depth <= baseline)
    return float(times[after][0]) if after.any() else None


def _worst_stage(
    intervals: pd.DataFrame, orders: pd.DataFrame, delayed: np.ndarray
) -> tuple[str, float, float, pd.DataFrame] | None:
    oid = intervals["oid"].to_numpy()
    mask = (oid >= 0) & delayed[np.clip(oid, 0, None)] if delayed.size else np.zeros(oid.size, bool)
    mask &= intervals["start"].to_numpy() >= orders["paid_at"].to_numpy()[np.clip(oid, 0, None)]
    sub = intervals[mask].dropna(subset=["end"])
    if sub.empty:
        return None
    seconds = (sub["end"] - sub["start"]).groupby(sub["state"], observed=True).sum()
    state = str(seconds.idxmax())
    return (
        state,
        float(seconds.max()),
        float(seconds.max() / seconds.sum()),
        sub[sub["state"] == state],
    )


def _overlap(sub: pd.DataFrame, faults: pd.DataFrame) -> np.ndarray:
    """Seconds each fault's window overlaps the intervals of `sub` (intervals x faults)."""
    f_start = faults["started_at"].to_numpy()[None, :]
    f_end = faults["ended_at"].fillna(np.inf).to_numpy()[None, :]
    lo = np.maximum(sub["start"].to_numpy()[:, None], f_start)
    hi = np.minimum(sub["end"].to_numpy()[:, None], f_end)
    return np.clip(hi - lo, 0, None).sum(axis=0)


def _stage_item(
    intervals: pd.DataFrame, orders: pd.DataFrame, out: pd.DataFrame, faults: pd.DataFrame
) -> list[ActionItem]:
    worst = _worst_stage(intervals, orders, out["delayed"].to_numpy())
    if worst is None:
        return []
    state, seconds, share, sub = worst
    text = (
        f"Delayed orders spent {seconds:.0f} s ({share:.0%} of their time after payment) in "
        f"`{state}`."
    )
    overlap = _overlap(sub, faults) if not faults.empty else np.zeros(0)
    if overlap.size and overlap.max() > 0:
        link = str(faults["link"].iloc[int(overlap.argmax())])
        text += (
            f" The fault on `{link}` overlapped {overlap.max():.0f} s of it: bound `{state}` "
            f"with a timeout and a circuit breaker on `{link}`, and fail over to a backup."
        )
    else:
        text += f" No injected fault overlapped it: add capacity to `{state}` (workers)."
    return [ActionItem("mitigate", text)]


def _stuck_item(orders: pd.DataFrame, out: pd.DataFrame) -> list[ActionItem]:
    stuck = out["delayed"] & ~out["delivered"]
    if not stuck.any():
        return []
    states = orders.loc[stuck, "final_state"].value_counts().sort_index()
    listed = ", ".join(f"`{s}` x{n}" for s, n in states.items())
    return [
        ActionItem(
            "prevent",
            f"Paid orders never delivered: {int(stuck.sum())} (final "
            f"states: {listed}): sweep and re-drive orders stuck in these states.",
        )
    ]


def _detect_items(faults: pd.DataFrame, note_delays: np.ndarray, sla_s: float) -> list[ActionItem]:
    items = []
    for (_, fault), delay in zip(faults.iterrows(), note_delays, strict=True):  # a few faults
        where = f"the `{fault['kind']}` fault on `{fault['link']}`"
        if not np.isfinite(delay):
            items.append(
                ActionItem(
                    "detect",
                    f"No status-page incident followed {where}: add a "
                    "health check that opens one for that component.",
                )
            )
        elif delay > sla_s:
            items.append(
                ActionItem(
                    "detect",
                    f"The status page posted {delay:.0f} s after {where} "
                    f"began, later than the {sla_s:.0f} s SLA: detect faster.",
                )
            )
    return items


def _communicate_items(tr: dict[str, Any], sla_s: float) -> list[ActionItem]:
    items = []
    visibility, on_time, vacuum = (
        tr["stage_visibility"],
        tr["eta_on_time_share"],
        tr["vacuum_max_s"],
    )
    if visibility is not None and visibility < MIN_STAGE_VISIBILITY:
        items.append(
            ActionItem(
                "communicate",
                f"Only {visibility:.0%} of what waiting buyers saw "
                "named a stage with an ETA: show the stage and an ETA.",
            )
        )
    if on_time is not None and on_time < MIN_ETA_ON_TIME:
        items.append(
            ActionItem(
                "communicate",
                f"Only {on_time:.0%} of the ETAs shown were met: "
                "base the ETA on current stage throughput and upstream latency.",
            )
        )
    if vacuum is not None and vacuum > sla_s:
        items.append(
            ActionItem(
                "communicate",
                f"A buyer of a delayed order saw nothing change for "
                f"{vacuum:.0f} s: push an update at least every {sla_s / 2:.0f} s.",
            )
        )
    return items


def action_items(
    orders: pd.DataFrame,
    out: pd.DataFrame,
    intervals: pd.DataFrame,
    faults: pd.DataFrame,
    note_delays: np.ndarray,
    tr: dict[str, Any],
    sla_s: float,
) -> list[ActionItem]:
    """Suggested action items, each derived from one observation in the data."""
    return (
        _stage_item(intervals, orders, out, faults)
        + _stuck_item(orders, out)
        + _detect_items(faults, note_delays, sla_s)
        + _communicate_items(tr, sla_s)
    )


def _journal_rows(journal: dict[str, Any]) -> list[tuple[Any, str, str]]:
    rows: list[tuple[Any, str, str]] = []
    for activity in journal.get("activities", []) or []:
        if activity.get("type") == "probe" and activity.get("status") != "failed":
            continue
        rows.append(
            (
                activity.get("start"),
                "journal",
                f"{activity.get('type', 'activity')} {activity.get('name', '?')}: "
                f"{activity.get('status', '?')}",
            )
        )
    rows += [
        (r.get("start"), "journal", f"rollback {r.get('name', '?')}: {r.get('status', '?')}")
        for r in journal.get("rollbacks", []) or []
    ]
    return rows


def timeline(
    meta: dict[str, Any],
    journal: dict[str, Any] | None,
    faults: pd.DataFrame,
    incidents: pd.DataFrame,
    extra: list[tuple[float, str, str]],
) -> list[dict[str, Any]]:
    """Sorted timeline rows {t_s, at, source, event}; t_s is seconds after the run start."""
    start = float(meta["started_at"])
    rows: list[tuple[Any, str, str]] = [
        (start, "run", "run started"),
        (meta["ended_at"], "run", "run ended"),
    ]
    rows += _journal_rows(journal or {})
    rows += [(f.started_at, "faults", f"{f.kind} on {f.link} began") for f in faults.itertuples()]
    rows += [(f.ended_at, "faults", f"{f.kind} on {f.link} removed") if epoch(f.ended_at)
             else (meta["ended_at"], "faults",
                   f"{f.kind} on {f.link} was still in place when the run ended (never removed)")
             for f in faults.itertuples()]
    rows += [
        (i.at, "incidents", f"{i.component} {i.state}: {i.message}") for i in incidents.itertuples()
    ]
    rows += extra
    timed = sorted(
        ((t, s, e) for t0, s, e in rows if (t := epoch(t0)) is not None), key=lambda r: r[0]
    )
    return [
        {
            "t_s": round(t - start, 3),
            "at": datetime.fromtimestamp(t, UTC).isoformat(),
            "source": source,
            "event": event,
        }
        for t, source, event in timed[:TIMELINE_ROWS]
    ]


def _rel(t: float | None, start: float) -> str:
    return "never" if t is None or not np.isfinite(t) else f"T+{t - start:.0f} s"


def _steady(journal: dict[str, Any]) -> str:
    if "deviated" not in journal:
        return ""
    return "; the steady state " + ("deviated" if journal["deviated"] else "held")


def _summary(a: Analysis, journal: dict[str, Any]) -> str:
    h, run = a.metrics["headline"], a.run
    links = ", ".join(sorted(set(run.faults["link"]))) or "no link"
    rate = "n/a" if h["delay_rate"] is None else f"{h['delay_rate']:.1%}"
    steady = _steady(journal)
    return (
        f"{journal.get('title') or run.meta.get('scenario', run.run_id)}: {h['delayed']} of "
        f"{h['paid'] - h['undecided']} decided paid orders ({rate}) missed the {run.sla_s:g} s "
        f"SLA while {h['faults_injected']} fault(s) were injected ({links}). The drill "
        f"{journal.get('status', 'left no journal (chaos.json)')}{steady}."
    )


def _impact(a: Analysis) -> list[str]:
    h, tr = a.metrics["headline"], a.metrics["transparency"]
    never = int((a.out["delayed"] & ~a.out["delivered"]).sum())
    worst = "n/a" if h["ttd_max_s"] is None else f"{h['ttd_max_s']:.1f} s"
    return [
        f"{h['delayed']} paid orders missed the SLA; {never} of them never got their key.",
        f"Slowest delivery: {worst} after payment (p99 {_fmt(h['ttd_p99_s'])} s).",
        f"Buyers filed {tr['tickets']} support tickets.",
    ]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _trigger(a: Analysis) -> str:
    if a.run.faults.empty:
        return "No fault was injected."
    first = a.run.faults.sort_values("started_at").iloc[0]
    return (
        f"`{first['kind']}` on `{first['link']}` (attributes {first['attributes'] or '{}'}, "
        f"toxicity {first['toxicity']:g}) at {_rel(first['started_at'], a.run.started_at)}."
    )


def _detection(a: Analysis) -> tuple[str, float | None]:
    if a.run.faults.empty:
        return "Nothing to detect.", None
    if "incidents" in a.run.unobservable:
        return ("Not observable from outside: the shop's status page is not part of an "
                "outside run."), None
    first = int(a.run.faults["started_at"].to_numpy().argmin())
    delay = float(a.note_delays[first])
    if not np.isfinite(delay):
        return "The status page posted no incident after the first fault.", None
    return (
        f"The status page posted its first incident update {delay:.0f} s after the trigger.",
        delay,
    )


def _extra_events(a: Analysis, recovered: float | None) -> list[tuple[float, str, str]]:
    run, out = a.run, a.out
    rows = []
    late = (run.orders["paid_at"] + run.sla_s)[out["delayed"]]
    if len(late):
        rows.append((float(late.min()), "orders", "first order missed the SLA"))
    peak_s = a.metrics["over_time"]["peak_queue_depth_at_s"]
    if peak_s is not None:
        peak = a.metrics["over_time"]["peak_queue_depth"]
        rows.append((run.started_at + peak_s, "orders", f"queue depth peaked at {peak}"))
    if recovered is not None:
        rows.append((recovered, "orders", "queue back to its pre-fault depth"))
    return rows


def _lessons(a: Analysis, journal: dict[str, Any]) -> tuple[list[str], list[str]]:
    slos = a.run.meta.get("slos") or []
    well = [
        f"SLO {s.get('name')} held ({s.get('observed')} vs {s.get('target')})."
        for s in slos
        if s.get("passed") is True
    ]
    wrong = [
        f"SLO {s.get('name')} breached ({s.get('observed')} vs {s.get('target')})."
        for s in slos
        if s.get("passed") is False
    ]
    if "deviated" in journal:
        verdict = "deviated after the method" if journal["deviated"] else "held"
        (wrong if journal["deviated"] else well).append(f"The steady state {verdict}.")
    return well, wrong


def postmortem(a: Analysis) -> Postmortem:
    """The postmortem of one analysed run."""
    run, journal = a.run, a.run.journal or {}
    recovered = recovered_at(a.queue, run.faults)
    detection, detection_s = _detection(a)
    items = action_items(
        run.orders,
        a.out,
        a.intervals,
        run.faults,
        a.note_delays,
        a.metrics["transparency"],
        run.sla_s,
    )
    well, wrong = _lessons(a, journal)
    trigger_s = None if run.faults.empty else float(run.faults["started_at"].min() - run.started_at)
    last_end = run.faults["ended_at"].max() if not run.faults.empty else None
    resolution = (
        f"The last fault was removed at {_rel(last_end, run.started_at)}; the queue of "
        f"paid orders returned to its pre-fault depth at {_rel(recovered, run.started_at)}."
        if not run.faults.empty
        else "No fault to remove."
    )
    return Postmortem(
        title=str(journal.get("title") or run.meta.get("scenario") or run.run_id),
        summary=_summary(a, journal),
        impact=_impact(a),
        trigger=_trigger(a),
        detection=detection,
        resolution=resolution,
        timeline=timeline(
            run.meta, run.journal, run.faults, run.incidents, _extra_events(a, recovered)
        ),
        action_items=items,
        went_well=well,
        went_wrong=wrong,
        facts={
            "status": journal.get("status"),
            "deviated": journal.get("deviated"),
            "trigger_s": trigger_s,
            "detection_s": detection_s,
            "recovered_s": None if recovered is None else recovered - run.started_at,
            "action_items": [{"kind": i.kind, "text": i.text} for i in items],
        },
    )
