"""The orders a seeded drill will send, worked out beforehand (pure).

A drill's load is not noise to be redrawn: ``scenarios/locust/dispatcher.py`` runs a seeded
schedule (``scenarios/locust/arrivals.py``), so every drill of a scenario with the same seed
sends the same visitors at the same offsets, with the same personas, products, patience and
choice of live stream. This module repeats that computation with the standard library's
``random`` exactly as the dispatcher and the journeys (``scenarios/locust/journeys.py``) do —
``simulate`` may not import ``scenarios`` (docs/architecture.md), and
``tests/simulate/test_schedule.py`` checks it against them:

- generator ``index`` of ``generators`` uses seed ``scenario.seed · 1009 + index`` and a share
  1/generators of the rate; arrivals: Lewis–Shedler thinning with ``random.Random(seed)``;
- persona: ``random.Random(seed + 1).choices`` over the persona weights, then the journey's own
  ``random.Random(getrandbits(32))``;
- in the journey: the product (``choices`` over ``buyers.products``), then — for a paying
  persona — the patience (``uniform(*patience_s)``) and, for every persona but ``impatient``,
  whether it watches a live stream (``random() < sse_share``).

The drill's own clock adds what no schedule knows: the HTTP round trip before the shop creates
the order (milliseconds), and journeys dropped when ``max_journeys`` are in flight (none in the
catalog's drills).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from fakalab.contract.scenario import Scenario

__all__ = ["ORDERING", "PAYING", "DrillOrders", "drill_orders"]

ORDERING = ("buyer", "impatient", "double_payer", "abandoner")
PAYING = ("buyer", "impatient", "double_payer")


@dataclass(frozen=True)
class DrillOrders:
    """One entry per order the drill's visitors place, in creation order."""

    created_at: list[float]
    persona: list[str]
    product: list[str]
    patience_s: list[float]  # NaN for a persona that never pays
    sse: list[bool]
    visitors: int


def _arrivals(scenario: Scenario, duration_s: float, seed: int, share: float) -> list[float]:
    """``scenarios.locust.arrivals.arrival_times``."""
    shape = scenario.load.shape
    rng = random.Random(seed)
    peak = shape.peak() * share
    out: list[float] = []
    if peak <= 0:
        return out
    t = 0.0
    while True:
        t += rng.expovariate(peak)
        if t >= duration_s:
            return out
        if rng.random() * peak < shape.rate(t) * share:
            out.append(t)


def drill_orders(
    scenario: Scenario, *, duration_s: float | None = None, generators: int = 1
) -> DrillOrders:
    """The orders ``fakalab drill SCENARIO [--duration D] [--generators N]`` will place."""
    duration = float(scenario.duration if duration_s is None else duration_s)
    mix = scenario.load.personas.model_dump()
    names = [name for name, weight in mix.items() if weight > 0]
    weights = [mix[name] for name in names]
    behaviour = scenario.load.buyers
    products = list(behaviour.products)
    product_weights = list(behaviour.products.values())
    rows: list[tuple[float, str, str, float, bool]] = []
    visitors = 0
    for index in range(generators):
        seed = scenario.seed * 1009 + index
        picks = random.Random(seed + 1)
        for offset in _arrivals(scenario, duration, seed, 1.0 / generators):
            visitors += 1
            persona = picks.choices(names, weights)[0]
            journey = random.Random(picks.getrandbits(32))
            if persona == "browser":
                continue
            product = journey.choices(products, product_weights)[0]
            patience, sse = float("nan"), False
            if persona in PAYING:
                low, high = behaviour.patience_s
                patience = journey.uniform(low, high)
                sse = persona != "impatient" and journey.random() < behaviour.sse_share
            rows.append((offset, persona, product, patience, sse))
    rows.sort(key=lambda row: row[0])
    return DrillOrders(
        created_at=[r[0] for r in rows],
        persona=[r[1] for r in rows],
        product=[r[2] for r in rows],
        patience_s=[r[3] for r in rows],
        sse=[r[4] for r in rows],
        visitors=visitors,
    )
