"""One client cannot take the shop down (reference_shop/guard.py): idle and trickling
connections are closed, oversized headers refused, and buyers keep being served while it
happens — with the shop as a real process on loopback, its limits set small.

Before the guard: 20,000 idle connections took every file descriptor (every journey failed,
/healthz too, and the log said nothing); a 100 MB header was read whole; 100,000 headers were
accepted; idle and trickling connections were never closed.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fakalab.reference_shop.process import ShopProcess
from tests.reference_shop.conftest import Buyer

LIMITS = ["--set", "max_connections=64", "--set", "header_timeout_s=1",
          "--set", "max_header_bytes=8192", "--set", "max_headers=40"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, upstream_urls: dict[str, str]
         ) -> Iterator[ShopProcess]:
    tmp = tmp_path_factory.mktemp("limits")
    with ShopProcess(f"sqlite:///{tmp / 'shop.db'}", upstream_urls,
                     admin_token="limits", options=LIMITS, log_path=tmp / "shop.log") as proc:
        yield proc


def _address(shop: ShopProcess) -> tuple[str, int]:
    host, port = shop.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closed `sock` (EOF or reset) within `seconds`."""
    sock.settimeout(seconds)
    try:
        return sock.recv(4096) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def _metric(shop: ShopProcess, reason: str) -> float:
    text = httpx.get(shop.url + "/metrics").text
    for line in text.splitlines():
        if line.startswith(f'fakalab_connections_refused_total{{reason="{reason}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_an_idle_flood_does_not_stop_buyers(shop: ShopProcess) -> None:
    flood = [socket.create_connection(_address(shop)) for _ in range(300)]  # 64 allowed
    try:
        async with httpx.AsyncClient(base_url=shop.url, timeout=30) as client:
            assert (await client.get("/healthz")).status_code == 200
            buyer = Buyer(client)
            order = await buyer.order("steam-50")
            await buyer.pay(order)
            view = await buyer.wait_state(order, "delivered", timeout=60)
        assert view["keys"]
        assert _metric(shop, "evicted_idle") > 0
        # what is left of the flood is closed once the header timeout (1 s) has passed
        assert all(_closed_within(s, 20) for s in flood[-20:])
    finally:
        for s in flood:
            s.close()
    assert _metric(shop, "header_timeout") > 0
    log = Path(shop.log_path).read_text() if shop.log_path else ""
    assert "closed the longest-idle ones" in log and "no complete request within 1 s" in log


def test_a_trickled_request_is_closed_at_the_header_timeout(shop: ShopProcess) -> None:
    with socket.create_connection(_address(shop)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 20 and not closed:
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            closed = not _alive(sock, 0.3)
        assert closed


def _alive(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1) != b""
    except TimeoutError:
        return True
    except (ConnectionResetError, BrokenPipeError):
        return False


@pytest.mark.parametrize("request_bytes", [
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-H%d: v\r\n" % i for i in range(1000)) + b"\r\n",
])
def test_oversized_headers_are_refused_with_431(shop: ShopProcess, request_bytes: bytes
                                                ) -> None:
    with socket.create_connection(_address(shop)) as sock:
        sock.settimeout(20)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request_bytes)  # may be refused before the whole of it was sent
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    assert httpx.get(shop.url + "/healthz").status_code == 200
    assert _metric(shop, "headers_too_large") > 0


def test_a_request_with_a_normal_body_is_untouched(shop: ShopProcess) -> None:
    """The header limit counts the headers, not a body that arrives in the same packet."""
    keys = [f"KEY-{i:05d}-{'x' * 40}" for i in range(10_000)]  # ~500 kB, one restock
    answer = httpx.post(shop.url + "/api/admin/restock", timeout=60,
                        json={"product_id": "steam-50", "keys": keys},
                        headers={"Authorization": "Bearer limits"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["added_keys"] == 10_000
