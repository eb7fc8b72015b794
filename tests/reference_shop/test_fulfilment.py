"""Fulfilment under upstream faults: review, failover, exhausted retries, notifications,
incidents, and a restart with orders in flight."""

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from fakalab.reference_shop.server import RunningShop, serve_shop
from tests.reference_shop.conftest import ADMIN, Buyer, reset_faults, set_faults, shop_settings

AUTH = {"Authorization": f"Bearer {ADMIN}"}


async def test_risk_false_positive_waits_for_review_then_admin_delivers(
        upstream_urls: dict[str, str], client: httpx.AsyncClient, buyer: Buyer) -> None:
    set_faults(upstream_urls, "risk", false_positive_pct=100)
    order = await buyer.order()
    await buyer.pay(order)
    view = await buyer.wait_state(order, "needs_review")
    assert "review" in view["message"] and view["eta_at"] is None
    r = await client.post(f"/api/admin/orders/{order['order_no']}/redeliver", headers=AUTH)
    assert r.status_code == 200 and r.json()["state"] == "allocating"
    await buyer.wait_state(order, "delivered")
    again = await client.post(f"/api/admin/orders/{order['order_no']}/redeliver", headers=AUTH)
    assert again.status_code == 409


async def test_supplier_failover_and_exhaustion(upstream_urls: dict[str, str],
                                                client: httpx.AsyncClient, buyer: Buyer) -> None:
    set_faults(upstream_urls, "supplier-a", error_pct=100)
    order = await buyer.order("vip-month")
    await buyer.pay(order)
    view = await buyer.wait_state(order, "delivered")
    assert view["keys"][0].startswith("SUPB")
    set_faults(upstream_urls, "supplier-b", out_of_stock_pct=100)
    stuck = await buyer.order("vip-month")
    await buyer.pay(stuck)
    view = await buyer.wait_state(stuck, "needs_attention")
    assert "Staff have been alerted" in view["message"]
    refund = await client.post(f"/api/admin/orders/{stuck['order_no']}/refund", headers=AUTH)
    assert refund.json()["state"] == "refunded"


async def test_notification_failure_never_blocks_delivery(
        upstream_urls: dict[str, str], buyer: Buyer) -> None:
    set_faults(upstream_urls, "notify", failure_pct=100)
    order = await buyer.order()
    await buyer.pay(order)
    await buyer.wait_state(order, "delivered")


async def test_incident_opens_and_held_orders_show_it_then_recover(
        upstream_urls: dict[str, str], make_shop: Callable[..., Awaitable[RunningShop]]) -> None:
    set_faults(upstream_urls, "risk", error_pct=100)
    running = await make_shop(retries=1, breaker_threshold=3, hold_retry_s=0.2)
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
        b = Buyer(client)
        orders = [await b.order() for _ in range(4)]
        for o in orders:
            await b.pay(o)
        for _ in range(50):
            status = (await client.get("/api/status")).json()
            if status["incidents"]:
                break
            await asyncio.sleep(0.1)
        assert status["components"]["risk"] != "operational"
        incident = next(i for i in status["incidents"] if i["component"] == "risk")
        assert incident["state"] == "investigating"
        await asyncio.sleep(1.0)  # several failed retries: held, not parked for a person
        seen = await b.status(orders[0])
        assert seen["state"] == "risk_check"
        note = next(i for i in seen["incidents"] if i["component"] == "risk")
        assert "security check" in note["message"]
        assert "fakalab_orders_held_total" in (await client.get("/metrics")).text
        reset_faults(upstream_urls)  # the risk service recovers: every held order goes through
        for o in orders:
            await b.wait_state(o, "delivered")
    rows = await running.shop.db.run(lambda c: c.all(
        "select component, state from incident_updates"))
    assert ("risk", "investigating") in rows


@pytest.mark.parametrize("hold_s", [0.0, 1.0])
async def test_an_order_held_past_hold_s_is_parked_for_a_person(
        upstream_urls: dict[str, str], make_shop: Callable[..., Awaitable[RunningShop]],
        hold_s: float) -> None:
    set_faults(upstream_urls, "risk", error_pct=100)
    running = await make_shop(retries=1, hold_s=hold_s, hold_retry_s=0.2)
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
        b = Buyer(client)
        order = await b.order()
        await b.pay(order)
        view = await b.wait_state(order, "needs_attention")
        assert "Staff have been alerted" in view["message"]
        held = next(float(line.split()[-1]) for line in (await client.get("/metrics")).text
                    .splitlines() if line.startswith("fakalab_orders_held_total"))
        assert (held > 0) == (hold_s > 0)


async def test_restart_with_orders_in_flight_delivers_each_exactly_once(
        tmp_path: Path, upstream_urls: dict[str, str]) -> None:
    # risk at 1.5 s (under the 2 s call timeout) counts as slow here, so the first shop stores
    # an incident before it stops; 10 orders on 2 workers then take longer than the shutdown,
    # so work is still in flight when the first shop stops (at 400 ms a fast shop could finish
    # everything during its graceful shutdown, and nothing was left to resume)
    set_faults(upstream_urls, "risk", latency_ms=1500)
    settings = shop_settings(tmp_path, upstream_urls, workers=2, slow_upstream_ms=100)
    orders = []
    async with serve_shop(settings) as first:
        async with httpx.AsyncClient(base_url=first.url, timeout=10) as client:
            b = Buyer(client)
            orders = [await b.order(p) for p in ["steam-50", "vip-month"] * 5]
            for o in orders:
                await b.pay(o)
            for _ in range(50):
                if (await client.get("/api/status")).json()["incidents"]:
                    break
                await asyncio.sleep(0.1)
            states = {(await b.status(o))["state"] for o in orders}
    assert states & {"paid", "risk_check"}, states  # stopped with work in flight
    set_faults(upstream_urls, "risk", latency_ms=0)
    async with serve_shop(shop_settings(tmp_path, upstream_urls), catalog=None) as second:
        async with httpx.AsyncClient(base_url=second.url, timeout=10) as client:
            b = Buyer(client)
            status = (await client.get("/api/status")).json()  # buyers are told why
            note = next(i for i in status["incidents"] if i["component"] == "fulfilment")
            assert "restarted after an interruption" in note["message"]
            views = [await b.wait_state(o, "delivered", timeout=30) for o in orders]
        delivered, sold, incidents = await second.shop.db.run(lambda c: (
            c.one("select count(*) from order_events where state = ?", "delivered")[0],
            c.one("select count(*) from card_keys where status = ?", "sold")[0],
            c.all("select incident_id, component from incident_updates")))
    assert delivered == len(orders) and sold == len(orders)
    assert {c for _, c in incidents} >= {"risk", "fulfilment"}  # before and after the restart
    assert len({i for i, _ in incidents}) == len(set(incidents))  # one component per incident id
    keys = [k for v in views for k in v["keys"]]
    assert len(set(keys)) == len(orders)
