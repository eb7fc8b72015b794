"""Shared request helpers: the shop (its services, wired in ``composition.py``) and error
bodies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from fakalab.reference_shop.composition import Shop

__all__ = ["client_key", "error", "get_shop", "single_valued"]


async def get_shop(request: Request) -> Shop:
    shop: Shop = request.app.state.shop
    return shop


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, "status": status, **extra}, status_code=status)


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def single_valued(*names: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency refusing (422) a repeated query parameter, e.g. ``?token=a&token=b``:
    each is documented as one value, and the framework would silently take the last."""

    async def check(request: Request) -> None:
        for name in names:
            values = request.query_params.getlist(name)
            if len(values) > 1:
                raise RequestValidationError([{
                    "type": "repeated", "loc": ("query", name), "input": values,
                    "msg": f"{name} must be given once"}])

    return check
