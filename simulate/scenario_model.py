"""A scenario file as a pipeline model (pure): load shape, personas, shop settings, drill faults.

Stage service times, the callback delay and the buyer's pay time come from a calibration
measured on a drill (``simulate/calibration/defaults.json``, see docs/simulation.md), not from
invented values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from fakalab.contract.scenario import Scenario
from fakalab.simulate.calibrate import Calibration
from fakalab.simulate.dists import Dist
from fakalab.simulate.params import (
    HOLDING_STAGES,
    Buyer,
    Channel,
    Fault,
    LoadShape,
    Payment,
    PipelineModel,
    Stage,
)

__all__ = ["DEFAULTS", "fault_windows", "load_defaults", "scenario_model"]

DEFAULTS = Path(__file__).parent / "calibration" / "defaults.json"
_TARGETS = {
    "risk": "risk_check",
    "supplier-a": "allocation",
    "supplier-b": "allocation",
    "payment-a": "payment-a",
    "payment-b": "payment-b",
}
_ORDERING = ("buyer", "impatient", "double_payer", "abandoner")
_PAYING = ("buyer", "impatient", "double_payer")


def load_defaults(path: Path = DEFAULTS) -> Calibration:
    return Calibration.model_validate(json.loads(path.read_text(encoding="utf-8")))


def _shape(scenario: Scenario, share: float, step_s: float = 1.0) -> LoadShape:
    times = np.arange(0.0, scenario.duration + step_s, step_s)
    rates = [scenario.load.shape.rate(float(t)) * share for t in times]
    if max(rates) <= 0:
        raise ValueError(f"scenario {scenario.name!r}: no buyer ever orders")
    return LoadShape(points=tuple((float(t), float(r)) for t, r in zip(times, rates, strict=True)))


def _fault(target: str, start: float, end: float, action: Any, toxicity: float) -> Fault | None:
    if action.kind == "down" or action.type == "timeout":
        return Fault(target=target, start_s=start, end_s=end, failure_prob=toxicity)
    if action.kind == "toxic" and action.type == "latency":
        added = toxicity * action.attributes.get("latency", 0) / 1000
        return Fault(target=target, start_s=start, end_s=end, added_latency_s=added)
    drop = action.attributes.get("callback_drop_pct") if action.kind == "business" else None
    if drop is not None and target.startswith("payment"):
        return Fault(target=target, start_s=start, end_s=end, failure_prob=toxicity * drop / 100)
    return None


def fault_windows(scenario: Scenario) -> tuple[list[Fault], list[str]]:
    """The drill's faults as model fault windows, and the ones the model cannot express."""
    faults, skipped = [], []
    for spec in scenario.drill.faults if scenario.drill else []:
        target = _TARGETS.get(spec.link.split("->", 1)[1])
        start, end = float(spec.start), float(spec.start + spec.duration)
        fault = None if target is None else _fault(target, start, end, spec.fault, spec.toxicity)
        if fault is None:
            skipped.append(f"{spec.link} {spec.fault.kind} {spec.fault.type}".strip())
        else:
            faults.append(fault)
    return faults, skipped


def _stages(defaults: Calibration, shop: dict[str, Any]) -> tuple[Stage, ...]:
    retry = {
        "timeout_s": shop.get("upstream_timeout_s", 2.0),
        "attempts": shop.get("retries", 3),
        "backoff_s": shop.get("backoff_base_s", 0.1),
        "backoff_max_s": shop.get("backoff_max_s", 2.0),
    }
    stages = [
        Stage(
            name=name,
            service=Dist(kind="empirical", values=fitted.base),
            holds=name in HOLDING_STAGES,
            **retry,
        )
        for name, fitted in defaults.stages.items()
    ]
    delivery = defaults.stages["delivery"].base
    commit = Stage(
        name="commit",
        service=Dist(kind="empirical", values=delivery),
        timeout_s=None,
        attempts=1,
        blocks_delivery=False,
    )
    return (*stages, commit)


def scenario_model(
    scenario: Scenario, *, orders: int | None = None, defaults: Calibration | None = None
) -> tuple[PipelineModel, list[str]]:
    """The scenario as a model (``orders`` replaces its duration), and the faults left out."""
    defaults = defaults or load_defaults()
    weights = scenario.load.personas.model_dump()
    ordering = sum(weights[p] for p in _ORDERING)
    paying = sum(weights[p] for p in _PAYING)
    shop, buyers = scenario.shop, scenario.load.buyers
    callback = Dist(kind="empirical", values=defaults.callback.base)
    faults, skipped = fault_windows(scenario)
    model = PipelineModel(
        arrivals=_shape(scenario, ordering / sum(weights.values())),
        orders=orders,
        duration_s=None if orders else float(scenario.duration),
        workers=shop.get("workers", 4),
        hold_s=shop.get("hold_s", 120.0),
        hold_retry_s=shop.get("hold_retry_s", 1.0),
        stages=_stages(defaults, shop),
        payment=Payment(
            pay_time=Dist(kind="empirical", values=defaults.pay_time),
            pay_prob=paying / ordering if ordering else 0.0,
            channels=(
                Channel(name="payment-a", callback_delay=callback),
                Channel(name="payment-b", callback_delay=callback),
            ),
            failover=shop.get("failover", True),
            reconciliation=shop.get("reconciliation", True),
            reconcile_after_s=shop.get("reconcile_after_paid_s", 5.0),
        ),
        priority_lanes=shop.get("priority_lanes", True),
        faults=tuple(faults),
        buyer=Buyer(
            transparency=str(shop.get("transparency", "transparent")),  # type: ignore[arg-type]
            patience=Dist(kind="uniform", low=buyers.patience_s[0], high=buyers.patience_s[1]),
            max_wait_s=buyers.max_wait_s,
            poll_s=buyers.think_s,
        ),
        sla_s=scenario.sla_s,
        window_s=10.0,
    )
    return model, skipped
