"""Shop fixtures: real upstream processes on loopback and the shop served in the test's loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakalab.contract.shop_settings import ShopSettings
from fakalab.reference_shop.server import RunningShop, serve_shop
from fakalab.reference_shop.upstreams.process import UpstreamsProcess

ADMIN = "test-admin-token"



@pytest.fixture(scope="session")
def upstream_urls() -> Iterator[dict[str, str]]:
    with UpstreamsProcess() as ups:
        yield dict(ups.urls)


def reset_faults(urls: dict[str, str]) -> None:
    for url in urls.values():
        httpx.delete(url + "/admin/faults", timeout=5).raise_for_status()


def set_faults(urls: dict[str, str], name: str, **faults: Any) -> None:
    httpx.patch(urls[name] + "/admin/faults", json=faults, timeout=5).raise_for_status()


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shop.db'}"


def shop_settings(tmp_path: Path, urls: dict[str, str], **overrides: Any) -> ShopSettings:
    values: dict[str, Any] = dict(
        db_url=sqlite_url(tmp_path), port=0, upstreams=urls,
        admin_token=ADMIN, upstream_timeout_s=2.0, backoff_base_s=0.02, retries=3,
        reconcile_after_paid_s=0.5, reconcile_interval_s=0.2, sweep_interval_s=0.5,
        stall_after_s=2.0)
    values.update(overrides)
    return ShopSettings(**values)


@pytest.fixture
def backend() -> str:
    """The shop's database backend: "sqlite", unless a test parametrizes ``backend`` over
    ``BACKENDS`` to run on PostgreSQL too (a fresh database in the session's cluster)."""
    return "sqlite"


BACKENDS = ["sqlite", "postgres"]


@pytest.fixture
def shop_db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The database URL of the test's shops (``make_shop``'s in-process ones, or a
    ShopProcess): the SQLite file ``shop_settings`` gives, or, for ``backend == "postgres"``, a
    fresh PostgreSQL database (skipped where the server binaries are absent)."""
    if backend == "postgres":
        url: str = request.getfixturevalue("pg_database")
        return url
    assert backend == "sqlite", backend
    return sqlite_url(tmp_path)


@pytest.fixture
async def make_shop(tmp_path: Path, upstream_urls: dict[str, str], shop_db_url: str
                    ) -> AsyncIterator[Callable[..., Any]]:
    reset_faults(upstream_urls)
    cms: list[Any] = []

    async def make(**overrides: Any) -> RunningShop:
        overrides.setdefault("db_url", shop_db_url)
        cm = serve_shop(shop_settings(tmp_path, upstream_urls, **overrides))
        cms.append(cm)
        return await cm.__aenter__()

    yield make
    for cm in reversed(cms):
        await cm.__aexit__(None, None, None)
    reset_faults(upstream_urls)


@pytest.fixture
async def shop(make_shop: Callable[..., Awaitable[RunningShop]]) -> RunningShop:
    return await make_shop()


@pytest.fixture
async def client(shop: RunningShop) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=shop.url, timeout=10) as c:
        yield c


class Buyer:
    """A test buyer: orders, pays at the provider, watches the order."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def order(self, product_id: str = "steam-50", quantity: int = 1,
                    **extra: Any) -> dict[str, Any]:
        r = await self.client.post("/api/orders", json={
            "product_id": product_id, "quantity": quantity, "email": "buyer@example.com",
            **extra})
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()
        return data

    async def pay(self, order: dict[str, Any]) -> None:
        r = await self.client.post(order["pay_url"])
        assert r.status_code == 200, r.text

    async def status(self, order: dict[str, Any]) -> dict[str, Any]:
        r = await self.client.get(f"/api/orders/{order['order_no']}",
                                  headers={"X-Order-Token": order["token"]})
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    async def wait_state(self, order: dict[str, Any], *states: str,
                         timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            view = await self.status(order)
            if view["state"] in states:
                return view
            if time.monotonic() > deadline:
                raise AssertionError(f"order stuck in {view['state']}, wanted {states}")
            await asyncio.sleep(0.05)


@pytest.fixture
def buyer(client: httpx.AsyncClient) -> Buyer:
    return Buyer(client)
