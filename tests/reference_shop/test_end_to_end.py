"""The shop and its upstreams as real processes on loopback: 50 orders, creation to delivery."""

import asyncio
import csv
import io
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from fakalab.reference_shop.process import ShopProcess, ShopProcessError
from tests.reference_shop.conftest import Buyer


async def test_fifty_orders_from_creation_to_delivery(
        tmp_path: Path, upstream_urls: dict[str, str]) -> None:
    db_url = f"sqlite:///{tmp_path / 'e2e.db'}"
    with ShopProcess(db_url, upstream_urls, admin_token="e2e", log_path=tmp_path / "shop.log"
                     ) as shop:
        async with httpx.AsyncClient(base_url=shop.url, timeout=30,
                                     limits=httpx.Limits(max_connections=50)) as client:
            b = Buyer(client)
            products = ["steam-50", "win-pro", "vip-month", "game-cdk"]
            orders = await asyncio.gather(*(b.order(products[i % 4]) for i in range(50)))
            await asyncio.gather(*(b.pay(o) for o in orders))
            views = await asyncio.gather(*(b.wait_state(o, "delivered", timeout=60)
                                           for o in orders))
            events = (await client.get("/api/admin/export/events.csv",
                                       headers={"Authorization": "Bearer e2e"})).text
            metrics = (await client.get("/metrics")).text
    # the collector's pauses are measured, and it is tuned: at CPython's default threshold
    # these 50 orders took 33 young passes, tuned none (reference_shop/collector.py)
    young = [float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
             if line.startswith('fakalab_gc_pause_seconds_count{generation="0"}')]
    assert young and young[0] < 10
    keys = [k for v in views for k in v["keys"]]
    assert len(keys) == 50 and len(set(keys)) == 50
    rows = list(csv.DictReader(io.StringIO(events)))
    assert len({r["order_no"] for r in rows}) == 50
    delivered = [r for r in rows if r["state"] == "delivered"]
    assert len(delivered) == 50
    assert shop.proc is not None and shop.proc.returncode == 0  # clean SIGTERM exit


def test_busy_port_is_a_clear_error(tmp_path: Path, upstream_urls: dict[str, str]) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "fakalab.reference_shop.cli",
                              "--port", str(port),
                              "--db", f"sqlite:///{tmp_path / 'x.db'}"],
                             capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr
    assert "Traceback" not in run.stderr


def test_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "fakalab.reference_shop.cli", "--set", "workers=0",
                          "--port", "0"], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "workers" in run.stderr and "Traceback" not in run.stderr
    with pytest.raises(ShopProcessError):
        ShopProcess("sqlite:///x.db", {}, options=["--set", "nonsense=1"]).start()


def test_sigint_stops_the_shop_cleanly(tmp_path: Path, upstream_urls: dict[str, str]) -> None:
    shop = ShopProcess(f"sqlite:///{tmp_path / 's.db'}", upstream_urls)
    shop.start()
    assert shop.proc is not None
    shop.proc.send_signal(signal.SIGINT)
    assert shop.proc.wait(20) == 0


def test_the_public_default_secrets_are_announced_loudly(tmp_path: Path,
                                                         upstream_urls: dict[str, str]) -> None:
    """A correctly signed notice with the default secret delivers keys: a shop started with
    them must say so at start-up (and stay quiet once it has secrets of its own)."""
    loud, quiet = tmp_path / "loud.log", tmp_path / "quiet.log"
    with ShopProcess(f"sqlite:///{tmp_path / 'a.db'}", upstream_urls, log_path=loud):
        pass
    own = ["--set", 'payment_secrets={"payment-a": "own-a", "payment-b": "own-b"}']
    with ShopProcess(f"sqlite:///{tmp_path / 'b.db'}", upstream_urls, options=own,
                     log_path=quiet):
        pass
    warnings = [line for line in loud.read_text().splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 2 and "payment-a uses the public default secret" in warnings[0]
    assert "WARNING" not in quiet.read_text()
