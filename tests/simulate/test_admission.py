"""Admission control in the model: the door's rule is the shop's (`reference_shop.admission`),
it refuses when the queue predicts an SLA miss, and with `admission` off nothing is refused."""

from __future__ import annotations

import random
from array import array

import pytest
from prometheus_client import CollectorRegistry, Gauge

from fakalab.contract.scenario import load_scenario
from fakalab.reference_shop.admission import Admission as ShopAdmission
from fakalab.reference_shop.eta import Promises, StageClock, Throughput
from fakalab.reference_shop.metrics import OrderCounts
from fakalab.reference_shop.queue import WorkQueue
from fakalab.reference_shop.states import OrderState
from fakalab.reference_shop.statuspage import ComponentHealth
from fakalab.simulate.admission import Door, Health
from fakalab.simulate.model import run
from fakalab.simulate.scenario_model import scenario_model

S = OrderState
STAGES = (S.RISK_CHECK, S.ALLOCATING, S.DELIVERING)


def test_hand_worked_refusal() -> None:
    """4 workers, stages of 0.1 s each (0.3 s an order: 13.3 orders/s), 60 orders queued and
    every worker busy, no throughput measured yet: the wait is 60 / 13.3 = 4.5 s > 3 s, so the
    order is refused and told to come back after ⌈4.5 − 3⌉ = 2 s; the next refused buyer is
    also told to wait for the one before (1 / 13.3 s): ⌈1.5 + 0.075⌉ = 2."""
    door = Door(budget_s=3.0, workers=4, stages=3)
    for k in range(3):
        for _ in range(40):  # the EWMA converges to 0.1 s from its 50 ms prior
            door.stage_ends(0.0, k, 0.1)
    assert door.wait(1.0, queued=60, busy=4)[0] == pytest.approx(60 / (4 / 0.3), rel=1e-3)
    assert door.check(1.0, queued=60, busy=4) == 2
    assert door.check(1.0, queued=60, busy=4) == 2
    assert door.check(1.0, queued=30, busy=4) is None  # 2.25 s: within the budget
    assert door.check(1.0, queued=0, busy=0) is None  # an idle shop always admits


def test_throughput_is_capacity_only_when_saturated() -> None:
    door = Door(budget_s=3.0, workers=4, stages=3)
    for t in range(10):
        door.leaves(float(t))  # 1 order/s has left the pipeline
    # with a worker free the pace is only the demand: capacity is workers / per-order time
    assert door.wait(10.0, queued=10, busy=3)[1] == pytest.approx(4 / 0.15)
    # every worker busy and orders queued: the measured pace is the capacity
    assert door.wait(10.0, queued=10, busy=4)[1] == pytest.approx(1.0)
    assert door.wait(10.0, queued=10, busy=3, cpu_share=0.95)[1] == pytest.approx(1.0)


def _shop(budget_s: float) -> tuple[ShopAdmission, Promises, OrderCounts, set[str]]:
    gauge = Gauge("orders", "orders", ["state"], registry=CollectorRegistry())
    counts = OrderCounts(gauge)
    active: set[str] = set()
    health = {"risk": ComponentHealth(), "supplier-a": ComponentHealth()}
    promises = Promises(queue=WorkQueue(), clock=StageClock(), throughput=Throughput(),
                        health=health, workers=4, floor_s=5.0, active=active)
    return ShopAdmission(promises, counts, budget_s=budget_s, max_lag_s=10.0), promises, \
        counts, active


@pytest.mark.parametrize("seed", range(5))
def test_same_decisions_as_the_shops_admission(seed: int) -> None:
    """The same live measurements told to the shop's Admission and to the model's Door — stage
    times, orders leaving, orders let in, paid and expired, the queue, busy workers and a slow
    supplier — give the same decision and Retry-After at every try."""
    rng = random.Random(seed)
    shop, promises, counts, active = _shop(budget_s=3.0)
    ends, latency, failed = array("d"), array("d"), array("b")
    door = Door(budget_s=3.0, workers=4, stages=3,
                health={"supplier-a": Health((ends, latency, failed), 0.5)})
    queued, decisions, pending = 0, [], []
    now = 1000.0
    for step in range(600):
        now += rng.expovariate(20.0)
        for _ in range(rng.randrange(3)):  # stage completions
            k, took = rng.randrange(3), rng.uniform(0.01, 0.6)
            promises.clock.observe(STAGES[k], took)
            door.stage_ends(now, k, took)
        if rng.random() < 0.3:  # an order left the pipeline
            promises.throughput.record(now)
            door.leaves(now)
        if rng.random() < 0.2:  # a call to supplier A ended (slow from step 200 on)
            slow = rng.uniform(0.4, 1.5) if step > 200 else rng.uniform(0.01, 0.1)
            promises.health["supplier-a"].record(now, True, slow * 1000)
            ends.append(now), latency.append(slow), failed.append(0)
        if pending and rng.random() < 0.4:  # a payment, or an expiry
            created = pending.pop(0)
            if rng.random() < 0.9:
                counts.moved(S.PENDING_PAYMENT.value, S.PAID.value)
                counts.paid_after(now - created)
                queued += 1
                promises.queue.push(f"o{step}", 1, now)
                door._push(now, -2, now - created)  # what `admitted` schedules, now
            else:
                counts.moved(S.PENDING_PAYMENT.value, S.EXPIRED.value)
                door._push(now, -3, 0.0)
        if queued and rng.random() < 0.25:  # a worker takes an order
            promises.queue.pop_nowait(now)
            queued -= 1
        active.clear()
        active.update(f"w{k}" for k in range(rng.choice([2, 4, 4])))
        theirs = shop.check(now)
        ours = door.check(now, queued, len(active))
        decisions.append(ours)
        assert (None if theirs is None else theirs.retry_after_s) == ours, step
        if ours is None:
            shop.admitted(now)
            counts.moved(None, S.PENDING_PAYMENT.value)
            door._admitted.append(now)
            door.pending += 1
            pending.append(now)
    assert None in decisions and any(d is not None for d in decisions)  # both outcomes met


def _flash(*sets: str) -> tuple[object, object]:
    model, _ = scenario_model(load_scenario("flash-sale", ["duration=120s", *sets]))
    return model, run(model, 0)


def test_the_door_refuses_when_the_queue_predicts_an_sla_miss() -> None:
    """The flash sale's spike is more than the shop can deliver: with admission on, buyers
    are refused (some retry and are served, some give up) and the queue stays short; off,
    every visitor's order is created and the queue grows."""
    on_model, on = _flash()
    off_model, off = _flash("shop.admission=false")
    assert on_model.admission is not None and on_model.admission.budget_s == 1.0  # at most 1 s
    assert off_model.admission is None and off.admission is None
    counts = on.admission
    assert counts is not None and counts.refusals > 0
    assert counts.buyers_served_after_refusal > 0 and counts.buyers_gave_up > 0
    assert len(on.records) < len(off.records)
    assert len(off.records) == counts.buyers  # off: every visitor's order is created
    on_wait = on.records.queue_wait[on.records.paid]
    off_wait = off.records.queue_wait[off.records.paid]
    assert on_wait[~(on_wait != on_wait)].max() < off_wait[~(off_wait != off_wait)].max()


def test_a_light_load_is_never_refused() -> None:
    model, _ = scenario_model(load_scenario("steady", ["duration=60s"]))
    result = run(model, 0)
    assert result.admission is not None and result.admission.refusals == 0
    assert len(result.records) == result.admission.buyers
    off, _ = scenario_model(load_scenario("steady", ["duration=60s", "shop.admission=false"]))
    plain = run(off, 0)
    assert (plain.records.delivered_at[plain.records.paid]
            == pytest.approx(result.records.delivered_at[result.records.paid], nan_ok=True))
