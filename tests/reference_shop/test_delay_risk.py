"""The shop acting on its delay-risk model (reference_shop/delay_risk.py): the buyer warned at
creation, the channel and the supplier steered before any breaker opens, an at-risk paid order
served first within its lane; and the features it logs. Models with known coefficients, the
services over fakes (tests/reference_shop/fakes.py)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fakalab.contract.delay_risk import FEATURES, RISK_FEATURE_COLUMNS, Linear, RiskModel
from fakalab.reference_shop.breaker import BreakerState
from fakalab.reference_shop.delay_risk import DelayRisk, FeatureLog, Subject
from fakalab.reference_shop.eta import Promises
from fakalab.reference_shop.queue import WorkQueue

from .fakes import Parts, build_parts


def known(intercept: float, **weights: float) -> RiskModel:
    """A model p = σ(intercept + Σ weight · feature), features unscaled."""
    n = len(FEATURES)
    part = Linear(FEATURES, (0.0,) * n, (1.0,) * n,
                  tuple(weights.get(f, 0.0) for f in FEATURES), intercept)
    return RiskModel(part, Linear(("queue_depth",), (0.0,), (1.0,), (0.0,), 0.0))


def attach(parts: Parts, model: RiskModel | None, mode: str, log: Path | None = None
           ) -> DelayRisk:
    settings = parts.settings.model_copy(update={"delay_risk": mode})
    state = parts.state
    promises = Promises(state.queue, state.stage_clock, state.throughput, state.status.health,
                        settings.workers, settings.eta_floor_s)
    risk = DelayRisk(settings, model, state.queue, promises, parts.upstreams, state.active,
                     FeatureLog(log) if log else None, clock=parts.clock)
    risk.suppliers = lambda: [u.name for u in parts.fulfilment.supplier_chain()]
    parts.ordering.risk = parts.payments.risk = parts.fulfilment.risk = risk
    return risk


@pytest.fixture
async def parts(tmp_path: Path) -> Any:
    built = await build_parts(tmp_path)
    yield built
    built.spawned.close()
    await built.db.close()


def failing(parts: Parts, name: str, calls: int = 6, latency_ms: float = 5.0,
            ok: bool = False) -> None:
    """``calls`` recent outcomes in the upstream's health window (its breaker untouched)."""
    health = parts.upstreams[name].health
    for _ in range(calls):
        health.record(parts.clock(), ok, latency_ms)


async def test_a_buyer_is_warned_before_paying_with_the_honest_eta(parts: Parts,
                                                                   tmp_path: Path) -> None:
    attach(parts, known(5.0), "act", tmp_path / "risk.csv")
    placed = await parts.ordering.place_order("steam-50", 1, "a@example.com", None, None)
    assert placed.delivery_risk is not None and placed.delivery_risk > 0.99
    assert placed.warning is not None and "expect your key in" in placed.warning
    assert placed.eta_at is not None and placed.eta_at >= parts.clock()
    quiet = attach(parts, known(-5.0), "act")
    calm = await parts.ordering.place_order("steam-50", 1, "b@example.com", None, None)
    assert calm.warning is None and calm.delivery_risk is not None and calm.delivery_risk < 0.01
    assert quiet.urgent == set()


async def test_observing_warns_nobody_and_logs_the_row(parts: Parts, tmp_path: Path) -> None:
    risk = attach(parts, known(5.0), "observe", tmp_path / "risk.csv")
    placed = await parts.ordering.place_order("vip-month", 1, "a@example.com", None, None)
    risk.close()
    assert placed.warning is None and placed.delivery_risk is not None
    with open(tmp_path / "risk.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == RISK_FEATURE_COLUMNS
    (row,) = rows
    assert row["order_no"] == placed.order_no and row["stage"] == "created"
    assert row["channel"] == "payment-a" and row["supplier"] == "supplier-a"
    assert row["supplier_product"] == "1" and row["paid"] == "0" and row["action"] == ""
    assert float(row["risk"]) == pytest.approx(placed.delivery_risk, abs=1e-6)


async def test_the_channel_is_steered_before_its_breaker_opens(parts: Parts,
                                                               tmp_path: Path) -> None:
    failing(parts, "payment-a")  # errors in the window, the breaker still closed
    attach(parts, known(-4.0, channel_error_rate=10.0), "observe")
    assert (await parts.order()).channel == "payment-a"  # observing changes nothing
    attach(parts, known(-4.0, channel_error_rate=10.0), "act", tmp_path / "risk.csv")
    steered = await parts.order()
    assert steered.channel == "payment-b"
    assert parts.upstreams["payment-a"].breaker.state is BreakerState.CLOSED
    parts.ordering.risk.close()  # type: ignore[union-attr]
    with open(tmp_path / "risk.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["channel"] == "payment-b" and row["action"] == "steered:payment-b"


async def test_a_healthy_channel_is_not_steered_away_from(parts: Parts) -> None:
    failing(parts, "payment-b")  # the other one is the sick one
    attach(parts, known(-4.0, channel_error_rate=10.0), "act")
    assert (await parts.order()).channel == "payment-a"


async def test_the_supplier_is_steered_while_it_is_slow_without_errors(parts: Parts) -> None:
    failing(parts, "supplier-a", latency_ms=1800.0, ok=True)
    attach(parts, known(-4.0, supplier_latency_s=4.0), "act")
    order = await parts.paid_order("vip-month")
    await parts.fulfilment.process(order.order_no)
    assert parts.fake.called("supplier-b") == 1 and parts.fake.called("supplier-a") == 0
    assert (await parts.keys(order.order_no))[0].startswith("SUPB-")


async def test_an_at_risk_paid_order_is_served_first_within_its_lane(parts: Parts) -> None:
    parts.payments.enqueue = parts.fulfilment.enqueue
    risk = attach(parts, known(-5.0), "act")
    calm = await parts.paid_order()
    risk.model = known(5.0)
    late = await parts.paid_order()
    assert risk.is_urgent(late.order_no) and not risk.is_urgent(calm.order_no)
    queue = parts.state.queue
    assert queue.position(late.order_no) == 0 and queue.position(calm.order_no) == 1
    assert queue.pop_nowait(parts.clock()) == late.order_no
    assert queue.pop_nowait(parts.clock()) == calm.order_no


async def test_off_and_observe_keep_the_queue_in_order(parts: Parts) -> None:
    parts.payments.enqueue = parts.fulfilment.enqueue
    attach(parts, known(5.0), "observe")
    first, second = await parts.paid_order(), await parts.paid_order()
    assert parts.state.queue.pop_nowait(parts.clock()) == first.order_no
    assert parts.state.queue.pop_nowait(parts.clock()) == second.order_no


def test_urgent_orders_go_first_within_their_lane_only() -> None:
    queue = WorkQueue(lanes=True, max_wait_s=10.0)
    queue.push("vip", 0, 100.0)
    queue.push("normal", 1, 101.0)
    queue.push("urgent", 1, 102.0, urgent=True)
    assert [queue.position(n) for n in ("vip", "urgent", "normal")] == [0, 1, 2]
    assert list(queue.positions()) == [("vip", 0), ("urgent", 1), ("normal", 2)]
    assert [queue.pop_nowait(103.0) for _ in range(3)] == ["vip", "urgent", "normal"]


def test_an_overdue_order_still_goes_before_an_urgent_one() -> None:
    queue = WorkQueue(lanes=True, max_wait_s=10.0)
    queue.push("old", 1, 100.0)
    queue.push("urgent", 1, 105.0, urgent=True)
    queue.push("vip", 0, 106.0)
    assert queue.pop_nowait(111.0) == "old"  # waited 11 s: before the lane above, too
    assert queue.pop_nowait(111.0) == "vip"
    assert queue.pop_nowait(111.0) == "urgent"
    assert queue.pop_nowait(111.0) is None
    assert queue.oldest_wait(111.0) == 0.0


def test_features_follow_the_live_state(parts: Parts) -> None:
    risk = attach(parts, None, "observe")
    failing(parts, "supplier-a", calls=4, latency_ms=1500.0, ok=True)
    failing(parts, "supplier-a", calls=1, latency_ms=1500.0)
    now = parts.clock()
    parts.state.queue.push("X1", 1, now)
    supplier = dict(zip(FEATURES, risk.features(
        "paid", Subject("S1", 0, True, "payment-a", now - 12.0), now), strict=True))
    assert supplier["supplier_latency_s"] == pytest.approx(1.5)
    assert supplier["supplier_error_rate"] == pytest.approx(0.2)
    assert supplier["sla_left_s"] == pytest.approx(parts.settings.sla_s - 12.0)
    assert supplier["queue_depth"] == 1.0 and supplier["paid"] == 1.0
    assert supplier["priority"] == 0.0 and supplier["supplier_product"] == 1.0
    local = dict(zip(FEATURES, risk.features(
        "created", Subject("L1", 1, False, "payment-a", None), now), strict=True))
    assert local["supplier_latency_s"] == 0.0 and local["supplier_product"] == 0.0
    assert local["sla_left_s"] == parts.settings.sla_s and local["paid"] == 0.0
    assert local["wait_s"] >= parts.settings.eta_floor_s


@pytest.mark.parametrize(("sets", "problem"), [
    (["risk_model={path}"], "not a fakalab-delay-risk model file"),
    (["risk_model={missing}"], "cannot read"),
])
def test_the_shop_refuses_an_unusable_model_before_it_starts(sets: list[str], problem: str,
                                                             tmp_path: Path) -> None:
    bad = tmp_path / "model.json"
    bad.write_text('{"format": "something else"}')
    args = [a.format(path=bad, missing=tmp_path / "none.json") for a in sets]
    run = subprocess.run([sys.executable, "-m", "fakalab", "shop", "--port", "0",
                          "--db", str(tmp_path / "shop.db"),
                          *(x for a in args for x in ("--set", a))],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and problem in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr


def test_a_log_torn_by_a_crash_is_ended_before_new_rows(tmp_path: Path) -> None:
    path = tmp_path / "risk.csv"
    log = FeatureLog(path)
    log.write(["1.0", "A", "paid"])
    log.close()
    with open(path, "a") as handle:
        handle.write("2.0,B,pa")  # the shop killed mid-row
    again = FeatureLog(path)
    again.write(["3.0", "C", "paid"])
    again.close()
    lines = path.read_text().splitlines()
    assert lines[0].startswith("at,order_no,stage") and lines[1:] == ["1.0,A,paid", "2.0,B,pa",
                                                                       "3.0,C,paid"]
