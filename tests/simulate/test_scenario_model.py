"""A scenario as a model: the shop's settings model gives every default; --orders and --duration
mean what they say."""

import numpy as np
import pytest

from fakalab.contract.scenario import load_scenario
from fakalab.contract.shop_settings import ShopSettings
from fakalab.simulate.forecast import figures_of
from fakalab.simulate.model import run
from fakalab.simulate.scenario_model import polls_per_watcher, scenario_model

DEFAULTS = ShopSettings.model_validate({})


def test_settings_a_scenario_leaves_out_are_the_shops_defaults() -> None:
    model, _ = scenario_model(load_scenario("steady"))
    risk = model.upstream("risk")
    assert (risk.timeout_s, risk.retries, risk.backoff_base_s, risk.backoff_max_s) == (
        DEFAULTS.upstream_timeout_s, DEFAULTS.retries, DEFAULTS.backoff_base_s,
        DEFAULTS.backoff_max_s)
    assert (risk.breaker, risk.breaker_threshold, risk.breaker_cooldown_s) == (
        DEFAULTS.circuit_breaker, DEFAULTS.breaker_threshold, DEFAULTS.breaker_cooldown_s)
    assert (model.hold_s, model.hold_retry_s) == (DEFAULTS.hold_s, DEFAULTS.hold_retry_s)
    p = model.payment
    assert (p.failover, p.reconciliation, p.reconcile_after_s, p.reconcile_interval_s,
            p.slow_ms) == (DEFAULTS.failover, DEFAULTS.reconciliation,
                           DEFAULTS.reconcile_after_paid_s, DEFAULTS.reconcile_interval_s,
                           DEFAULTS.slow_upstream_ms)
    assert model.priority_lanes == DEFAULTS.priority_lanes
    assert model.buyer.transparency == DEFAULTS.transparency.value
    assert model.buyer.eta_floor_s == DEFAULTS.eta_floor_s


def test_a_scenarios_own_settings_win() -> None:
    scenario = load_scenario("chaos-monkey")
    model, _ = scenario_model(scenario)
    assert model.upstream("supplier-a").timeout_s == 1.5
    assert model.payment.reconcile_after_s == 2 and model.payment.reconcile_interval_s == 0.5
    off, _ = scenario_model(load_scenario("steady", ["shop.failover=false"]))
    assert off.stages[1].upstreams == ("supplier-a",) and not off.payment.failover


def test_products_become_lanes_with_their_kind() -> None:
    model, _ = scenario_model(load_scenario("flash-sale"))
    assert [(c.name, c.share, c.supplier_share) for c in model.classes] == [
        ("priority 0", 0.5, 1.0), ("priority 1", 0.5, 0.0)]
    trace = model.trace
    assert trace is not None
    assert all(s == (c == 0) for c, s in zip(trace.cls, trace.supplier, strict=True))


def test_polls_per_waiting_buyer_follow_the_personas() -> None:
    scenario = load_scenario("steady")  # buyer 6, impatient 1, double payer 0.5; think 3 s
    impatient = 1 / 7.5
    expected = impatient / 1.0 + (1 - impatient) * (0.8 / 3 + 0.2 / 5)
    assert polls_per_watcher(scenario) == pytest.approx(expected)


def test_orders_means_exactly_that_many_orders_of_the_repeated_scenario() -> None:
    # every try an order; six workers, so the sale's faults delay orders on any calibration
    # (the measured shop delivers the sale on time with its own 16)
    scenario = load_scenario("flash-sale", ["shop.admission=false", "shop.workers=6"])
    model, _ = scenario_model(scenario, orders=40_000)
    result = run(model, 0)
    assert len(result.records) == 40_000 == result.summary.orders
    created = result.records.created_at
    assert created.max() > 3 * scenario.duration  # several sales back to back
    # every sale has its spike: orders per second in each period's peak look alike
    per_period = [((created >= k * 180 + 40) & (created < k * 180 + 100)).sum() / 60
                  for k in range(4)]
    assert min(per_period) > 60
    # and its faults: the delay rate is the scenario's, not the base load's
    single = figures_of(*_one(scenario))
    repeated = figures_of(model, result.records)
    assert repeated["delay_rate"] == pytest.approx(single["delay_rate"], abs=0.06)
    assert repeated["delay_rate"] > 0.05


def test_with_admission_orders_counts_the_buyers_who_try() -> None:
    model, _ = scenario_model(load_scenario("flash-sale"), orders=5_000)
    result = run(model, 0)
    assert result.admission is not None and result.admission.buyers == 5_000
    assert len(result.records) == 5_000 - result.admission.buyers_gave_up - (
        result.admission.buyers_refused - result.admission.buyers_served_after_refusal
        - result.admission.buyers_gave_up)


def _one(scenario):  # type: ignore[no-untyped-def]
    model, _ = scenario_model(scenario, arrivals="poisson")
    return model, run(model, 0).records


def test_duration_is_the_drills_duration() -> None:
    scenario = load_scenario("steady", ["duration=60s"])
    model, _ = scenario_model(scenario)
    assert model.duration_s == 60 and model.trace is not None
    assert max(model.trace.created_at) < 60 < max(model.trace.created_at) + 2
    longer, _ = scenario_model(load_scenario("steady", ["duration=5m"]))
    assert max(longer.trace.created_at) > 290  # type: ignore[union-attr]


def test_orders_and_duration_are_exclusive() -> None:
    with pytest.raises(ValueError, match="not both"):
        scenario_model(load_scenario("steady"), orders=10, duration_s=10)


def test_every_printed_figure_comes_from_the_run_printed() -> None:
    """The --orders 1000000 defect: utilisation, delay and p95 came from a 400,000 s run of
    the base rate (the shape was flat past its end) while the spike and its faults happened
    once; now the whole scenario repeats, so one sale's figures and N orders' agree."""
    scenario = load_scenario("flash-sale", ["shop.admission=false", "shop.workers=6"])
    model, _ = scenario_model(scenario, orders=30_000)
    summary = run(model, 1).summary
    assert summary.orders == 30_000
    assert summary.utilisation > 0.1 and summary.p95_s > 10
    assert np.isfinite(summary.tickets_per_100_delayed)


def test_a_subscribed_shop_hears_the_providers_announcements() -> None:
    scenario = load_scenario("signals-ab")
    heard, _ = scenario_model(scenario.variant("subscribed"))
    (said,) = heard.announcements
    assert (said.target, said.start_s, said.end_s) == ("payment-a", 15.0, 55.0)
    late, _ = scenario_model(scenario.variant("late-4s"))
    assert late.announcements[0].start_s == 19.0
    deaf, notes = scenario_model(scenario.variant("unsubscribed"))
    assert deaf.announcements == () and any("provider_signals is off" in n for n in notes)
    # what it is worth: orders paid at A while it stalls wait for reconciliation
    late_a = [figures_of(m, run(m, 0).records)["delay_rate"] for m in (heard, deaf)]
    assert late_a[0] == 0 and late_a[1] > 0.05
