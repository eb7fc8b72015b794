import re
from collections.abc import AsyncIterator

import httpx
import pytest

from fakalab.reference_shop.upstreams import supplier

from .conftest import asgi_client

KEY = re.compile(r"^SUPB-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(supplier.create_app("B")) as client:
        yield client


async def keys(client: httpx.AsyncClient, order_no: str, quantity: int = 2) -> httpx.Response:
    body = {"order_no": order_no, "sku": "steam-10", "quantity": quantity}
    return await client.post("/api/keys", json=body)


async def test_keys_are_unique_and_well_formed(client: httpx.AsyncClient) -> None:
    first = (await keys(client, "O1", 3)).json()
    second = (await keys(client, "O2", 3)).json()
    issued = first["keys"] + second["keys"]
    assert first["order_no"] == "O1"
    assert len(set(issued)) == 6
    assert all(KEY.match(key) for key in issued)


async def test_asking_again_returns_the_same_keys(client: httpx.AsyncClient) -> None:
    first = (await keys(client, "O1")).json()
    assert (await keys(client, "O1", quantity=5)).json() == first
    stats = (await client.get("/admin/stats")).json()
    assert (stats["orders"], stats["keys_issued"], stats["repeats"]) == (1, 2, 1)


async def test_out_of_stock_spares_orders_already_served(client: httpx.AsyncClient) -> None:
    served = (await keys(client, "O1")).json()
    await client.patch("/admin/faults", json={"out_of_stock_pct": 100})
    response = await keys(client, "O2")
    assert (response.status_code, response.json()) == (409, {"error": "out_of_stock"})
    assert (await keys(client, "O1")).json() == served


async def test_injected_error(client: httpx.AsyncClient) -> None:
    await client.patch("/admin/faults", json={"error_pct": 100})
    response = await keys(client, "O1")
    assert (response.status_code, response.json()) == (503, {"error": "supplier error"})
    await client.delete("/admin/faults")
    assert (await keys(client, "O1")).status_code == 200


async def test_bad_request_and_health(client: httpx.AsyncClient) -> None:
    response = await keys(client, "O1", quantity=0)
    assert (response.status_code, response.json()["field"]) == (400, "quantity")
    health = (await client.get("/healthz")).json()
    assert (health["ok"], health["service"], len(health["instance"])) == (True, "supplier-b", 16)
    bad = await client.patch("/admin/faults", json={"out_of_stock_pct": 100.5})
    assert (bad.status_code, bad.json()["field"]) == (400, "out_of_stock_pct")
