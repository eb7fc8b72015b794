"""A scenario file as a pipeline model of the reference shop (pure).

Everything comes from the scenario, the shop's own settings model
(``fakalab.contract.shop_settings.ShopSettings``: every setting the scenario leaves out takes the
shop's default) and a calibration measured on other drills (``simulate.shop_calibration``):

- **Orders**: by default the very orders the seeded drill will place (``simulate.schedule``:
  times, personas, products, patience, live stream or polling); ``arrivals="poisson"`` draws
  a new realisation of the same load for every seed instead. ``duration_s`` is the drill's
  ``--duration``; ``orders=N`` runs the scenario's load and faults back to back (period: the
  scenario's duration) until N orders were created (Poisson).
- **Products → lanes and kinds** (``simulate.products``): one priority class per priority of the
  scenario's products, each with its share of supplier products; an order that has waited
  ``lane_max_wait()`` (``lane_max_wait_s``, default ``sla_s``/3) is served before the lanes
  above it, as the shop's ``WorkQueue`` does.
- **Stages**, as ``reference_shop/fulfilment.py`` runs them, each a write on the shop's CPU
  (``Cpu``) then a call: ``risk_check`` (the worker's read and first write; the risk service),
  ``allocation`` (a write; supplier A, then B with failover, for supplier products),
  ``delivery`` (a write; delivered), ``commit`` (the delivered write; does not block delivery).
  Risk check and allocation hold an order that fails transiently (``hold_s``, ``hold_retry_s``).
- **Upstreams**: ``upstream_timeout_s``, ``retries``, ``backoff_base_s``, ``backoff_max_s``,
  ``circuit_breaker``, ``breaker_threshold``, ``breaker_cooldown_s``.
- **Payments** the shop's way (``simulate.channels``): ``failover``, ``slow_upstream_ms``,
  ``reconciliation``, ``reconcile_after_paid_s``, ``reconcile_interval_s``.
- **Delay risk** acted on (``delay_risk: act``, ``risk_model``, ``risk_act_at``):
  ``simulate.delay_risk``.
- **Faults**: ``simulate.fault_map``; the providers' announcements of them are heard with
  ``provider_signals`` (``simulate.announcements``).
- **Admission** before payment (``simulate.door``): ``admission``, ``admission_budget()``,
  ``order_ttl_s``; refused buyers as the personas (``busy_retries``, ``busy_give_up``,
  ``max_wait_s``).
- **Buyers**: ``think_s``, ``impatient_refresh_s``, ``sse_share``, ``patience_s``,
  ``max_wait_s``; the ETA as the shop computes it (``eta_floor_s``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal

import numpy as np

from fakalab.contract.delay_risk import FEATURES, SHIPPED_MODEL, load_model
from fakalab.contract.scenario import Scenario
from fakalab.contract.shop_settings import ShopSettings
from fakalab.simulate.dists import Dist
from fakalab.simulate.fault_map import Mapped, map_faults
from fakalab.simulate.params import (
    Admission,
    Buyer,
    Channel,
    Cpu,
    LoadShape,
    Payment,
    PipelineModel,
    PriorityClass,
    RiskActing,
    Stage,
    Trace,
    Upstream,
)
from fakalab.simulate.products import PRODUCTS
from fakalab.simulate.schedule import ORDERING, PAYING, drill_orders
from fakalab.simulate.shop_calibration import ShopCalibration

__all__ = ["CALIBRATION", "DRAIN_LIMIT_S", "Arrivals", "load_calibration", "polls_per_watcher",
           "scenario_model", "shop_settings"]

CALIBRATION = Path(__file__).parent / "calibration" / "shop.json"
DRAIN_LIMIT_S = 20.0  # the drill waits at most min(sla_s, 20 s) for orders in flight
Arrivals = Literal["drill", "poisson"]


def load_calibration(path: Path = CALIBRATION) -> ShopCalibration:
    return ShopCalibration.model_validate(json.loads(path.read_text(encoding="utf-8")))


def shop_settings(scenario: Scenario) -> ShopSettings:
    """The shop's settings for the scenario: its own, and the shop's defaults for the rest
    (validated without reading the environment)."""
    return ShopSettings.model_validate(dict(scenario.shop))


def _empirical(values: tuple[float, ...]) -> Dist:
    return Dist(kind="empirical", values=values)


def _lanes(scenario: Scenario) -> tuple[list[int], dict[str, int]]:
    """The priorities of the scenario's products (most urgent first), and each product's lane."""
    unknown = sorted(set(scenario.load.buyers.products) - set(PRODUCTS))
    if unknown:
        raise ValueError(f"scenario {scenario.name!r}: unknown products {unknown} (the shop "
                         f"sells {sorted(PRODUCTS)})")
    priorities = sorted({PRODUCTS[p].priority for p in scenario.load.buyers.products})
    return priorities, {p: priorities.index(PRODUCTS[p].priority)
                        for p in scenario.load.buyers.products}


def _classes(scenario: Scenario) -> tuple[PriorityClass, ...]:
    priorities, lane = _lanes(scenario)
    weights = {p: w for p, w in scenario.load.buyers.products.items() if w > 0}
    total = sum(weights.values())
    out = []
    for k, priority in enumerate(priorities):
        mine = {p: w for p, w in weights.items() if lane[p] == k}
        share = sum(mine.values()) / total
        supplier = sum(w for p, w in mine.items() if PRODUCTS[p].kind == "supplier")
        out.append(PriorityClass(name=f"priority {priority}", share=share,
                                 supplier_share=supplier / sum(mine.values()) if mine else 0))
    return tuple(out)


def polls_per_watcher(scenario: Scenario) -> float:
    """Looks per second of a buyer waiting for delivery, averaged over the paying personas:
    ``impatient`` every ``impatient_refresh_s``, the others every ``think_s`` (on average)
    unless they watch a live stream (``sse_share``; a keep-alive every 5 s)."""
    weights = scenario.load.personas.model_dump()
    behaviour = scenario.load.buyers
    paying = sum(weights[p] for p in PAYING)
    if paying <= 0:
        return 0.0
    impatient = weights["impatient"] / paying
    polling = (1 - behaviour.sse_share) / behaviour.think_s + behaviour.sse_share / 5.0
    return impatient / behaviour.impatient_refresh_s + (1 - impatient) * polling


def _poll_mix(scenario: Scenario) -> tuple[tuple[float, float], ...]:
    weights = scenario.load.personas.model_dump()
    behaviour = scenario.load.buyers
    paying = sum(weights[p] for p in PAYING)
    if paying <= 0:
        return ()
    impatient = weights["impatient"] / paying
    return (
        (impatient, behaviour.impatient_refresh_s),
        ((1 - impatient) * behaviour.sse_share, 0.0),
        ((1 - impatient) * (1 - behaviour.sse_share), behaviour.think_s),
    )


def _shape(scenario: Scenario, duration: float, share: float, step_s: float = 1.0) -> LoadShape:
    times = np.arange(0.0, duration + step_s, step_s)
    rates = [scenario.load.shape.rate(float(t)) * share for t in times]
    if max(rates) <= 0:
        raise ValueError(f"scenario {scenario.name!r}: no buyer ever orders")
    return LoadShape(points=tuple((float(t), float(r)) for t, r in zip(times, rates, strict=True)))


def _in_outage(t: float, outages: list[tuple[float, float]]) -> bool:
    return any(start <= t < end for start, end in outages)


def _trace(scenario: Scenario, duration: float, outages: list[tuple[float, float]],
           generators: int = 1) -> Trace:
    """The drill's orders; those whose visitor came while the shop was down are never placed."""
    drill = drill_orders(scenario, duration_s=duration, generators=generators)
    _, lane = _lanes(scenario)
    behaviour = scenario.load.buyers
    rows = [k for k, t in enumerate(drill.created_at) if not _in_outage(t, outages)]

    def poll(k: int) -> float:
        if drill.persona[k] == "impatient":
            return behaviour.impatient_refresh_s
        return 0.0 if drill.sse[k] else behaviour.think_s

    return Trace(
        created_at=tuple(drill.created_at[k] for k in rows),
        cls=tuple(lane[drill.product[k]] for k in rows),
        supplier=tuple(PRODUCTS[drill.product[k]].kind == "supplier" for k in rows),
        pays=tuple(drill.persona[k] in PAYING for k in rows),
        patience_s=tuple(0.0 if math.isnan(drill.patience_s[k]) else drill.patience_s[k]
                         for k in rows),
        poll_s=tuple(poll(k) for k in rows),
    )


def _upstreams(cal: ShopCalibration, s: ShopSettings) -> tuple[Upstream, ...]:
    common = {
        "timeout_s": s.upstream_timeout_s,
        "retries": s.retries,
        "backoff_base_s": s.backoff_base_s,
        "backoff_max_s": s.backoff_max_s,
        "breaker": s.circuit_breaker,
        "breaker_threshold": s.breaker_threshold,
        "breaker_cooldown_s": s.breaker_cooldown_s,
    }
    risk, supplier = _empirical(cal.risk_call_s), _empirical(cal.supplier_call_s)
    channel = Dist.const(0.003)  # the pay time measured from the order's creation includes it
    return (
        Upstream(name="risk", latency=risk, **common),
        Upstream(name="supplier-a", latency=supplier, **common),
        Upstream(name="supplier-b", latency=supplier, **common),
        Upstream(name="payment-a", latency=channel, **common),
        Upstream(name="payment-b", latency=channel, **common),
    )


def _stages(cal: ShopCalibration, s: ShopSettings) -> tuple[Stage, ...]:
    shop_way = {"timeout_s": None, "attempts": 1}
    suppliers = ("supplier-a", "supplier-b") if s.failover else ("supplier-a",)
    return (
        Stage(name="risk_check", service=_empirical(cal.pickup_s), upstreams=("risk",),
              holds=True, **shop_way),
        Stage(name="allocation", service=_empirical(cal.write_s), upstreams=suppliers,
              call_for="supplier", failover_on_breaker=s.failover, holds=True, **shop_way),
        Stage(name="delivery", service=_empirical(cal.delivery_s), **shop_way),
        Stage(name="commit", service=_empirical(cal.write_s), blocks_delivery=False,
              **shop_way),
    )


def _repeat(mapped: Mapped, period: float, times: int) -> Mapped:
    """The faults of one period, in each of ``times`` periods."""
    out = Mapped(notes=list(mapped.notes), ignored=list(mapped.ignored))
    for k in range(times):
        shift = k * period
        out.upstream_faults += [f.model_copy(update={"start_s": f.start_s + shift,
                                                     "end_s": f.end_s + shift})
                                for f in mapped.upstream_faults]
        out.channel_faults += [f.model_copy(update={"start_s": f.start_s + shift,
                                                    "end_s": f.end_s + shift})
                               for f in mapped.channel_faults]
        out.outages += [(a + shift, b + shift) for a, b in mapped.outages]
        out.announcements += [a.model_copy(update={"start_s": a.start_s + shift,
                                                   "end_s": a.end_s + shift})
                              for a in mapped.announcements]
    return out


def scenario_model(
    scenario: Scenario,
    *,
    orders: int | None = None,
    duration_s: float | None = None,
    calibration: ShopCalibration | None = None,
    arrivals: Arrivals = "drill",
    generators: int = 1,
) -> tuple[PipelineModel, list[str]]:
    """The scenario as a model, and a line for each fault saying what it became (or why it
    changes nothing). ``orders`` and ``duration_s`` are exclusive."""
    if orders is not None and duration_s is not None:
        raise ValueError("give --orders or --duration, not both")
    cal = calibration or load_calibration()
    s = shop_settings(scenario)
    duration = float(scenario.duration if duration_s is None else duration_s)
    mapped = map_faults(scenario, timeout_s=s.upstream_timeout_s)
    weights = scenario.load.personas.model_dump()
    ordering = sum(weights[p] for p in ORDERING)
    paying = sum(weights[p] for p in PAYING)
    visitors = sum(weights.values())
    shape = _shape(scenario, duration, ordering / visitors)
    trace = None
    horizon: float | None = duration + min(scenario.sla_s, DRAIN_LIMIT_S)
    if orders is not None:
        per_period = float(np.trapezoid([r for _, r in shape.points],
                                        [t for t, _ in shape.points]))
        periods = max(1, math.ceil(1.5 * orders / max(per_period, 1e-9)) + 1)
        mapped = _repeat(mapped, duration, periods)
        last = (periods * duration, shape.points[-1][1])
        shape = LoadShape(points=(*((t + k * duration, r) for k in range(periods)
                                    for t, r in shape.points if t < duration), last))
        horizon = None
    elif arrivals == "drill":
        trace = _trace(scenario, duration, mapped.outages, generators)
    behaviour = scenario.load.buyers
    write = cal.write_mean_s
    callback = _empirical(cal.callback_s)
    model = PipelineModel(
        arrivals=shape,
        trace=trace,
        orders=orders,
        duration_s=None if orders is not None else duration,
        horizon_s=horizon,
        workers=s.workers,
        hold_s=s.hold_s,
        hold_retry_s=s.hold_retry_s,
        stages=_stages(cal, s),
        payment=Payment(
            pay_time=_empirical(cal.pay_time_s),
            pay_prob=1.0 if trace is not None else (paying / ordering if ordering else 0.0),
            channels=(Channel(name="payment-a", callback_delay=callback),
                      Channel(name="payment-b", callback_delay=callback)),
            failover=s.failover,
            reconciliation=s.reconciliation,
            reconcile_after_s=s.reconcile_after_paid_s,
            reconcile_interval_s=s.reconcile_interval_s,
            reconcile_latency=_empirical(cal.write_s),
            provider_retry_s=None,
            failover_rule="shop",
            slow_ms=s.slow_upstream_ms,
        ),
        classes=_classes(scenario),
        priority_lanes=s.priority_lanes,
        lane_max_wait_s=s.lane_max_wait() if s.priority_lanes else None,
        admission=Admission(budget_s=s.admission_budget(), busy_retries=behaviour.busy_retries,
                            busy_give_up=behaviour.busy_give_up,
                            max_wait_s=behaviour.max_wait_s,
                            order_ttl_s=s.order_ttl_s) if s.admission else None,
        faults=tuple(mapped.channel_faults),
        upstreams=_upstreams(cal, s),
        upstream_faults=tuple(mapped.upstream_faults),
        announcements=tuple(mapped.announcements) if s.provider_signals else (),
        cpu=Cpu(
            per_created_s=cal.per_created_writes * write,
            per_delivery_s=cal.per_delivery_writes * write,
            per_poll_s=cal.per_poll_s,
            polls_per_watcher=polls_per_watcher(scenario),
            per_waiting_s=cal.per_waiting_s,
            outages=tuple(mapped.outages),
        ),
        buyer=Buyer(
            transparency=s.transparency.value,
            patience=Dist(kind="uniform", low=behaviour.patience_s[0],
                          high=behaviour.patience_s[1]),
            max_wait_s=behaviour.max_wait_s,
            poll_s=behaviour.think_s,
            poll_mix=() if trace is not None else _poll_mix(scenario),
            eta="shop",
            eta_floor_s=s.eta_floor_s,
        ),
        sla_s=scenario.sla_s,
        window_s=10.0,
    )
    acting, risk_notes = _risk_acting(s)
    model = model.model_copy(update={"risk_acting": acting})
    unheard = ([f"no effect: {len(mapped.announcements)} announcement(s) unheard: "
                "provider_signals is off"] if mapped.announcements and not s.provider_signals
               else [])
    return model, (mapped.notes + risk_notes + [f"no effect: {line}" for line in mapped.ignored]
                   + unheard)


def _risk_acting(s: ShopSettings) -> tuple[RiskActing | None, list[str]]:
    """The shop's delay-risk model when it acts on it (``delay_risk: act``; ModelError when
    the file cannot be used), and what the forecast follows of it."""
    if s.delay_risk != "act":
        return None, []
    path = Path(s.risk_model) if s.risk_model else SHIPPED_MODEL
    linear = load_model(path).model
    notes = [f"delay_risk act ({path.name}): at-risk orders served first, supplier B first "
             f"when an order's risk through A is at least {s.risk_act_at:g} and lower through "
             "B; the warning before payment changes no delay"]
    if any(c for f, c in zip(FEATURES, linear.coefs, strict=True) if f.startswith("channel_")):
        notes.append("not followed: steering between payment channels (the model weighs "
                     "channel health; the forecast keeps channel A first)")
    return RiskActing(means=linear.means, scales=linear.scales, coefs=linear.coefs,
                      intercept=linear.intercept, act_at=s.risk_act_at,
                      source=str(path)), notes

