"""Admin routes behind a bearer token: restock, stuck orders, re-delivery, refunds, export."""

from __future__ import annotations

import csv
import hmac
import io
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import and_, insert, or_, select, update

from fakalab.reference_shop import db, store
from fakalab.reference_shop.api.deps import error, get_shop, single_valued
from fakalab.reference_shop.api.models import (
    Restocked,
    RestockIn,
    StuckOrders,
    Transitioned,
    errors,
)
from fakalab.reference_shop.fulfilment import enqueue
from fakalab.reference_shop.shop import Shop
from fakalab.reference_shop.states import IN_FLIGHT, OrderState

S = OrderState


bearer = HTTPBearer(auto_error=False, description="The shop's admin_token.")


def check_admin(shop: Shop, credentials: HTTPAuthorizationCredentials | None) -> None:
    expected = shop.settings.admin_token.encode()
    if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), expected):
        raise HTTPException(401, "admin token required", headers={"WWW-Authenticate": "Bearer"})


class AdminRoute(APIRoute):
    """Checks the admin token before anything else of the request is read: FastAPI parses the
    body before it runs dependencies, so a stranger's malformed body answered 422, not 401."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            check_admin(request.app.state.shop, await bearer(request))
            return await handler(request)

        return checked


class CSV(Response):
    media_type = "text/csv"


# The bearer dependency puts the security scheme into the OpenAPI document; AdminRoute enforces it.
router = APIRouter(prefix="/api/admin", route_class=AdminRoute, dependencies=[Depends(bearer)],
                   responses=errors(401))
AdminShop = Annotated[Shop, Depends(get_shop)]
EXPORTS = {"orders": db.orders, "events": db.order_events, "incidents": db.incident_updates,
           "tickets": db.tickets, "callbacks": db.callback_attempts, "keys": db.card_keys,
           "notifications": db.notifications, "products": db.products}


@router.post("/restock", response_model=Restocked, responses=errors(400, 404, 413))
async def restock(body: RestockIn, shop: AdminShop) -> Any:
    async with shop.db.write() as conn:
        product = (await conn.execute(select(db.products).where(
            db.products.c.id == body.product_id))).mappings().first()
        if product is None:
            return error(404, f"unknown product {body.product_id!r}")
        if body.keys:
            await conn.execute(insert(db.card_keys), [
                {"product_id": body.product_id, "secret": k, "status": "available"}
                for k in body.keys])
        if body.supplier_stock:
            await conn.execute(update(db.products).where(db.products.c.id == body.product_id)
                               .values(supplier_stock=db.products.c.supplier_stock
                                       + body.supplier_stock))
    return {"product_id": body.product_id, "added_keys": len(body.keys),
            "added_supplier_stock": body.supplier_stock}


@router.get("/orders/stuck", response_model=StuckOrders,
            dependencies=[Depends(single_valued("older_than_s"))])
async def stuck_orders(shop: AdminShop, older_than_s: Annotated[
        float, Query(ge=0, le=10 * 365 * 86_400, allow_inf_nan=False)] = 0.0) -> Any:
    """Orders needing a person, and in-flight orders not moving for ``older_than_s``."""
    o = db.orders.c
    needs = [S.NEEDS_REVIEW, S.NEEDS_ATTENTION, S.NEEDS_REFUND]
    cutoff = time.time() - older_than_s
    async with shop.db.read() as conn:
        rows = await conn.execute(select(o.order_no, o.state, o.paid_at, o.updated_at,
                                         o.last_error).where(or_(
            o.state.in_(needs),
            and_(o.state.in_(list(IN_FLIGHT)), o.updated_at < cutoff))).limit(1000))
        return {"orders": [dict(r) for r in rows.mappings()]}


@router.post("/orders/{order_no}/redeliver", response_model=Transitioned,
             responses=errors(404, 409))
async def redeliver(order_no: str, shop: AdminShop) -> Any:
    """needs_attention → paid (the pipeline runs again); needs_review → allocating (approved)."""
    targets = {S.NEEDS_ATTENTION: S.PAID, S.NEEDS_REVIEW: S.ALLOCATING}
    return await _admin_transition(shop, order_no, targets, requeue=True)


@router.post("/orders/{order_no}/refund", response_model=Transitioned,
             responses=errors(404, 409))
async def refund(order_no: str, shop: AdminShop) -> Any:
    targets = {s: S.REFUNDED for s in (S.NEEDS_ATTENTION, S.NEEDS_REVIEW, S.NEEDS_REFUND)}
    return await _admin_transition(shop, order_no, targets, requeue=False)


async def _admin_transition(shop: Shop, order_no: str, targets: dict[OrderState, OrderState],
                            requeue: bool) -> Any:
    now = time.time()
    async with shop.db.write() as conn:
        try:
            order = await store.load_order(conn, order_no, lock=True)
        except store.UnknownOrder:
            return error(404, "order not found")
        current = S(order["state"])
        if current not in targets:
            allowed = ", ".join(s.value for s in targets)
            return error(409, f"order is {current.value}; only {allowed} can be changed here")
        if targets[current] is S.REFUNDED and current is not S.NEEDS_REFUND:
            # needs_refund comes from an expired order, whose keys went back at expiry.
            product = dict((await conn.execute(select(db.products).where(
                db.products.c.id == order["product_id"]))).mappings().one())
            await store.release_keys(conn, order_no, product, order["quantity"])
        event = await shop.record(conn, order, targets[current], now)
    await shop.committed(order, event, current.value)
    if requeue:
        enqueue(shop, order_no, order["priority"])
    return {"order_no": order_no, "state": event.state}


@router.get("/export/{table}.csv", response_class=CSV, responses=errors(404))
async def export(table: str, shop: AdminShop) -> Response:
    source = EXPORTS.get(table)
    if source is None:
        return error(404, f"unknown table {table!r}; one of {', '.join(sorted(EXPORTS))}")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.name for c in source.columns])
    async with shop.db.read() as conn:
        result = await conn.stream(select(source))
        async for row in result:
            writer.writerow([spreadsheet_safe(value) for value in row])
    return CSV(out.getvalue())


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula (buyers' e-mails, ticket text,
    fields of forged callbacks) gets a leading apostrophe; numbers are left alone."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
