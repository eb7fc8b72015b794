"""Fulfilment in-process: risk, suppliers and notify answer through httpx's MockTransport, the
database is a SQLite file in tmp_path, the clock is moved by hand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fakalab.reference_shop.ledger import verify_chain
from tests.reference_shop.fakes import Parts, build_parts

PIPELINE = ["pending_payment", "paid", "risk_check", "allocating", "delivering", "delivered"]


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    built = await build_parts(tmp_path)
    yield built
    built.spawned.close()
    await built.db.close()


async def notifications(parts: Parts) -> list[tuple[str, str]]:
    rows = await parts.db.run(lambda c: c.all("select order_no, status from notifications"))
    return [(r[0], r[1]) for r in rows]


async def test_a_paid_order_is_delivered_with_its_reserved_key_and_the_buyer_told(
        parts: Parts) -> None:
    order = await parts.paid_order()
    await parts.fulfilment.process(order.order_no)
    chain = await parts.chain(order.order_no)
    assert [e.state for e in chain] == PIPELINE
    assert verify_chain([e.as_dict() for e in chain]) == []
    (key,) = await parts.keys(order.order_no)
    assert key.startswith("STEA-")
    view = parts.state.views.get(order.order_no)
    assert view is not None and view.state == "delivered" and view.keys == [key]
    assert await notifications(parts) == []  # a side task, after the delivery commit
    await parts.spawned.run()
    assert await notifications(parts) == [(order.order_no, "sent")]


async def test_a_supplier_order_gets_the_suppliers_keys(parts: Parts) -> None:
    order = await parts.paid_order("vip-month", quantity=2)
    await parts.fulfilment.process(order.order_no)
    keys = await parts.keys(order.order_no)
    assert len(keys) == 2 and all(k.startswith("SUPA-") for k in keys)
    assert parts.fake.called("supplier-b") == 0


async def test_supplier_a_failing_fails_over_to_supplier_b(parts: Parts) -> None:
    parts.fake.status["supplier-a"] = 503
    order = await parts.paid_order("vip-month")
    await parts.fulfilment.process(order.order_no)
    (key,) = await parts.keys(order.order_no)
    assert key.startswith("SUPB-")
    assert parts.fake.called("supplier-a") == parts.settings.retries


async def test_a_transient_risk_failure_holds_the_order_then_it_goes_through(
        parts: Parts) -> None:
    parts.fake.status["risk"] = 503
    order = await parts.paid_order()
    await parts.fulfilment.process(order.order_no)
    assert (await parts.load(order.order_no)).state == "risk_check"  # held, not parked
    assert order.order_no in parts.fulfilment.held
    assert parts.state.metrics.registry.get_sample_value("fakalab_orders_held_total") == 1
    await parts.fulfilment.process(order.order_no)  # retried again while still failing:
    assert len(parts.spawned.pending) == 1  # ... still one retry timer for the order
    del parts.fake.status["risk"]  # the risk service recovers
    await parts.spawned.run()  # the timer queues the order again
    assert parts.state.queue.pop_nowait() == order.order_no
    await parts.fulfilment.process(order.order_no)
    assert (await parts.load(order.order_no)).state == "delivered"


async def test_an_order_held_past_hold_s_is_parked_for_a_person(parts: Parts) -> None:
    parts.fake.status["risk"] = 503
    order = await parts.paid_order()
    parts.clock.now += parts.settings.hold_s
    await parts.fulfilment.process(order.order_no)
    parked = await parts.load(order.order_no)
    assert parked.state == "needs_attention"
    assert parked.last_error is not None and parked.last_error.startswith("risk check: risk")
    assert parts.fulfilment.held == set()


async def test_a_refusal_is_not_held(parts: Parts) -> None:
    parts.fake.status.update({"supplier-a": 409, "supplier-b": 409})  # out of stock at both
    order = await parts.paid_order("vip-month")
    await parts.fulfilment.process(order.order_no)
    parked = await parts.load(order.order_no)
    assert parked.state == "needs_attention" and "allocation" in (parked.last_error or "")
    assert parts.fulfilment.held == set()


async def test_two_workers_on_one_order_deliver_it_once(parts: Parts) -> None:
    order = await parts.paid_order()
    await asyncio.gather(parts.fulfilment.process(order.order_no),
                         parts.fulfilment.process(order.order_no))
    await parts.fulfilment.process(order.order_no)  # and once more, after delivery
    states = [e.state for e in await parts.chain(order.order_no)]
    assert states == PIPELINE
    assert len(await parts.keys(order.order_no)) == 1


async def test_start_up_queues_orders_in_flight_and_sends_lost_notifications(
        parts: Parts) -> None:
    delivered = await parts.paid_order()
    await parts.fulfilment.process(delivered.order_no)
    parts.spawned.close()  # the shop died before the e-mail went out
    parts.spawned.pending.clear()
    waiting = await parts.paid_order()
    assert await parts.fulfilment.resume_in_flight() == 1
    assert parts.state.queue.pop_nowait() == waiting.order_no
    await parts.spawned.run()
    assert await notifications(parts) == [(delivered.order_no, "sent")]
