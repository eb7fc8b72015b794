"""Buyer-facing routes: catalog, orders, status (JSON and SSE), lookup, support, status page."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from reference_shop import db
from reference_shop.api.deps import client_key, error, get_shop
from reference_shop.ordering import OrderRefused, buyer_paid, file_ticket, lookup, place_order
from reference_shop.shop import Shop
from reference_shop.views import OrderView

router = APIRouter(prefix="/api")
ShopDep = Annotated[Shop, Depends(get_shop)]
EMAIL = r"^[^@\s]{1,64}@[^@\s]{1,190}$"


class OrderIn(BaseModel):
    product_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(1, ge=1, le=10)
    email: str = Field(pattern=EMAIL, max_length=254)
    query_password: str | None = Field(None, min_length=4, max_length=64)


class LookupIn(BaseModel):
    email: str = Field(pattern=EMAIL, max_length=254)
    query_password: str = Field(min_length=4, max_length=64)


class TicketIn(BaseModel):
    order_no: str | None = Field(None, max_length=32)
    reason: str = Field("other", pattern=r"^(stale_status|eta_passed|gave_up|other)$")
    message: str = Field("", max_length=2000)
    waited_s: float | None = Field(None, ge=0, le=86_400)


@router.get("/products")
async def products(shop: ShopDep) -> list[dict[str, Any]]:
    return await shop.catalog()


@router.post("/orders", status_code=201)
async def create_order(body: OrderIn, shop: ShopDep,
                       x_fakalab_persona: Annotated[str | None, Header(max_length=32)] = None
                       ) -> Any:
    try:
        return await place_order(shop, body.product_id, body.quantity, body.email,
                                 body.query_password, x_fakalab_persona)
    except OrderRefused as exc:
        return error(exc.status, exc.message)


async def _authorised(shop: Shop, request: Request, order_no: str, token: str | None
                      ) -> OrderView | JSONResponse:
    view = await shop.load_view(order_no) if len(order_no) <= 32 else None
    if view is None or not view.token_ok(token):
        if not shop.token_limiter.allow(client_key(request), time.time()):
            return error(429, "too many failed lookups; slow down")
        return error(404, "order not found")  # the same answer whether or not it exists
    return view


@router.get("/orders/{order_no}")
async def order_status(order_no: str, request: Request, shop: ShopDep,
                       x_order_token: Annotated[str | None, Header()] = None) -> Response:
    view = await _authorised(shop, request, order_no, x_order_token)
    if isinstance(view, JSONResponse):
        return view
    return Response(shop.status_body(view), media_type="application/json")


@router.get("/orders/{order_no}/events")
async def order_events(order_no: str, request: Request, shop: ShopDep,
                       x_order_token: Annotated[str | None, Header()] = None,
                       token: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    """Server-Sent Events: the order's view on every change, and a keep-alive in between.
    The token may be given as a query parameter because EventSource cannot set headers."""
    view = await _authorised(shop, request, order_no, x_order_token or token)
    if isinstance(view, JSONResponse):
        return view
    return StreamingResponse(_stream(shop, view, request), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


async def _stream(shop: Shop, view: OrderView, request: Request) -> AsyncIterator[bytes]:
    queue = shop.views.subscribe(view.order_no)
    try:
        yield b"event: status\ndata: " + shop.status_body(view) + b"\n\n"
        while view.state.value not in ("delivered", "refunded", "expired"):
            try:
                view = await asyncio.wait_for(queue.get(), shop.settings.sse_keepalive_s)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield b": keep-alive\n\n"
                continue
            yield b"event: status\ndata: " + shop.status_body(view) + b"\n\n"
    finally:
        shop.views.unsubscribe(view.order_no, queue)


@router.post("/orders/{order_no}/paid", status_code=202)
async def i_have_paid(order_no: str, request: Request, shop: ShopDep,
                      x_order_token: Annotated[str | None, Header()] = None) -> Any:
    view = await _authorised(shop, request, order_no, x_order_token)
    if isinstance(view, JSONResponse):
        return view
    await buyer_paid(shop, order_no)
    return {"order_no": order_no, "noted": True}


@router.post("/orders/lookup")
async def order_lookup(body: LookupIn, request: Request, shop: ShopDep) -> Any:
    if not shop.lookup_limiter.allow(client_key(request), time.time()):
        return error(429, "too many lookups; try again in a minute")
    return {"orders": await lookup(shop, body.email, body.query_password)}


@router.post("/support/tickets", status_code=201)
async def support_ticket(body: TicketIn, shop: ShopDep) -> Any:
    ticket_id = await file_ticket(shop, body.order_no, body.reason, body.message, body.waited_s)
    return {"ticket_id": ticket_id}


@router.get("/status")
async def status_page(shop: ShopDep) -> dict[str, Any]:
    now = time.time()
    async with shop.db.read() as conn:
        rows = await conn.execute(select(db.incident_updates)
                                  .order_by(db.incident_updates.c.id.desc()).limit(50))
        history = [dict(r) for r in rows.mappings()]
    return {
        "components": {k: v.value for k, v in shop.status.states(now).items()},
        "incidents": [{"incident_id": i.incident_id, "component": i.component,
                       "state": i.state, "message": i.message, "opened_at": i.opened_at,
                       "updated_at": i.updated_at} for i in shop.status.open_incidents()],
        "history": history,
        "queue_depth": len(shop.queue),
    }

