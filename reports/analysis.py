"""One run analysed: every derived table and the metrics of `metrics.json`, computed once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fakalab.reports import metrics as m
from fakalab.reports.admission import admission
from fakalab.reports.model import model_frame, model_metrics
from fakalab.reports.repeatability import repeatability
from fakalab.reports.rundir import Run
from fakalab.reports.traces import trace_time
from fakalab.reports.transparency import (
    eta_outcomes,
    incident_note_delays,
    transparency,
    vacuum_per_order,
)

__all__ = ["Analysis", "analyze"]


@dataclass(frozen=True)
class Analysis:
    run: Run
    out: pd.DataFrame  # per order outcomes (metrics.outcomes)
    queue: m.Queue  # paid, not delivered, over time
    windows: pd.DataFrame  # metrics.window_frame
    intervals: pd.DataFrame  # metrics.stage_intervals
    vacuum: pd.Series  # per delayed order, seconds
    etas: pd.DataFrame  # transparency.eta_outcomes
    note_delays: np.ndarray  # per fault, seconds (NaN: no note)
    model: pd.DataFrame | None  # model.model_frame
    metrics: dict[str, Any]


def _run_facts(run: Run) -> dict[str, Any]:
    meta = run.meta
    return {
        "run_id": run.run_id,
        "scenario": meta.get("scenario"),
        "variant": meta.get("variant"),
        "seed": meta.get("seed"),
        "format_version": meta.get("format_version"),
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "duration_s": run.ended_at - run.started_at,
        "sla_s": run.sla_s,
        "transparency": (meta.get("shop") or {}).get("transparency"),
        "valid": meta.get("valid"),
        "warnings": list(run.warnings),
        "view": run.view,
        "not_observable": sorted(_hidden(run)),
    }


# What an outside run cannot see -> the metrics that would otherwise read as zero.
HIDDEN_BY = {
    "incidents": ("transparency.faults_with_incident_note",
                  "transparency.incident_note_delay_p50_s", "faults[].incident_note_delay_s"),
    "priority": ("by_priority",),
}


def _hidden(run: Run) -> set[str]:
    return {key for what in run.unobservable for key in HIDDEN_BY.get(what, ())}


def _blank(metrics: dict[str, Any], hidden: set[str]) -> dict[str, Any]:
    """The metrics a run could not see, as null (an empty list for a table), never as zero."""
    for key in hidden:
        if key == "by_priority":
            metrics["by_priority"] = []
        elif key == "faults[].incident_note_delay_s":
            metrics["faults"] = [{**f, "incident_note_delay_s": None} for f in metrics["faults"]]
        else:
            section, _, name = key.partition(".")
            metrics[section][name] = None
    return metrics


def _faults(run: Run, note_delays: np.ndarray) -> list[dict[str, Any]]:
    f = run.faults
    return [
        {
            "fault_id": fid,
            "link": link,
            "kind": kind,
            "toxicity": tox,
            "start_s": start - run.started_at,
            "end_s": end - run.started_at,
            "incident_note_delay_s": delay,
        }
        for fid, link, kind, tox, start, end, delay in zip(
            f["fault_id"],
            f["link"],
            f["kind"],
            f["toxicity"],
            f["started_at"],
            f["ended_at"],
            note_delays,
            strict=True,
        )
    ]


def analyze(run: Run, window_s: float | None = None) -> Analysis:
    """Compute every metric of one run; `window_s` overrides the automatic window width."""
    out = m.outcomes(run.orders, run.sla_s, run.ended_at)
    width = float(window_s or m.window_width(run.ended_at - run.started_at))
    queue = m.queue_steps(run.orders)
    windows = m.window_frame(run.orders, out, queue, run.started_at, run.ended_at, width)
    intervals = m.stage_intervals(run.events, run.ended_at)
    vacuum = vacuum_per_order(run.polls, out["delayed"].to_numpy())
    etas = eta_outcomes(run.orders, run.polls, run.ended_at)
    notes = incident_note_delays(run.faults, run.incidents)
    model = None
    if run.simulation is not None:
        model = model_frame(run.simulation.windows, run.orders, out, run.started_at)
    metrics = {
        "run": _run_facts(run),
        "headline": m.headline(out, run.faults, run.meta.get("slos") or []),
        "slos": list(run.meta.get("slos") or []),
        "over_time": m.over_time(queue, windows, run.started_at, width),
        "stages": m.stages(intervals),
        "by_priority": m.by_class(run.orders, out, "priority"),
        "by_channel": m.by_class(run.orders, out, "channel"),
        "admission": admission(run.attempts, out, run.started_at, run.ended_at),
        "repeatability": None,
        "trace_time": trace_time(run.spans),
        "transparency": transparency(run.orders, out, run.polls, run.tickets, notes, vacuum, etas),
        "faults": _faults(run, notes),
        "model": None
        if model is None
        else model_metrics(model, run.simulation.summary if run.simulation else {}),
    }
    headline = metrics["headline"]
    assert isinstance(headline, dict)
    metrics["repeatability"] = repeatability(str(run.meta.get("scenario")), headline)
    metrics = _blank(metrics, _hidden(run))
    return Analysis(run, out, queue, windows, intervals, vacuum, etas, notes, model, metrics)
