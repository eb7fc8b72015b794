"""Payment callbacks: forged, tampered, duplicated, replayed, late, out-of-order, concurrent;
reconciliation of lost callbacks; channel failover."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import select

from fakalab.reference_shop import db, signing
from fakalab.reference_shop.server import RunningShop
from tests.reference_shop.conftest import Buyer, set_faults

SECRET_A = "fakalab-secret-a"


def notice(order: dict[str, Any], payment_id: str, amount: str | None = None,
           secret: str = SECRET_A, status: str = "paid") -> dict[str, Any]:
    fields = {"payment_id": payment_id, "trade_no": order["order_no"],
              "amount": amount or order["amount"], "status": status,
              "paid_at": time.time(), "nonce": "n-1"}
    return {**fields, "sign": signing.sign(fields, secret)}


async def payment_id(shop: RunningShop, order_no: str) -> str:
    async with shop.shop.db.read() as conn:
        return str((await conn.execute(select(db.orders.c.payment_id).where(
            db.orders.c.order_no == order_no))).scalar_one())


async def attempts(shop: RunningShop, order_no: str) -> list[str]:
    async with shop.shop.db.read() as conn:
        rows = await conn.execute(select(db.callback_attempts.c.outcome).where(
            db.callback_attempts.c.trade_no == order_no).order_by(db.callback_attempts.c.id))
        return [r[0] for r in rows]


async def events(shop: RunningShop, order_no: str) -> list[str]:
    async with shop.shop.db.read() as conn:
        rows = await conn.execute(select(db.order_events.c.state).where(
            db.order_events.c.order_no == order_no).order_by(db.order_events.c.seq))
        return [r[0] for r in rows]


CALLBACK = "/api/payments/callback/payment-a"


async def test_forged_signature_is_refused_and_changes_nothing(
        shop: RunningShop, client: httpx.AsyncClient, buyer: Buyer) -> None:
    order = await buyer.order()
    forged = notice(order, await payment_id(shop, order["order_no"]), secret="guessed")
    r = await client.post(CALLBACK, json=forged)
    assert r.status_code == 400 and r.text == "fail: bad_signature"
    assert (await buyer.status(order))["state"] == "pending_payment"
    assert await attempts(shop, order["order_no"]) == ["bad_signature"]


async def test_tampered_amount_is_refused(shop: RunningShop, client: httpx.AsyncClient,
                                          buyer: Buyer) -> None:
    order = await buyer.order()
    pid = await payment_id(shop, order["order_no"])
    tampered = notice(order, pid)
    tampered["amount"] = "0.01"  # signature no longer matches
    assert (await client.post(CALLBACK, json=tampered)).text == "fail: bad_signature"
    resigned = notice(order, pid, amount="0.01")  # a correctly signed wrong amount
    r = await client.post(CALLBACK, json=resigned)
    assert r.status_code == 400 and r.text == "fail: amount_mismatch"
    assert (await client.post(CALLBACK, json=notice(order, pid, amount="50.0"))).text == (
        "fail: amount_mismatch")  # exact comparison of the decimal string
    assert (await buyer.status(order))["state"] == "pending_payment"


async def test_unknown_order_wrong_channel_and_malformed_bodies_fail(
        shop: RunningShop, client: httpx.AsyncClient, buyer: Buyer) -> None:
    order = await buyer.order()
    pid = await payment_id(shop, order["order_no"])
    ghost = notice({**order, "order_no": "NOPE"}, pid)
    assert (await client.post(CALLBACK, json=ghost)).text == "fail: unknown_order"
    other = notice(order, pid, secret="fakalab-secret-b")
    r = await client.post("/api/payments/callback/payment-b", json=other)
    assert r.text == "fail: wrong_channel"
    r = await client.post("/api/payments/callback/payment-z", json=notice(order, pid))
    assert r.text == "fail: unknown_channel"
    r = await client.post(CALLBACK, content=b"[1,2]")
    assert r.status_code == 400 and r.text.startswith("fail")
    r = await client.post(CALLBACK, content=b"\xff\xfe")
    assert r.status_code == 400


async def test_a_notice_for_another_payment_id_is_refused(
        shop: RunningShop, client: httpx.AsyncClient, buyer: Buyer) -> None:
    """Correctly signed, right order, channel and amount, but another payment: refused."""
    order = await buyer.order()
    r = await client.post(CALLBACK, json=notice(order, "PAnot-this-orders-payment"))
    assert r.status_code == 400 and r.text == "fail: wrong_payment_id"
    assert (await buyer.status(order))["state"] == "pending_payment"
    assert await attempts(shop, order["order_no"]) == ["wrong_payment_id"]


async def test_a_forged_attempt_is_stored_within_the_column_sizes(
        shop: RunningShop, client: httpx.AsyncClient) -> None:
    """Forged attempts are recorded too, and the channel comes from the URL, which no body
    limit bounds: a long channel name must not become a long row (and a 60 kB one does not
    even get past the request-line limit, reference_shop/guard.py)."""
    too_long = await client.post("/api/payments/callback/" + "z" * 60_000, json={})
    assert too_long.status_code == 431
    r = await client.post("/api/payments/callback/" + "z" * 8_000,
                          json={"trade_no": "x" * 1000, "amount": "1" * 1000, "sign": "s"})
    assert r.status_code == 400 and r.text == "fail: unknown_channel"
    async with shop.shop.db.read() as conn:
        row = (await conn.execute(select(db.callback_attempts))).mappings().one()
    assert (len(row["channel"]), len(row["trade_no"]), len(row["amount"])) == (32, 64, 32)


async def test_duplicate_concurrent_and_replayed_callbacks_deliver_once(
        shop: RunningShop, client: httpx.AsyncClient, buyer: Buyer) -> None:
    order = await buyer.order()
    good = notice(order, await payment_id(shop, order["order_no"]))
    answers = await asyncio.gather(*(client.post(CALLBACK, json=good) for _ in range(20)))
    assert {r.text for r in answers} == {"success"}
    view = await buyer.wait_state(order, "delivered")
    replay = await client.post(CALLBACK, json=good)
    assert replay.text == "success"
    outcomes = await attempts(shop, order["order_no"])
    assert outcomes.count("accepted") == 1 and outcomes.count("duplicate") == 20
    assert (await events(shop, order["order_no"])).count("paid") == 1
    assert (await buyer.status(order))["keys"] == view["keys"]


async def test_out_of_order_notice_does_not_undo_a_payment(
        shop: RunningShop, client: httpx.AsyncClient, buyer: Buyer) -> None:
    order = await buyer.order()
    pid = await payment_id(shop, order["order_no"])
    assert (await client.post(CALLBACK, json=notice(order, pid))).text == "success"
    stale = notice(order, pid, status="pending")  # an older notice arriving late
    assert (await client.post(CALLBACK, json=stale)).text == "success"
    await buyer.wait_state(order, "delivered")
    assert "pending_payment" not in (await events(shop, order["order_no"]))[1:]


async def test_late_callback_inside_window_with_stock_is_accepted(
        make_shop: Callable[..., Awaitable[RunningShop]]) -> None:
    shop = await make_shop(order_ttl_s=0.3, late_window_s=60)
    async with httpx.AsyncClient(base_url=shop.url, timeout=10) as client:
        b = Buyer(client)
        order = await b.order()
        pid = await payment_id(shop, order["order_no"])
        await b.wait_state(order, "expired")
        r = await client.post(CALLBACK, json=notice(order, pid))
        assert r.text == "success"
        view = await b.wait_state(order, "delivered")
        assert len(view["keys"]) == 1
        assert await attempts(shop, order["order_no"]) == ["late_accepted"]


async def test_late_callback_outside_window_goes_to_visible_needs_refund(
        make_shop: Callable[..., Awaitable[RunningShop]]) -> None:
    shop = await make_shop(order_ttl_s=0.3, late_window_s=0)
    async with httpx.AsyncClient(base_url=shop.url, timeout=10) as client:
        b = Buyer(client)
        order = await b.order()
        pid = await payment_id(shop, order["order_no"])
        await b.wait_state(order, "expired")
        await asyncio.sleep(0.1)
        assert (await client.post(CALLBACK, json=notice(order, pid))).text == "success"
        view = await b.status(order)
        assert view["state"] == "needs_refund" and "refund" in view["message"]
        stuck = await client.get("/api/admin/orders/stuck",
                                 headers={"Authorization": "Bearer test-admin-token"})
        assert order["order_no"] in {o["order_no"] for o in stuck.json()["orders"]}


async def test_late_callback_without_stock_goes_to_needs_refund(
        make_shop: Callable[..., Awaitable[RunningShop]]) -> None:
    shop = await make_shop(order_ttl_s=0.3, late_window_s=60)
    async with shop.shop.db.write() as conn:
        await conn.execute(db.products.insert().values(
            id="solo", name="Solo", price_cents=500, priority=1, kind="local", supplier_stock=0))
        await conn.execute(db.card_keys.insert().values(
            product_id="solo", secret="SOLO-1", status="available", source="local"))
    async with httpx.AsyncClient(base_url=shop.url, timeout=10) as client:
        b = Buyer(client)
        first = await b.order("solo")
        await b.wait_state(first, "expired")
        second = await b.order("solo")  # takes the released key
        await b.pay(second)
        await b.wait_state(second, "delivered")
        r = await client.post(CALLBACK, json=notice(first, await payment_id(
            shop, first["order_no"])))
        assert r.text == "success"
        assert (await b.status(first))["state"] == "needs_refund"


async def test_dropped_callback_is_recovered_by_reconciliation(
        upstream_urls: dict[str, str], shop: RunningShop, client: httpx.AsyncClient,
        buyer: Buyer) -> None:
    set_faults(upstream_urls, "payment-a", callback_drop_pct=100)
    order = await buyer.order()
    await buyer.pay(order)
    r = await client.post(f"/api/orders/{order['order_no']}/paid",
                          headers={"X-Order-Token": order["token"]})
    assert r.status_code == 202
    await buyer.wait_state(order, "delivered", timeout=20)
    assert "accepted" in await attempts(shop, order["order_no"])
    async with shop.shop.db.read() as conn:
        sources = {r[0] for r in await conn.execute(select(db.callback_attempts.c.source).where(
            db.callback_attempts.c.trade_no == order["order_no"]))}
    assert sources == {"query"}


async def test_without_reconciliation_a_dropped_callback_stays_unpaid(
        upstream_urls: dict[str, str], make_shop: Callable[..., Awaitable[RunningShop]]
) -> None:
    set_faults(upstream_urls, "payment-a", callback_drop_pct=100)
    shop = await make_shop(reconciliation=False)
    async with httpx.AsyncClient(base_url=shop.url, timeout=10) as client:
        b = Buyer(client)
        order = await b.order()
        await b.pay(order)
        await client.post(f"/api/orders/{order['order_no']}/paid",
                          headers={"X-Order-Token": order["token"]})
        await asyncio.sleep(1.5)
        assert (await b.status(order))["state"] == "pending_payment"


async def test_failover_to_channel_b_when_a_fails(
        upstream_urls: dict[str, str], buyer: Buyer) -> None:
    set_faults(upstream_urls, "payment-a", error_pct=100)
    order = await buyer.order()
    assert order["channel"] == "payment-b"
    await buyer.pay(order)
    await buyer.wait_state(order, "delivered")


async def test_without_failover_a_failing_channel_refuses_the_order(
        upstream_urls: dict[str, str], make_shop: Callable[..., Awaitable[RunningShop]]
) -> None:
    set_faults(upstream_urls, "payment-a", error_pct=100)
    shop = await make_shop(failover=False)
    async with httpx.AsyncClient(base_url=shop.url, timeout=10) as client:
        r = await client.post("/api/orders", json={"product_id": "steam-50",
                                                   "email": "a@b.c"})
    assert r.status_code == 503 and "payment channels unavailable" in r.json()["error"]


async def test_a_slow_reconciliation_query_does_not_hold_up_the_next_one(
        upstream_urls: dict[str, str], make_shop: Callable[..., Awaitable[RunningShop]]) -> None:
    """A round of reconciliation used to wait for all its queries: one channel answering in 8 s
    held up every overdue order behind it."""
    set_faults(upstream_urls, "payment-a", callback_drop_pct=100, query_latency_ms=8000)
    shop = await make_shop(upstream_timeout_s=15, retries=1)

    async def queries() -> int:
        async with httpx.AsyncClient(timeout=5) as http:
            stats = (await http.get(upstream_urls["payment-a"] + "/admin/stats")).json()
        return int(stats["queries"])

    async def said_paid_and_queried(client: httpx.AsyncClient, buyer: Buyer, seen: int) -> None:
        order = await buyer.order()
        await buyer.pay(order)
        r = await client.post(f"/api/orders/{order['order_no']}/paid",
                              headers={"X-Order-Token": order["token"]})
        assert r.status_code == 202
        deadline = time.monotonic() + 5  # well before the first query's 8 s are over
        while await queries() < seen + 1:
            assert time.monotonic() < deadline, "the query was held up"
            await asyncio.sleep(0.05)

    async with httpx.AsyncClient(base_url=shop.url, timeout=10) as client:
        buyer, before = Buyer(client), await queries()
        await said_paid_and_queried(client, buyer, before)
        await said_paid_and_queried(client, buyer, before + 1)  # the first still sleeps
