"""Admin routes behind a bearer token: restock, stuck orders, re-delivery, refunds, export."""

from __future__ import annotations

import csv
import hmac
import io
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Response
from pydantic import BaseModel, Field
from sqlalchemy import and_, insert, or_, select, update

from reference_shop import db, store
from reference_shop.api.deps import error, get_shop
from reference_shop.fulfilment import enqueue
from reference_shop.shop import Shop
from reference_shop.states import IN_FLIGHT, OrderState

S = OrderState


async def require_admin(shop: Annotated[Shop, Depends(get_shop)],
                  authorization: Annotated[str | None, Header()] = None) -> Shop:
    expected = f"Bearer {shop.settings.admin_token}".encode()
    if not authorization or not hmac.compare_digest(authorization.encode(), expected):
        raise HTTPException(401, "admin token required", headers={"WWW-Authenticate": "Bearer"})
    return shop


router = APIRouter(prefix="/api/admin", dependencies=[Depends(require_admin)])
AdminShop = Annotated[Shop, Depends(get_shop)]
EXPORTS = {"orders": db.orders, "events": db.order_events, "incidents": db.incident_updates,
           "tickets": db.tickets, "callbacks": db.callback_attempts, "keys": db.card_keys,
           "notifications": db.notifications, "products": db.products}


class RestockIn(BaseModel):
    product_id: str = Field(min_length=1, max_length=64)
    keys: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=10_000)
    supplier_stock: int = Field(0, ge=0, le=10_000_000)


@router.post("/restock")
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


@router.get("/orders/stuck")
async def stuck_orders(shop: AdminShop, older_than_s: float = 0.0) -> Any:
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


@router.post("/orders/{order_no}/redeliver")
async def redeliver(order_no: str, shop: AdminShop) -> Any:
    """needs_attention → paid (the pipeline runs again); needs_review → allocating (approved)."""
    targets = {S.NEEDS_ATTENTION: S.PAID, S.NEEDS_REVIEW: S.ALLOCATING}
    return await _admin_transition(shop, order_no, targets, requeue=True)


@router.post("/orders/{order_no}/refund")
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


@router.get("/export/{table}.csv")
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
            writer.writerow(row)
    return Response(out.getvalue(), media_type="text/csv")
