"""SLO verdicts of a run (pure): delay rate, p95 paid→delivered, error rate, ticket rate.

Delay rate and p95 use the report's definitions (``reports.metrics.outcomes``), so the drill's
verdict and the report's headline never disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from fakalab.contract.rundir import buyer_paid_at
from fakalab.contract.scenario import Slos
from fakalab.reports.metrics import outcomes, percentile

__all__ = ["SloVerdict", "evaluate", "observed"]


@dataclass(frozen=True)
class SloVerdict:
    name: str
    target: str
    observed: float | None
    passed: bool | None  # None: nothing to judge (e.g. no paid order)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def observed(orders: pd.DataFrame, tickets: int, requests: int, failures: int, sla_s: float,
             ended_at: float) -> dict[str, float | None]:
    if "buyer_paid_at" in orders:  # the report's rule: the clock starts when the buyer paid
        orders = orders.assign(paid_at=buyer_paid_at(orders["paid_at"], orders["buyer_paid_at"]))
    out = outcomes(orders, sla_s, ended_at)
    decided = int(out["decided"].sum())
    paid = int(out["paid"].sum())
    return {
        "delay_rate": int(out["delayed"].sum()) / decided if decided else None,
        "p95_paid_to_delivered_s": percentile(out["ttd"].to_numpy(), 95),
        "error_rate": failures / requests if requests else None,
        "ticket_rate": tickets / paid if paid else None,
    }


def evaluate(slos: Slos, values: dict[str, float | None]) -> list[SloVerdict]:
    """One verdict per SLO the scenario sets (each is an upper bound)."""
    verdicts = []
    for name, bound in slos.model_dump().items():
        if bound is None:
            continue
        value = values.get(name)
        passed = None if value is None else value <= bound
        verdicts.append(SloVerdict(name, f"<= {bound:g}", value, passed))
    return verdicts
