import asyncio
import socket

import httpx
import pytest

from fakalab.contract.services import SERVICES
from fakalab.reference_shop.upstreams.process import find_port_base
from fakalab.reference_shop.upstreams.runner import (
    BindError,
    Settings,
    bind_sockets,
    build_app,
    serve,
)

from .conftest import asgi_client


async def test_every_service_answers_healthz_with_its_name() -> None:
    for name in SERVICES:
        async with asgi_client(build_app(name, Settings())) as client:
            health = (await client.get("/healthz")).json()
            assert (health["ok"], health["service"], len(health["instance"])) == (True, name, 16)


def test_pay_urls_use_the_listening_address() -> None:
    assert Settings(port_base=9300).public_url("payment-b") == "http://127.0.0.1:9302"
    assert Settings(host="0.0.0.0").public_url("payment-a") == "http://127.0.0.1:9101"
    assert Settings(public_host="shop.test").public_url("payment-a") == "http://shop.test:9101"


def test_a_taken_port_closes_the_sockets_already_bound() -> None:
    base = find_port_base()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", base + SERVICES["risk"]))
        blocker.listen()
        with pytest.raises(BindError) as caught:
            bind_sockets(Settings(port_base=base))
    assert (caught.value.name, caught.value.port) == ("risk", base + 5)
    assert "port already in use" in str(caught.value)
    again = bind_sockets(Settings(port_base=base, only=("payment-a", "supplier-b")))
    assert list(again) == ["payment-a", "supplier-b"]
    for sock in again.values():
        sock.close()


async def test_serve_in_process_until_stopped() -> None:
    settings = Settings(port_base=find_port_base(), only=("risk", "notify"))
    stop = asyncio.Event()
    ready: dict[str, str] = {}
    task = asyncio.create_task(
        serve(settings, bind_sockets(settings), ready.update, stop, handle_signals=False)
    )
    async with asyncio.timeout(30):
        while not ready:
            await asyncio.sleep(0.01)
    assert ready == {"risk": settings.url("risk"), "notify": settings.url("notify")}
    async with httpx.AsyncClient(trust_env=False) as client:
        assert (await client.get(ready["notify"] + "/healthz")).json()["service"] == "notify"
    stop.set()
    await asyncio.wait_for(task, 30)
