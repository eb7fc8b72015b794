"""Shared request helpers: the shop instance and error bodies."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from reference_shop.shop import Shop

__all__ = ["error", "get_shop"]


async def get_shop(request: Request) -> Shop:
    shop: Shop = request.app.state.shop
    return shop


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, "status": status, **extra}, status_code=status)


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"
