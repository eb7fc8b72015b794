"""The shop acting on its delay-risk score, in the model (simulate/delay_risk.py)."""

import numpy as np
import pytest
import simpy

from fakalab.contract.delay_risk import FEATURES, SHIPPED_MODEL, load_model
from fakalab.contract.scenario import load_scenario
from fakalab.simulate.calls import Calls
from fakalab.simulate.delay_risk import ActingRisk
from fakalab.simulate.dists import Dist
from fakalab.simulate.forecast import figures_of
from fakalab.simulate.lanes import HeapQueue
from fakalab.simulate.model import run
from fakalab.simulate.params import RiskActing, Upstream, UpstreamFault
from fakalab.simulate.scenario_model import scenario_model

NAMES = ("risk", "supplier-a", "supplier-b")


def _weights(**per_unit: float) -> RiskActing:
    """A model whose score is sigmoid(-3 + Σ per_unit[f] · f) (scales 1, means 0)."""
    coefs = tuple(per_unit.get(f, 0.0) for f in FEATURES)
    n = len(FEATURES)
    return RiskActing(means=(0.0,) * n, scales=(1.0,) * n, coefs=coefs, intercept=-3.0)


def _risk(params: RiskActing, faults=(), workers: int = 2) -> ActingRisk:  # type: ignore[no-untyped-def]
    ups = [Upstream(name=n, latency=Dist.const(0.01)) for n in NAMES]
    calls = Calls(ups, list(faults), {n: np.random.default_rng(k) for k, n in enumerate(NAMES)},
                  track_health=NAMES)
    return ActingRisk(params, sla_s=30.0, workers=workers, calls=calls, priority=[1, 0],
                      supplier=[True, False], paid_clock=[10.0, 10.0])


def test_the_features_are_the_shops_in_its_order() -> None:
    slow = [UpstreamFault(target="supplier-a", start_s=0, end_s=100, added_latency_s=0.49)]
    risk = _risk(_weights(), slow)
    risk.depth, risk.busy = (lambda: 6), (lambda: 1)
    for k in range(5):  # five allocations: the supplier's window has five 0.5 s calls
        risk.calls.call("supplier-a", 10.0 + k)
        risk.delivered(10.0 + k, 10.2 + k, 11.0 + k)
    values = dict(zip(FEATURES, risk.features(0, "allocating", 16.5, "supplier-a"), strict=True))
    assert values["sla_left_s"] == pytest.approx(23.5)
    assert values["wait_s"] == pytest.approx(0.8)  # the recent allocation → delivered
    assert values["wait_over_sla"] == pytest.approx(0.8 / 23.5)
    assert (values["queue_depth"], values["busy_share"]) == (6.0, 0.5)
    assert values["throughput_per_s"] == pytest.approx(5 / (16.5 - 11.0))
    assert values["supplier_latency_s"] == pytest.approx(0.5)
    assert (values["supplier_error_rate"], values["supplier_breaker"]) == (0.0, 0.0)
    assert (values["paid"], values["priority"], values["supplier_product"]) == (1.0, 1.0, 1.0)
    assert values["channel_latency_s"] == 0.0  # the channel is not followed
    local = dict(zip(FEATURES, risk.features(1, "paid", 16.5, None, ahead=4), strict=True))
    assert local["supplier_latency_s"] == 0.0 and local["supplier_product"] == 0.0
    # paid: 4 ahead at 2 workers per 1 s pass (throughput 0.91/s is lower: it sets the pace)
    assert local["wait_s"] == pytest.approx(4 / (5 / 5.5) + 1.0)


def test_an_order_at_risk_through_a_slow_supplier_goes_to_the_other() -> None:
    slow = [UpstreamFault(target="supplier-a", start_s=0, end_s=100, added_latency_s=1.5)]
    risk = _risk(_weights(supplier_latency_s=2.0), slow)  # risk through A ≈ 0.5, B ≈ 0.05
    for k in range(3):
        risk.calls.call("supplier-a", float(k))
    choose = risk.prefer(0)
    assert choose(("supplier-a", "supplier-b"), 5.0) == ("supplier-b", "supplier-a")
    assert risk.steered == 1
    calm = _risk(_weights(supplier_latency_s=2.0))  # no slow calls: risk 0.05 → below act_at
    calm.calls.call("supplier-a", 0.0)
    assert calm.prefer(0)(("supplier-a", "supplier-b"), 5.0) == ("supplier-a", "supplier-b")


def test_a_paid_order_at_risk_is_urgent() -> None:
    risk = _risk(_weights(busy_share=4.0))
    risk.busy = lambda: 2  # every worker busy: score sigmoid(1) ≈ 0.73
    assert risk.paid(0, 12.0, ahead=3) and 0 in risk.urgent
    risk.busy = lambda: 0  # sigmoid(-3) ≈ 0.047 < 0.05
    assert not risk.paid(1, 12.0, ahead=0) and 1 not in risk.urgent


def test_urgent_orders_go_first_within_their_lane_unless_its_head_is_overdue() -> None:
    env = simpy.Environment()
    queue = HeapQueue(env, classes=2, max_wait_s=10.0)
    queue.put(1, 1)
    queue.put(2, 1, urgent=True)
    queue.put(3, 0)
    assert [queue.get(100) for _ in range(3)] == [3, 2, 1]  # lane 0, then lane 1's urgent
    queue.put(4, 1)
    env.run(until=11.0)  # 4 has waited 11 s
    queue.put(5, 1, urgent=True)
    assert [queue.get(100) for _ in range(2)] == [4, 5]


def test_risk_ab_acting_keeps_its_orders_on_time_and_observing_does_not() -> None:
    scenario = load_scenario("risk-ab")
    act, notes = scenario_model(scenario.variant("act"))
    observe, _ = scenario_model(scenario.variant("observe"))
    assert act.risk_acting is not None and observe.risk_acting is None
    assert act.risk_acting.source == str(SHIPPED_MODEL)
    assert any(n.startswith("delay_risk act") for n in notes)
    delays = [figures_of(m, run(m, 0).records)["delay_rate"] for m in (act, observe)]
    assert delays[0] < 0.01 < 0.05 < delays[1]


def test_a_model_weighing_channel_health_is_said_not_to_be_followed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    shipped = load_model(SHIPPED_MODEL)
    coefs = tuple(1.0 if f == "channel_latency_s" else c
                  for f, c in zip(FEATURES, shipped.model.coefs, strict=True))
    path = tmp_path / "model.json"
    type(shipped)(type(shipped.model)(shipped.model.features, shipped.model.means,
                                      shipped.model.scales, coefs, shipped.model.intercept),
                  shipped.baseline).save(path)
    scenario = load_scenario("risk-ab").variant("act")
    shop = {**scenario.shop, "risk_model": str(path)}
    _, notes = scenario_model(scenario.model_copy(update={"shop": shop}))
    assert any("not followed: steering between payment channels" in n for n in notes)
