"""Payments in-process: the channels answer through httpx's MockTransport, the database is a
SQLite file in tmp_path, the clock is moved by hand."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fakalab.reference_shop import signing
from fakalab.reference_shop.breaker import BreakerState
from fakalab.reference_shop.ordering import OrderRefused
from fakalab.reference_shop.storage import stock
from tests.reference_shop.fakes import Parts, build_parts


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    built = await build_parts(tmp_path)
    yield built
    built.spawned.close()
    await built.db.close()


async def attempts(parts: Parts, order_no: str) -> list[tuple[str, str]]:
    rows = await parts.db.run(lambda c: c.all(
        "select source, outcome from callback_attempts where trade_no = ? order by id",
        order_no))
    return [(r[0], r[1]) for r in rows]


async def available(parts: Parts, product_id: str = "steam-50") -> int:
    return (await parts.db.run(stock.available_counts)).get(product_id, 0)


async def test_the_payment_is_created_at_channel_a(parts: Parts) -> None:
    order = await parts.order()
    assert order.channel == "payment-a" and order.payment_id == "PA1"
    assert order.pay_url == "http://payment-a/pay/PA1" and order.state == "pending_payment"


async def test_channel_a_failing_fails_over_to_channel_b(parts: Parts) -> None:
    parts.fake.status["payment-a"] = 503
    order = await parts.order()
    assert order.channel == "payment-b"
    assert parts.fake.called("payment-a") == parts.settings.retries


async def test_while_a_s_breaker_is_open_b_is_asked_first(parts: Parts) -> None:
    breaker = parts.upstreams["payment-a"].breaker
    breaker.state, breaker.opened_at = BreakerState.OPEN, time.time()
    assert (await parts.order()).channel == "payment-b"
    assert parts.fake.called("payment-a") == 0


async def test_without_any_channel_the_order_is_refused_and_its_keys_go_back(
        tmp_path: Path) -> None:
    parts = await build_parts(tmp_path, failover=False)
    try:
        parts.fake.status["payment-a"] = 503
        before = await available(parts)
        with pytest.raises(OrderRefused) as refused:
            await parts.order()
        assert refused.value.status == 503
        assert await available(parts) == before
    finally:
        await parts.db.close()


async def test_a_signed_callback_pays_the_order_and_queues_it_once(parts: Parts) -> None:
    order = await parts.paid_order()
    assert order.state == "paid" and order.paid_at == parts.clock.now
    assert parts.queued == [(order.order_no, order.priority)]
    assert await attempts(parts, order.order_no) == [("callback", "accepted")]


async def test_duplicate_callbacks_are_idempotent(parts: Parts) -> None:
    order = await parts.paid_order()
    notice = parts.fake.notice(order.order_no)
    outcomes = await asyncio.gather(*(parts.payments.apply_payment("payment-a", notice,
                                                                   "callback")
                                      for _ in range(5)))
    assert outcomes == ["duplicate"] * 5
    assert [e.state for e in await parts.chain(order.order_no)].count("paid") == 1
    assert parts.queued == [(order.order_no, order.priority)]  # queued once


@pytest.mark.parametrize(("change", "outcome"), [
    ({"sign": "0" * 64}, "bad_signature"),
    ({"amount": "0.01"}, "amount_mismatch"),
    ({"payment_id": "PA999"}, "wrong_payment_id"),
    ({"status": "pending"}, "not_paid"),
])
async def test_a_notice_that_does_not_match_changes_nothing(parts: Parts, change: dict[str, str],
                                                             outcome: str) -> None:
    order = await parts.order()
    parts.fake.pay(order.order_no)
    notice = {**parts.fake.notice(order.order_no), **change}
    if "sign" not in change:  # correctly signed, but not this order's payment
        notice["sign"] = signing.sign(notice, "fakalab-secret-a")
    assert await parts.payments.apply_payment("payment-a", notice, "callback") == outcome
    assert (await parts.load(order.order_no)).state == "pending_payment"
    assert parts.queued == []


async def test_a_notice_on_the_wrong_channel_is_refused(parts: Parts) -> None:
    order = await parts.order()
    parts.fake.pay(order.order_no)
    notice = parts.fake.notice(order.order_no)
    notice["sign"] = signing.sign(notice, "fakalab-secret-b")
    assert await parts.payments.apply_payment("payment-b", notice, "callback") == "wrong_channel"


async def test_reconciliation_finds_a_payment_whose_callback_was_lost(parts: Parts) -> None:
    order = await parts.order()
    parts.fake.pay(order.order_no)  # paid at the channel; the callback never arrives
    parts.clock.now += parts.settings.reconcile_after_created_s + 1
    assert await parts.payments.reconcile_due(parts.clock.now) == 1
    assert await parts.payments.reconcile_due(parts.clock.now) == 0  # queried just now
    await parts.spawned.run()  # the query, a side task
    assert (await parts.load(order.order_no)).state == "paid"
    assert await attempts(parts, order.order_no) == [("query", "accepted")]


async def test_an_unpaid_order_expires_and_gives_its_key_back(parts: Parts) -> None:
    before = await available(parts)
    order = await parts.order()
    assert await available(parts) == before - 1
    assert await parts.payments.expire_due(order.expires_at + 1) == 1
    assert (await parts.load(order.order_no)).state == "expired"
    assert await available(parts) == before


async def test_a_late_payment_inside_the_window_is_accepted(parts: Parts) -> None:
    order = await parts.order()
    await parts.payments.expire_due(order.expires_at + 1)
    parts.clock.now = order.expires_at + 5
    parts.fake.pay(order.order_no)
    outcome = await parts.payments.apply_payment("payment-a", parts.fake.notice(order.order_no),
                                                 "callback")
    assert outcome == "late_accepted"
    assert (await parts.load(order.order_no)).state == "paid"
    assert parts.queued == [(order.order_no, order.priority)]
