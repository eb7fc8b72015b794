"""Holds: an order whose risk check or allocation fails is queued again instead of parked,
until ``hold_s`` after payment (the shop's ``_hold``)."""

import numpy as np
import pytest
from pydantic import ValidationError

from fakalab.contract.scenario import load_scenario
from fakalab.simulate.dists import Dist
from fakalab.simulate.faults import FaultSchedule
from fakalab.simulate.model import SimulationResult, run
from fakalab.simulate.params import (
    Channel,
    Fault,
    LoadShape,
    Payment,
    PipelineModel,
    PriorityClass,
    Stage,
)
from fakalab.simulate.scenario_model import scenario_model
from fakalab.simulate.workers import HoldDraws, PoolInputs, RetryDraws, run_pool
from tests.simulate.reference_holds import reference_holds
from tests.simulate.test_targets import SLOW_RISK

TWO_CLASSES = (PriorityClass(name="vip", share=0.2), PriorityClass(name="standard", share=0.8))
INSTANT = Dist.const(0.0)


def _pipeline(faults: tuple[Fault, ...], **changes: object) -> PipelineModel:
    """Constant stage times, instant payment, workers to spare: only holds delay an order."""
    stages = (
        Stage(name="risk_check", service=Dist.const(0.01), holds=True),
        Stage(name="allocation", service=Dist.const(0.01), holds=True),
        Stage(name="delivery", service=Dist.const(0.01)),
    )
    payment = Payment(pay_time=INSTANT, channels=(Channel(name="pay", callback_delay=INSTANT),))
    base = PipelineModel(
        duration_s=60, arrivals=LoadShape.constant(5), workers=100, stages=stages, payment=payment
    )
    return base.model_copy(update={"faults": faults, **changes})


def _same(a: SimulationResult, b: SimulationResult) -> None:
    for name, column in a.records.columns().items():
        assert np.array_equal(column, b.records.columns()[name], equal_nan=True), name
    assert repr(a.summary) == repr(b.summary)  # NaN-safe


def test_a_short_outage_delays_orders_and_parks_none() -> None:
    outage = Fault(target="allocation", start_s=20, end_s=30, failure_prob=1.0)
    result = run(_pipeline((outage,), hold_s=120, hold_retry_s=1.0), seed=2)
    records = result.records
    start = records.stage_start[:, 1]
    end = start + records.stage_time[:, 1]
    held = (start < outage.end_s) & (end > outage.end_s)  # failed in the outage, ended after
    assert held.sum() > 20 and result.summary.needs_attention == 0
    assert (records.failed_stage == -1).all() and not np.isnan(records.delivered_at).any()
    assert (start[held] >= outage.start_s).all()  # a held stage starts at its first start
    delivered = records.delivered_at[held]
    # After the outage, at most one hold delay (1.5 × hold_retry_s) plus the order's own work.
    assert (delivered > outage.end_s).all() and (delivered <= outage.end_s + 1.5 + 0.5).all()
    assert delivered.max() > outage.end_s + 0.5  # some waited for their hold to end


def test_an_outage_longer_than_hold_s_parks_orders_paid_hold_s_before_its_end() -> None:
    outage = Fault(target="risk_check", start_s=10, end_s=40, failure_prob=1.0)
    result = run(_pipeline((outage,), hold_s=10, hold_retry_s=1.0), seed=4)
    records = result.records
    paid, parked = records.paid_at, records.failed_stage == 0
    failed_at = records.stage_start[:, 0] + records.stage_time[:, 0]
    assert (failed_at[parked] - paid[parked] >= 10).all()  # parked only once hold_s has passed
    assert parked[(paid >= 10) & (paid < 40 - 10 - 2)].all()
    assert not parked[(paid < 10) | (paid >= 40 - 10 + 1)].any()
    late = (paid >= 40 - 10 + 1) & (paid < 40)
    assert late.sum() > 10 and (records.delivered_at[late] <= 40 + 2).all()
    assert result.summary.needs_attention == parked.sum() > 50


def test_hold_s_zero_parks_at_once_as_before() -> None:
    """``hold_s=0`` is the shop's old behaviour: the same records as stages that never hold."""
    flaky = (
        Fault(target="allocation", start_s=5, end_s=15, failure_prob=0.9),
        Fault(target="risk_check", start_s=30, end_s=35, latency_factor=300),  # timeouts
    )
    model = _pipeline(flaky, workers=3, classes=TWO_CLASSES, hold_s=0)
    never = model.model_copy(
        update={"stages": tuple(s.model_copy(update={"holds": False}) for s in model.stages)}
    )
    old, now = run(never, seed=1), run(model, seed=1)
    assert old.summary.needs_attention > 10
    _same(old, now)
    held = run(model.model_copy(update={"hold_s": 120}), seed=1)
    assert held.summary.needs_attention == 0 and held.summary.delivered > old.summary.delivered


@pytest.mark.parametrize("horizon_s", [None, 500.0])
def test_runs_without_failures_are_identical_with_and_without_holds(
    horizon_s: float | None,
) -> None:
    slow = Fault(target="allocation", start_s=350, end_s=650, latency_factor=4)
    model = PipelineModel(
        duration_s=900,
        workers=4,
        arrivals=LoadShape(points=((0, 10), (300, 10), (330, 40), (600, 40), (630, 10))),
        classes=TWO_CLASSES,
        faults=(slow,),
        horizon_s=horizon_s,
    )
    assert all(s.holds for s in model.stages[:2])
    holding, parking = run(model, seed=3), run(model.model_copy(update={"hold_s": 0}), seed=3)
    assert holding.summary.delay_rate > 0.1  # a backlog, but nothing fails
    _same(holding, parking)


def test_the_pool_with_holds_matches_a_naive_reference() -> None:
    rng = np.random.default_rng(11)
    n = 400
    paid = np.sort(rng.uniform(0, 80, n)).tolist()
    classes = rng.integers(0, 2, n).tolist()
    stage = Stage(name="work", service=Dist.const(0.7), timeout_s=None, attempts=1, holds=True)
    window = (20.0, 45.0)
    outage = Fault(target="work", start_s=window[0], end_s=window[1], failure_prob=1.0)
    inputs = PoolInputs(
        queue_order=list(range(n)),
        paid_at=paid,  # type: ignore[arg-type]
        priority=classes,
        first_service=[[0.7] * n],  # type: ignore[list-item]
        first_uniform=[[0.5] * n],  # type: ignore[list-item]
    )
    records = run_pool(
        6,
        [stage],
        inputs,
        FaultSchedule([outage]),
        [RetryDraws(stage, np.random.default_rng(1))],
        classes=2,
        hold_s=15.0,
        hold_retry_s=2.0,
        holds=HoldDraws(np.random.default_rng(5)),
    )
    jitters = iter(np.random.default_rng(5).uniform(0.5, 1.5, 100_000).tolist())
    expected = reference_holds(paid, classes, 6, 0.7, window, 15.0, 2.0, jitters)
    parked = [k == 0 for k in records.failed_stage]
    assert 10 < sum(parked) < 200 and parked == expected.parked
    assert list(records.started_at) == pytest.approx(expected.first_start, abs=1e-9)
    assert list(records.stage_start[0]) == pytest.approx(expected.first_start, abs=1e-9)
    assert list(records.stage_end[0]) == pytest.approx(expected.end, abs=1e-9)
    assert list(records.delivered_at) == pytest.approx(expected.delivered, abs=1e-9, nan_ok=True)
    assert records.busy_s == pytest.approx(expected.busy_s, rel=1e-12)
    took = np.array(records.stage_end[0]) - np.array(records.stage_start[0])
    assert ((took > 1) & ~np.isnan(np.array(records.delivered_at))).sum() > 30  # held, then done


def test_a_held_order_frees_its_worker() -> None:
    """One worker: order 0 is held at 1.0, so order 1 starts then, not after order 0's hold."""
    stage = Stage(name="work", service=Dist.const(1.0), timeout_s=None, attempts=1, holds=True)
    outage = Fault(target="work", start_s=0, end_s=0.5, failure_prob=1.0)
    inputs = PoolInputs([0, 1], [0.0, 0.1], [0, 0], [[1.0, 1.0]], [[0.5, 0.5]])  # type: ignore[arg-type]
    records = run_pool(
        1,
        [stage],
        inputs,
        FaultSchedule([outage]),
        [RetryDraws(stage, np.random.default_rng(1))],
        hold_s=60.0,
        holds=HoldDraws(np.random.default_rng(3)),
    )
    jitter = float(np.random.default_rng(3).uniform(0.5, 1.5))
    assert list(records.started_at) == [0.0, 1.0]
    assert list(records.delivered_at) == [max(2.0, 1.0 + jitter) + 1.0, 2.0]
    assert records.stage_start[0][0] == 0.0 and records.busy_s == 3.0  # worker time only
    assert list(records.failed_stage) == [-1, -1]


def test_only_a_stage_that_blocks_delivery_can_hold() -> None:
    with pytest.raises(ValidationError, match="blocks delivery can hold"):
        Stage(name="notification", service=INSTANT, blocks_delivery=False, holds=True)
    stages = PipelineModel(orders=1).stages
    assert [s.name for s in stages if s.holds] == ["risk_check", "allocation"]


def test_a_scenario_maps_the_shops_hold_settings() -> None:
    scenario = load_scenario(SLOW_RISK, ["shop.hold_s=30", "shop.hold_retry_s=2"])
    model, _ = scenario_model(scenario)
    assert (model.hold_s, model.hold_retry_s) == (30, 2)
    assert [s.name for s in model.stages if s.holds] == ["risk_check", "allocation"]
    default, _ = scenario_model(load_scenario(SLOW_RISK))
    assert (default.hold_s, default.hold_retry_s) == (120, 1)
