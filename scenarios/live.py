"""The drill's live view (rich): elapsed/remaining, arrival rate, in-flight orders, late
deliveries so far, active faults. Figures come from the shop's /metrics and the generators'
arrival summaries; the pure part (:func:`snapshot`) is tested on its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from rich.table import Table

from fakalab.chaos.plan import Plan
from fakalab.contract.stages import IN_FLIGHT_STATES

__all__ = ["Snapshot", "render", "snapshot"]



@dataclass(frozen=True)
class Snapshot:
    elapsed_s: float
    duration_s: float
    arrivals: int
    dropped: int
    arrival_rate: float
    target_rate: float
    in_flight: int
    delivered: int | None  # None: not observable (an external target has no /metrics)
    late_share: float | None
    faults: list[str]


def metric_samples(text: str) -> tuple[dict[str, float], list[tuple[float, float]]]:
    states: dict[str, float] = {}
    buckets: list[tuple[float, float]] = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "fakalab_orders":
                states[s.labels["state"]] = s.value
            elif s.name == "fakalab_paid_to_delivered_seconds_bucket":
                buckets.append((float(s.labels["le"]), s.value))
    return states, sorted(buckets)


def late_share(buckets: list[tuple[float, float]], sla_s: float) -> float | None:
    """Share of deliveries later than the SLA (using the largest histogram bound <= SLA)."""
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    on_time = max((count for bound, count in buckets if bound <= sla_s), default=0.0)
    return (total - on_time) / total


def snapshot(elapsed_s: float, duration_s: float, metrics_text: str | None,
             summaries: list[dict[str, Any]], previous_arrivals: int, interval_s: float,
             target_rate: float, sla_s: float, plan: Plan | None) -> Snapshot:
    """`metrics_text` None: a shop seen from outside — orders in flight are the buyers'
    journeys in flight, deliveries are not known until the run directory is built."""
    states, buckets = metric_samples(metrics_text) if metrics_text else ({}, [])
    arrivals = sum(int(s.get("started", 0)) for s in summaries)
    active = [f"{f.id} {f.link} {f.fault.kind}" for f in (plan.faults if plan else [])
              if f.start <= elapsed_s < f.start + f.duration]
    in_flight = int(sum(states.get(s, 0.0) for s in IN_FLIGHT_STATES)) if metrics_text \
        is not None else sum(int(s.get("in_flight", 0)) for s in summaries)
    return Snapshot(
        elapsed_s, duration_s, arrivals, sum(int(s.get("dropped", 0)) for s in summaries),
        max(0.0, (arrivals - previous_arrivals) / interval_s) if interval_s > 0 else 0.0,
        target_rate, in_flight,
        int(states.get("delivered", 0.0)) if metrics_text is not None else None,
        late_share(buckets, sla_s), active)


def render(snap: Snapshot, title: str) -> Table:
    table = Table(title=title, show_header=False, min_width=60)
    remaining = max(0.0, snap.duration_s - snap.elapsed_s)
    table.add_row("elapsed / remaining", f"{snap.elapsed_s:5.0f} s / {remaining:5.0f} s")
    table.add_row("arrivals (target rate)", f"{snap.arrival_rate:5.1f}/s ({snap.target_rate:.1f}/s)"
                  f", {snap.arrivals} so far, {snap.dropped} dropped")
    table.add_row("orders in flight", str(snap.in_flight))
    late = "–" if snap.late_share is None else f"{snap.late_share:.1%}"
    if snap.delivered is None:
        table.add_row("delivered / late so far", "seen from outside: known after the run")
    else:
        table.add_row("delivered / late so far", f"{snap.delivered} / {late}")
    table.add_row("active faults", ", ".join(snap.faults) or "none")
    return table
