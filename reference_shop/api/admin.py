"""Admin routes behind a bearer token: restock, stuck orders, re-delivery, refunds, export."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fakalab.reference_shop.api.deps import error, get_shop, single_valued
from fakalab.reference_shop.api.models import (
    Restocked,
    RestockIn,
    StuckOrders,
    Transitioned,
    errors,
)
from fakalab.reference_shop.backoffice import EXPORT_TABLES, Refused
from fakalab.reference_shop.composition import Shop

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


@router.post("/restock", response_model=Restocked, responses=errors(400, 404, 413))
async def restock(body: RestockIn, shop: AdminShop) -> Any:
    try:
        done = await shop.backoffice.restock(body.product_id, body.keys, body.supplier_stock)
    except Refused as exc:
        return error(exc.status, exc.message)
    return asdict(done)


@router.get("/orders/stuck", response_model=StuckOrders,
            dependencies=[Depends(single_valued("older_than_s"))])
async def stuck_orders(shop: AdminShop, older_than_s: Annotated[
        float, Query(ge=0, le=10 * 365 * 86_400, allow_inf_nan=False)] = 0.0) -> Any:
    """Orders needing a person, and in-flight orders not moving for ``older_than_s``."""
    return {"orders": [asdict(r) for r in await shop.backoffice.stuck(older_than_s)]}


@router.post("/orders/{order_no}/redeliver", response_model=Transitioned,
             responses=errors(404, 409))
async def redeliver(order_no: str, shop: AdminShop) -> Any:
    """needs_attention → paid (the pipeline runs again); needs_review → allocating (approved)."""
    try:
        return {"order_no": order_no, "state": await shop.backoffice.redeliver(order_no)}
    except Refused as exc:
        return error(exc.status, exc.message)


@router.post("/orders/{order_no}/refund", response_model=Transitioned,
             responses=errors(404, 409))
async def refund(order_no: str, shop: AdminShop) -> Any:
    try:
        return {"order_no": order_no, "state": await shop.backoffice.refund(order_no)}
    except Refused as exc:
        return error(exc.status, exc.message)


@router.get("/export/{table}.csv", response_class=CSV, responses=errors(404))
async def export(table: str, shop: AdminShop) -> Response:
    document = await shop.backoffice.export_csv(table)
    if document is None:
        return error(404, f"unknown table {table!r}; one of {', '.join(EXPORT_TABLES)}")
    return CSV(document)
