"""What `fakalab simulate TARGET` prints: a run directory's prediction against its measurement,
and a scenario's what-if sweep or capacity plan (tables and JSON documents; no I/O here)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import yaml
from rich.table import Table

from fakalab.simulate.capacity import CapacityPlan, Slo, at_peak, capacity, lever_effects
from fakalab.simulate.parallel import Progress
from fakalab.simulate.params import PipelineModel
from fakalab.simulate.stats import Estimate
from fakalab.simulate.whatif import aggregate, sweep, with_params

__all__ = [
    "ALIASES",
    "capacity_document",
    "capacity_table",
    "check_levers",
    "parse_what_ifs",
    "plan_capacity",
    "run_table",
    "sweep_document",
    "sweep_table",
    "what_if",
]

ALIASES = {
    "transparency": "buyer.transparency",
    "failover": "payment.failover",
    "reconciliation": "payment.reconciliation",
    "sla": "sla_s",
}
FIGURES = ("delay_rate", "p95_s", "tickets_per_100_delayed", "utilisation")


def parse_what_ifs(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["workers=4,6,8", "transparency=opaque"]`` → levers by dotted path (values are YAML)."""
    levers: dict[str, list[Any]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise ValueError(f"write --what-if as NAME=VALUE[,VALUE…], got {item!r}")
        path = ALIASES.get(name.strip(), name.strip())
        levers[path] = [yaml.safe_load(v.strip()) for v in values.split(",")]
    return levers


def check_levers(model: PipelineModel, levers: dict[str, list[Any]]) -> None:
    """Raise KeyError or ValueError, naming the lever, for a lever the model does not have."""
    for path, values in levers.items():
        for value in values:
            with_params(model, {path: value})


def what_if(
    model: PipelineModel,
    levers: dict[str, list[Any]],
    seeds: Sequence[int],
    progress: Progress | None = None,
) -> dict[str, list[tuple[dict[str, Any], Estimate]]]:
    """Each figure's mean and 95% interval over ``seeds`` for every lever combination."""
    check_levers(model, levers)
    points = sweep(model, levers or {"workers": [model.workers]}, seeds, progress=progress)
    return {name: aggregate(points, name) for name in FIGURES}


def _cell(estimate: Estimate, name: str) -> str:
    if math.isnan(estimate.mean):
        return "—"
    if name == "delay_rate":
        return f"{estimate.mean:.2%} [{estimate.lo:.2%}, {estimate.hi:.2%}]"
    return f"{estimate.mean:.3g} [{estimate.lo:.3g}, {estimate.hi:.3g}]"


def _label(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def sweep_table(results: dict[str, list[tuple[dict[str, Any], Estimate]]], title: str) -> Table:
    table = Table(title=title, caption="mean [95% interval] over seeds (common random numbers)")
    table.add_column("what if", justify="left")
    for name in FIGURES:
        table.add_column(name, justify="right")
    for k, (params, _) in enumerate(results["delay_rate"]):
        cells = [_cell(results[name][k][1], name) for name in FIGURES]
        table.add_row(_label(params) or "as given", *cells)
    return table


def _estimate(e: Estimate) -> dict[str, float | None]:
    def clean(v: float) -> float | None:
        return None if math.isnan(v) or math.isinf(v) else v

    return {"mean": clean(e.mean), "lo": clean(e.lo), "hi": clean(e.hi)}


def sweep_document(results: dict[str, list[tuple[dict[str, Any], Estimate]]]) -> list[Any]:
    return [
        {"params": params, **{name: _estimate(results[name][k][1]) for name in FIGURES}}
        for k, (params, _) in enumerate(results["delay_rate"])
    ]


def plan_capacity(
    model: PipelineModel, slo: Slo, seeds: Sequence[int], progress: Progress | None = None,
    *, hold_peak: bool = True,
) -> tuple[CapacityPlan, list[tuple[dict[str, Any], Estimate]]]:
    """The smallest worker count meeting the SLO at the peak (``hold_peak``: held for the whole
    run; else the load shape as written), then each other lever's effect at that count (or at
    the largest count tried when none met it)."""
    plan = capacity(model, slo, seeds=seeds, max_workers=256, progress=progress,
                    hold_peak=hold_peak)
    workers = plan.workers or max(plan.tried)
    levers: dict[str, Sequence[object]] = {
        "priority_lanes": [not model.priority_lanes],
        "payment.failover": [not model.payment.failover],
        "payment.reconciliation": [not model.payment.reconciliation],
    }
    if workers > 1:
        levers["workers"] = [workers - 1]
    return plan, lever_effects(model, workers, slo, levers, seeds=seeds, hold_peak=hold_peak)


def capacity_table(plan: CapacityPlan, effects: list[tuple[dict[str, Any], Estimate]]) -> Table:
    answer = "not met up to 256" if plan.workers is None else f"{plan.workers} workers"
    door = "; every order admitted (the door would refuse instead of delaying)" \
        if plan.door_off else ""
    table = Table(
        title=f"capacity for {plan.slo} " + (
            f"at the peak ({plan.peak_rate:g} orders/s, held): " if plan.held_peak
            else f"over the load shape (peak {plan.peak_rate:g} orders/s): ") + answer,
        caption="mean [95% interval] over seeds; the SLO counts as met when the interval does"
        + door,
    )
    for column in ("workers / lever", plan.slo.metric, "meets SLO"):
        table.add_column(column, justify="right")
    for workers, estimate in plan.tried.items():
        met = plan.slo.met_by(estimate)
        table.add_row(f"{workers}", _cell(estimate, plan.slo.metric), "yes" if met else "no")
    for params, estimate in effects:
        met = plan.slo.met_by(estimate)
        label = _label(params)
        table.add_row(f"→ {label}", _cell(estimate, plan.slo.metric), "yes" if met else "no")
    return table


def capacity_document(
    plan: CapacityPlan, effects: list[tuple[dict[str, Any], Estimate]], model: PipelineModel
) -> dict[str, Any]:
    return {
        "slo": str(plan.slo),
        "peak_rate": plan.peak_rate,
        "peak_offered_load_per_worker": at_peak(model).job_mean_s * plan.peak_rate,
        "workers": plan.workers,
        "every_order_admitted": True,
        "peak_held": plan.held_peak,
        "tried": {str(w): _estimate(e) for w, e in plan.tried.items()},
        "levers": [{"params": p, plan.slo.metric: _estimate(e)} for p, e in effects],
    }


def run_table(summary: dict[str, Any]) -> Table:
    """Predicted against measured, overall."""
    table = Table(title=f"{summary['run_id']}: replayed with seeds {summary['seeds']}")
    for column in ("figure", "predicted", "95% CI (seeds)", "measured", "error"):
        table.add_column(column, justify="right")
    p, m, e = summary["predicted"], summary["measured"], summary["error"]

    def fmt(v: float | None, pct: bool) -> str:
        return "—" if v is None else (f"{v:.2%}" if pct else f"{v:.3f} s")

    def ci(v: list[float] | None, pct: bool) -> str:
        return "—" if v is None else f"[{fmt(v[0], pct)}, {fmt(v[1], pct)}]"

    pp = e["delay_rate_pp"]
    table.add_row(
        "delay rate",
        fmt(p["delay_rate"], True),
        ci(p["delay_rate_ci"], True),
        fmt(m["delay_rate"], True),
        "—" if pp is None else f"{pp:+.2f} pp",
    )
    pct = e["p95_pct"]
    table.add_row(
        "p95 paid → delivered",
        fmt(p["p95_s"], False),
        ci(p["p95_s_ci"], False),
        fmt(m["p95_s"], False),
        "—" if pct is None else f"{pct:+.1f}%",
    )
    return table
