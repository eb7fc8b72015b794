"""The reference shop's ASGI application: ``create_app(settings)``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fakalab.contract.shop_settings import ShopSettings
from fakalab.reference_shop.api import admin, buyer, callbacks, epay, receipts
from fakalab.reference_shop.api.admission import AdmissionDoor, AdmissionGate
from fakalab.reference_shop.api.fastpath import StatusFastPath
from fakalab.reference_shop.api.models import Health
from fakalab.reference_shop.composition import build_shop
from fakalab.reference_shop.epay_channel import NOTIFY_PATH
from fakalab.reference_shop.tracing import TraceRequests

__all__ = ["BodyLimit", "create_app", "traced_route"]

CALLBACKS = "/api/payments/callback/"
CREATE = "POST /api/orders"  # the only span that starts a trace of its own (a buyer with none)


def traced_route(method: str, path: str) -> str | None:
    """The server span's name of a request the shop traces: order creation and the payment
    notifications (buyers' status reads, the hot path, are not traced)."""
    if method != "POST":
        return "GET " + NOTIFY_PATH if path == NOTIFY_PATH else None
    if path == "/api/orders":
        return CREATE
    if path.startswith(CALLBACKS):
        return "POST " + CALLBACKS + "{channel}"
    return None


class BodyLimit:
    """Pure ASGI middleware: refuse bodies over ``max_bytes`` (413) — before reading them when
    the Content-Length says so, and as soon as a body sent without one (chunked) grows past it.
    Paths under ``admin_prefix`` may send up to ``admin_max_bytes`` (a restock of thousands of
    keys); their token is checked before the body is read (``api/admin.py``).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, admin_max_bytes: int | None = None,
                 admin_prefix: str = "/api/admin/") -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.admin_max_bytes = admin_max_bytes or max_bytes
        self.admin_prefix = admin_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.admin_max_bytes if str(scope.get("path", "")).startswith(
            self.admin_prefix) else self.max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                problem = _length_problem(value, limit)
                if problem is not None:
                    await problem(scope, receive, send)
                    return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI passes an HTTPException raised while reading the body through
                    # to the exception handler (anything else would become a 400).
                    raise HTTPException(413, f"body over {limit} bytes")
            return message

        await self.app(scope, counted_receive, send)


def _length_problem(value: bytes, max_bytes: int) -> JSONResponse | None:
    if not value.isdigit():
        return JSONResponse({"error": "bad Content-Length", "status": 400}, 400)
    if int(value) > max_bytes:
        return JSONResponse({"error": f"body over {max_bytes} bytes", "status": 413}, 413)
    return None


def create_app(settings: ShopSettings | None = None) -> FastAPI:
    settings = settings or ShopSettings()
    shop = build_shop(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await shop.start()
        try:
            yield
        finally:
            await shop.stop()

    app = FastAPI(title="fakalab reference shop", version="1", lifespan=lifespan)
    app.state.shop = shop

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """Framework errors (401, 404 unknown route, 405, 400 unreadable body) in the shape of
        every other error: ``{"error": message, "status": code}``."""
        body = {"error": str(exc.detail), "status": exc.status_code}
        return JSONResponse(body, exc.status_code, headers=exc.headers)

    app.include_router(buyer.router)
    app.include_router(callbacks.router)
    app.include_router(epay.router)
    app.include_router(admin.router)
    app.include_router(receipts.router)

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes,
                       admin_max_bytes=settings.max_admin_body_bytes)
    door = AdmissionDoor(shop.admission, shop.state.metrics)
    app.state.door = door  # also the connection protocol's (server.uvicorn_config)
    app.add_middleware(AdmissionGate, door=door, max_drain_bytes=settings.max_body_bytes)
    app.add_middleware(StatusFastPath, views=shop.state.views, status=shop.buyer_status)
    if shop.tracing is not None:  # outermost: a refused order is traced too
        app.add_middleware(TraceRequests, tracer=shop.tracing.tracer, name_of=traced_route,
                           roots=frozenset({CREATE}))  # a callback joins the order's trace

    @app.get("/healthz", response_model=Health)
    async def healthz() -> Any:
        return {"ok": True, "workers": settings.workers, "queue_depth": len(shop.state.queue)}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        metrics = shop.state.metrics
        metrics.database(shop.db.writes, shop.db.write_wait_s, shop.db.write_hold_s,
                         shop.db.writer.stats.groups)
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    return app
