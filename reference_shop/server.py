"""Serve the shop in the current event loop on a socket of its own (tests, benchmarks).

``fakalab shop`` is the command-line way; this is the library way::

    async with serve_shop(settings) as running:
        httpx.get(running.url + "/healthz")
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from fakalab.contract.shop_settings import ShopSettings
from fakalab.reference_shop.app import create_app
from fakalab.reference_shop.composition import Shop
from fakalab.reference_shop.demo import DEMO_PRODUCTS, Product, load_catalog
from fakalab.reference_shop.guard import ConnectionLimits, Refusals, guarded_protocol, usable_fds

__all__ = ["RunningShop", "serve_shop", "uvicorn_config"]


@dataclass
class RunningShop:
    app: FastAPI
    url: str
    server: uvicorn.Server

    @property
    def shop(self) -> Shop:
        shop: Shop = self.app.state.shop
        return shop


def uvicorn_config(app: FastAPI, settings: ShopSettings, log_level: str = "warning",
                   graceful_s: int = 5) -> uvicorn.Config:
    """How the shop is served, by `fakalab shop` and `serve_shop` alike: httptools behind the
    connection guard (reference_shop/guard.py) holding the admission door, no access log,
    and `proxy_headers=False` — the client address is the socket's, never an X-Forwarded-For
    a client could forge to dodge the per-address limits (docs/security.md)."""
    shop: Shop = app.state.shop
    limits = ConnectionLimits(
        max_connections=min(settings.max_connections, usable_fds()),
        max_header_bytes=settings.max_header_bytes, max_headers=settings.max_headers,
        header_timeout_s=settings.header_timeout_s)
    refused = shop.state.metrics.refused
    protocol = guarded_protocol(limits, Refusals(on_refusal=lambda r: refused.labels(r).inc()),
                                door=getattr(app.state, "door", None))
    return uvicorn.Config(app, log_level=log_level, access_log=False, http=protocol,
                          lifespan="on", timeout_graceful_shutdown=graceful_s,
                          proxy_headers=False, backlog=4096)


@contextlib.asynccontextmanager
async def serve_shop(settings: ShopSettings, catalog: tuple[Product, ...] | None = DEMO_PRODUCTS
                     ) -> AsyncIterator[RunningShop]:
    """Run the shop on ``settings.host`` (port 0 picks a free port) until the block exits."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(1024)
    settings.port = sock.getsockname()[1]
    app = create_app(settings)
    shop: Shop = app.state.shop
    await shop.open()
    if catalog:
        await load_catalog(shop.db, catalog)
    server = uvicorn.Server(uvicorn_config(app, settings, "warning", graceful_s=2))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign,attr-defined]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("shop server stopped during start-up")
            await asyncio.sleep(0.01)
        yield RunningShop(app, f"http://{settings.host}:{settings.port}", server)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()
