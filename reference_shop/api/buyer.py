"""Buyer-facing routes: catalog, orders, status (JSON and SSE), lookup, support, status page."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from fakalab.reference_shop.api.deps import client_key, error, get_shop, single_valued
from fakalab.reference_shop.api.models import (
    LookupIn,
    LookupOut,
    OrderCreated,
    OrderIn,
    OrderStatus,
    PaidNoted,
    Product,
    StatusPage,
    TicketIn,
    TicketOut,
    errors,
)
from fakalab.reference_shop.composition import Shop
from fakalab.reference_shop.ordering import OrderRefused
from fakalab.reference_shop.views import OrderView

router = APIRouter(prefix="/api")
ShopDep = Annotated[Shop, Depends(get_shop)]
BODY_ERRORS = (400, 413)  # malformed JSON or a bad Content-Length; a body over max_body_bytes


class EventStream(StreamingResponse):
    media_type = "text/event-stream"


STATUS_EVENT = {  # one Server-Sent Event (OpenAPI 3.1: the schema of a stream is per event)
    "type": "object", "required": ["event", "data"],
    "properties": {"event": {"const": "status"}, "data": {
        "type": "string", "contentMediaType": "application/json",
        "contentSchema": {"$ref": "#/components/schemas/OrderStatus"}}}}


@router.get("/products", response_model=list[Product])
async def products(shop: ShopDep) -> Any:
    return await shop.catalog.listing()


@router.post("/orders", status_code=201, response_model=OrderCreated,
             responses=errors(*BODY_ERRORS, 404, 409, 503))
async def create_order(body: OrderIn, shop: ShopDep,
                       x_fakalab_persona: Annotated[str | None, Header(max_length=32)] = None
                       ) -> Any:
    try:
        placed = await shop.ordering.place_order(body.product_id, body.quantity, body.email,
                                                 body.query_password, x_fakalab_persona)
    except OrderRefused as exc:
        return error(exc.status, exc.message)
    return asdict(placed)


# Before the /orders/{order_no} routes, so that OPTIONS /api/orders/lookup answers
# "Allow: POST" rather than the status route's "Allow: GET".
@router.post("/orders/lookup", response_model=LookupOut, responses=errors(*BODY_ERRORS, 429))
async def order_lookup(body: LookupIn, request: Request, shop: ShopDep) -> Any:
    # Keyed by the e-mail asked about: a guesser slows down the account it attacks, not every
    # buyer behind the same address (on loopback, all of them); a per-address budget 30 times
    # larger bounds the password hashing one client can cause.
    now = time.time()
    if not shop.state.lookup_limiter.allow(f"email:{body.email.lower()}", now) \
            or not shop.state.lookup_address_limiter.allow(client_key(request), now):
        return error(429, "too many lookups; try again in a minute")
    found = await shop.ordering.lookup(body.email, body.query_password)
    return {"orders": [asdict(o) for o in found]}


async def _authorised(shop: Shop, request: Request, order_no: str, token: str | None
                      ) -> OrderView | JSONResponse:
    view = await shop.transitions.view(order_no) if len(order_no) <= 32 else None
    if view is None or not view.token_ok(token):
        if not shop.state.token_limiter.allow(client_key(request), time.time()):
            return error(429, "too many failed lookups; slow down")
        return error(404, "order not found")  # the same answer whether or not it exists
    return view


@router.get("/orders/{order_no}", responses={200: {"model": OrderStatus}, **errors(404, 429)})
async def order_status(order_no: str, request: Request, shop: ShopDep,
                       x_order_token: Annotated[str | None, Header()] = None) -> Response:
    view = await _authorised(shop, request, order_no, x_order_token)
    if isinstance(view, JSONResponse):
        return view
    return Response(shop.buyer_status.body(view), media_type="application/json")


@router.get("/orders/{order_no}/events", response_class=EventStream, responses={
    200: {"content": {"text/event-stream": {"schema": STATUS_EVENT}}}, **errors(404, 429)},
    dependencies=[Depends(single_valued("token"))])
async def order_events(order_no: str, request: Request, shop: ShopDep,
                       x_order_token: Annotated[str | None, Header()] = None,
                       token: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    """Server-Sent Events: the order's view on every change, and a keep-alive in between.
    The token may be given as a query parameter because EventSource cannot set headers."""
    view = await _authorised(shop, request, order_no, x_order_token or token)
    if isinstance(view, JSONResponse):
        return view
    return EventStream(_stream(shop, view, request), headers={"Cache-Control": "no-cache"})


async def _stream(shop: Shop, view: OrderView, request: Request) -> AsyncIterator[bytes]:
    views, body = shop.state.views, shop.buyer_status.body
    queue = views.subscribe(view.order_no)
    try:
        yield b"event: status\ndata: " + body(view) + b"\n\n"
        while view.state.value not in ("delivered", "refunded", "expired"):
            try:
                view = await asyncio.wait_for(queue.get(), shop.settings.sse_keepalive_s)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield b": keep-alive\n\n"
                continue
            yield b"event: status\ndata: " + body(view) + b"\n\n"
    finally:
        views.unsubscribe(view.order_no, queue)


@router.post("/orders/{order_no}/paid", status_code=202, response_model=PaidNoted,
             responses=errors(404, 429))
async def i_have_paid(order_no: str, request: Request, shop: ShopDep,
                      x_order_token: Annotated[str | None, Header()] = None) -> Any:
    view = await _authorised(shop, request, order_no, x_order_token)
    if isinstance(view, JSONResponse):
        return view
    await shop.ordering.buyer_paid(order_no)
    return {"order_no": order_no, "noted": True}


@router.post("/support/tickets", status_code=201, response_model=TicketOut,
             responses=errors(*BODY_ERRORS))
async def support_ticket(body: TicketIn, shop: ShopDep) -> Any:
    ticket_id = await shop.ordering.file_ticket(body.order_no, body.reason, body.message,
                                                body.waited_s)
    return {"ticket_id": ticket_id}


@router.get("/status", response_model=StatusPage)
async def status_page(shop: ShopDep) -> Any:
    return await shop.monitor.status_page()
