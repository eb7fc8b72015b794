"""Shop fixtures: real upstream processes on loopback and the shop served in the test's loop."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_bindir() -> Path | None:
    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True):
        return Path(initdb).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A private PostgreSQL cluster on a free port, for the session: its base URL
    (``postgresql://fakalab@127.0.0.1:PORT``, trust authentication) with a database ``shop``.
    Skipped when the server binaries (initdb, pg_ctl) are not installed."""
    bindir = _postgres_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        pytest.skip("the PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    as_owner: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="fakalab-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root: the cluster belongs to "postgres"
        if shutil.which("runuser") is None or subprocess.run(
                ["id", "postgres"], capture_output=True).returncode != 0:
            pytest.skip("running as root, and there is no postgres user to own the cluster")
        shutil.chown(root, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()

    def pg(*args: str) -> None:
        subprocess.run([*as_owner, *args], check=True, capture_output=True, timeout=120)

    pg(str(bindir / "initdb"), "-D", str(data), "-U", "fakalab", "--auth=trust", "-E", "UTF8",
       "--no-sync")
    pg(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-o",
       f"-p {port} -h 127.0.0.1 -k {root} -c fsync=off -c full_page_writes=off", "start")
    try:
        pg(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "fakalab",
           "shop")
        yield f"postgresql://fakalab@127.0.0.1:{port}"
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            pg(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_database(postgres: str) -> str:
    """A fresh, empty database in the session's cluster: its URL."""
    name = f"t{os.getpid()}_{time.monotonic_ns()}"
    port = postgres.rpartition(":")[2]
    bindir = _postgres_bindir()
    assert bindir is not None
    subprocess.run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", port, "-U", "fakalab",
                    name], check=True, capture_output=True, timeout=60)
    return f"{postgres}/{name}"


@pytest.fixture(scope="session")
def upstream_urls() -> Iterator[dict[str, str]]:
    with UpstreamsProcess() as ups:
        yield dict(ups.urls)


def reset_faults(urls: dict[str, str]) -> None:
    for url in urls.values():
        httpx.delete(url + "/admin/faults", timeout=5).raise_for_status()


def set_faults(urls: dict[str, str], name: str, **faults: Any) -> None:
    httpx.patch(urls[name] + "/admin/faults", json=faults, timeout=5).raise_for_status()


def shop_settings(tmp_path: Path, urls: dict[str, str], **overrides: Any) -> ShopSettings:
    values: dict[str, Any] = dict(
        db_url=f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}", port=0, upstreams=urls,
        admin_token=ADMIN, upstream_timeout_s=2.0, backoff_base_s=0.02, retries=3,
        reconcile_after_paid_s=0.5, reconcile_interval_s=0.2, sweep_interval_s=0.5,
        stall_after_s=2.0)
    values.update(overrides)
    return ShopSettings(**values)


@pytest.fixture
async def make_shop(tmp_path: Path, upstream_urls: dict[str, str]
                    ) -> AsyncIterator[Callable[..., Any]]:
    reset_faults(upstream_urls)
    cms: list[Any] = []

    async def make(**overrides: Any) -> RunningShop:
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
