"""The frame of one upstream service: counters, the app factory, request validation, latency."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

__all__ = ["Stats", "error_response", "new_app", "sleep_ms"]

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


class Stats:
    """Named integer counters; every name given at creation is reported even while zero."""

    def __init__(self, names: Iterable[str]) -> None:
        self._counts: dict[str, int] = dict.fromkeys(("requests", "injected_errors", *names), 0)

    def inc(self, name: str, by: int = 1) -> None:
        self._counts[name] = self._counts.get(name, 0) + by

    def __getitem__(self, name: str) -> int:
        return self._counts.get(name, 0)

    def snapshot(self) -> dict[str, int]:
        return dict(self._counts)


def error_response(status: int, error: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, **extra}, status_code=status)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """400 (not FastAPI's 422) naming the first bad field of the body."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    field = ".".join(loc) or "body"
    return error_response(400, f"invalid value for {field}: {first.get('msg')}", field=field)


def new_app(title: str, lifespan: Lifespan | None = None) -> FastAPI:
    """A bare FastAPI app with the shared error handling (no docs routes: these are fakes)."""
    app = FastAPI(title=title, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(RequestValidationError, _validation_error)
    return app


async def sleep_ms(ms: float) -> None:
    """The injected latency of a fault switch."""
    if ms > 0:
        await asyncio.sleep(ms / 1000)
