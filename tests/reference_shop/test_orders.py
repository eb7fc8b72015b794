"""Ordering, stock reservation, delivery, expiry — against the shop served on loopback."""

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from fakalab.reference_shop.server import RunningShop
from fakalab.reference_shop.storage import products, stock
from fakalab.reference_shop.storage.rows import ProductRow
from fakalab.reference_shop.storage.writer import Cursor
from tests.reference_shop.conftest import BACKENDS, Buyer


async def test_order_is_paid_and_delivered_with_a_full_timeline(buyer: Buyer) -> None:
    order = await buyer.order()
    assert order["amount"] == "50.00" and order["pay_url"].startswith("http://127.0.0.1")
    await buyer.pay(order)
    view = await buyer.wait_state(order, "delivered")
    assert len(view["keys"]) == 1 and view["keys"][0].startswith("STEA-")
    assert [e["state"] for e in view["timeline"]] == [
        "pending_payment", "paid", "risk_check", "allocating", "delivering", "delivered"]
    assert view["paid_at"] <= view["delivered_at"]
    assert all(e["eta_at"] for e in view["timeline"][1:5])


async def test_supplier_product_is_delivered_with_the_suppliers_key(buyer: Buyer) -> None:
    order = await buyer.order("vip-month", quantity=2)
    await buyer.pay(order)
    view = await buyer.wait_state(order, "delivered")
    assert len(view["keys"]) == 2 and all(k.startswith("SUP") for k in view["keys"])
    assert view["timeline"][3]["message"] == "Fetching your key from the supplier."


async def test_unknown_product_and_bad_bodies_are_refused(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/orders", json={"product_id": "nope", "email": "a@b.c"})
    assert r.status_code == 404 and "nope" in r.json()["error"]
    r = await client.post("/api/orders", json={"product_id": "steam-50", "email": "not-mail"})
    assert r.status_code == 422
    r = await client.post("/api/orders", json={"product_id": "steam-50", "email": "a@b.c",
                                               "quantity": 0})
    assert r.status_code == 422
    r = await client.post("/api/orders", content=b"{not json",
                          headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = await client.post("/api/orders", content=b"x" * 20_000,
                          headers={"content-type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize("backend", BACKENDS)
async def test_200_concurrent_orders_race_for_the_last_50_keys(
        make_shop: Callable[..., Awaitable[RunningShop]], backend: str) -> None:
    shop = await make_shop()
    assert shop.shop.db.dialect == {"sqlite": "sqlite", "postgres": "postgresql"}[backend]
    await shop.shop.db.run(lambda c: (
        products.add_product(c, ProductRow("last-50", "Last fifty", 100, 1, "local")),
        stock.add_keys(c, "last-50", [f"K-{i:03d}" for i in range(50)])))
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(base_url=shop.url, timeout=60, limits=limits) as client:
        body = {"product_id": "last-50", "quantity": 1, "email": "race@example.com"}
        answers = await asyncio.gather(*(client.post("/api/orders", json=body)
                                         for _ in range(200)))
        codes = sorted(r.status_code for r in answers)
        assert codes.count(201) == 50 and codes.count(409) == 150
        won = [r.json() for r in answers if r.status_code == 201]
        await asyncio.gather(*(client.post(o["pay_url"]) for o in won))
        b = Buyer(client)
        views = [await b.wait_state(o, "delivered", timeout=60) for o in won]
    keys = [k for v in views for k in v["keys"]]
    assert len(keys) == 50 and len(set(keys)) == 50
    sold = (await shop.shop.db.run(lambda c: c.one(
        "SELECT COUNT(*) FROM card_keys WHERE product_id = ? AND status = ?", "last-50",
        "sold")))[0]
    assert sold == 50


async def test_unpaid_order_expires_and_releases_its_keys(
        make_shop: Callable[..., Awaitable[RunningShop]]) -> None:
    shop = await make_shop(order_ttl_s=0.5)
    async with httpx.AsyncClient(base_url=shop.url, timeout=10) as client:
        before = {p["id"]: p["stock"] for p in (await client.get("/api/products")).json()}
        buyer = Buyer(client)
        order = await buyer.order("win-pro", quantity=3)
        view = await buyer.wait_state(order, "expired", timeout=10)
        assert "released" in view["message"]
        await asyncio.sleep(1.1)  # the catalog is cached for a second
        after = {p["id"]: p["stock"] for p in (await client.get("/api/products")).json()}
    assert after["win-pro"] == before["win-pro"]


async def test_out_of_stock_is_known_before_payment(
        make_shop: Callable[..., Awaitable[RunningShop]]) -> None:
    shop = await make_shop()
    await shop.shop.db.run(lambda c: (
        products.add_product(c, ProductRow("one-left", "One", 100, 1, "local")),
        stock.add_keys(c, "one-left", ["ONLY"])))
    async with httpx.AsyncClient(base_url=shop.url, timeout=10) as client:
        r = await client.post("/api/orders", json={"product_id": "one-left", "quantity": 2,
                                                   "email": "a@b.c"})
        assert r.status_code == 409 and "out of stock" in r.json()["error"]
        r = await client.post("/api/orders", json={"product_id": "one-left", "quantity": 1,
                                                   "email": "a@b.c"})
        assert r.status_code == 201


async def test_metrics_and_health(client: httpx.AsyncClient, buyer: Buyer) -> None:
    order = await buyer.order()
    await buyer.pay(order)
    await buyer.wait_state(order, "delivered")
    text = (await client.get("/metrics")).text
    assert 'fakalab_orders{state="delivered"} 1.0' in text
    assert "fakalab_stage_seconds_bucket" in text and "fakalab_queue_depth" in text
    assert 'fakalab_upstream_calls_total{outcome="ok",upstream="risk"}' in text
    assert (await client.get("/healthz")).json()["ok"] is True


async def test_a_delivered_order_is_never_seen_without_its_keys(
        client: httpx.AsyncClient, buyer: Buyer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Buyers polling in a tight loop during delivery: every 'delivered' answer has the keys
    (the view is updated only once the keys have been read). Reading keys is slowed down to
    widen the window in which a careless update would show 'delivered' with no keys."""
    real = stock.reserved_keys

    def slow_reserved_keys(c: Cursor, order_no: str) -> list[str]:
        time.sleep(0.05)  # on the writer's thread: the delivery's unit takes longer
        return real(c, order_no)

    monkeypatch.setattr(stock, "reserved_keys", slow_reserved_keys)
    orders = [await buyer.order(p) for p in ["steam-50", "vip-month"] * 6]
    await asyncio.gather(*(buyer.pay(o) for o in orders))

    async def watch(order: dict[str, str]) -> list[dict[str, object]]:
        seen = []
        for _ in range(2000):
            view = await buyer.status(order)
            seen.append(view)
            if view["state"] == "delivered":
                break
        return seen

    observations = [v for seen in await asyncio.gather(*(watch(o) for o in orders))
                    for v in seen]
    delivered = [v for v in observations if v["state"] == "delivered"]
    assert len(delivered) == len(orders)
    assert all(v["keys"] for v in delivered)
