from collections.abc import AsyncIterator

import httpx
import pytest

from fakalab.reference_shop.upstreams import risk
from fakalab.reference_shop.upstreams.risk import decide

from .conftest import asgi_client


def test_without_faults_everything_passes() -> None:
    results = [decide(7, f"O{i}", 0) for i in range(500)]
    assert all(r["decision"] == "pass" and r["score"] < 0.5 for r in results)


def test_false_positives_are_deterministic_and_proportional() -> None:
    results = [decide(7, f"O{i}", 30) for i in range(2000)]
    assert results == [decide(7, f"O{i}", 30) for i in range(2000)]
    reviews = [r for r in results if r["decision"] == "review"]
    assert 500 < len(reviews) < 700
    assert all(r["reason"] == "velocity rule" and r["score"] >= 0.5 for r in reviews)


def test_a_higher_rate_keeps_earlier_reviews() -> None:
    low = {f"O{i}" for i in range(500) if decide(1, f"O{i}", 10)["decision"] == "review"}
    high = {f"O{i}" for i in range(500) if decide(1, f"O{i}", 40)["decision"] == "review"}
    assert low < high


def test_seed_changes_who_is_reviewed() -> None:
    first = [decide(1, f"O{i}", 50)["decision"] for i in range(200)]
    assert first != [decide(2, f"O{i}", 50)["decision"] for i in range(200)]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(risk.create_app(seed=3)) as client:
        yield client


async def check(client: httpx.AsyncClient, order_no: str) -> httpx.Response:
    body = {"order_no": order_no, "email": "a@b.c", "amount": "9.90", "product_id": 4}
    return await client.post("/api/check", json=body)


async def test_check_route(client: httpx.AsyncClient) -> None:
    assert (await check(client, "O1")).json() == decide(3, "O1", 0)
    await client.patch("/admin/faults", json={"false_positive_pct": 100})
    reviewed = (await check(client, "O1")).json()
    assert reviewed == decide(3, "O1", 100)
    assert reviewed["decision"] == "review"
    stats = (await client.get("/admin/stats")).json()
    assert (stats["checks"], stats["passed"], stats["reviewed"]) == (2, 1, 1)


async def test_injected_error(client: httpx.AsyncClient) -> None:
    await client.patch("/admin/faults", json={"error_pct": 100})
    assert (await check(client, "O1")).status_code == 503
    missing = await client.post("/api/check", json={"order_no": "O1"})
    assert missing.status_code == 400
