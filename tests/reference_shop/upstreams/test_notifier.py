from collections.abc import AsyncIterator

import httpx
import pytest

from fakalab.reference_shop.upstreams import notifier

from .conftest import asgi_client


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(notifier.create_app(keep=2)) as client:
        yield client


async def notify(client: httpx.AsyncClient, order_no: str) -> httpx.Response:
    body = {"order_no": order_no, "email": "a@b.c", "message": "your key"}
    return await client.post("/api/notify", json=body)


async def test_notifications_are_counted_and_the_last_kept(client: httpx.AsyncClient) -> None:
    for order_no in ("O1", "O2", "O3"):
        response = await notify(client, order_no)
        assert (response.status_code, response.json()) == (202, {"queued": True})
    kept = (await client.get("/admin/notifications")).json()
    assert kept["count"] == 3
    assert [n["order_no"] for n in kept["recent"]] == ["O2", "O3"]


async def test_failures(client: httpx.AsyncClient) -> None:
    await client.patch("/admin/faults", json={"failure_pct": 100})
    assert (await notify(client, "O1")).status_code == 503
    await client.patch("/admin/faults", json={"failure_pct": 0})
    assert (await notify(client, "O2")).status_code == 202
    stats = (await client.get("/admin/stats")).json()
    assert (stats["requests"], stats["failures"], stats["notifications"]) == (2, 1, 1)
    assert (await client.get("/admin/notifications")).json()["count"] == 1
