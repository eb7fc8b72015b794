"""Routes every upstream service shares: ``/healthz``, ``/admin/faults``, ``/admin/stats``."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from fakalab.reference_shop.upstreams.faults import FaultError, FaultSwitch
from fakalab.reference_shop.upstreams.service import Stats
from fakalab.reference_shop.upstreams.status import StatusBoard
from fakalab.reference_shop.upstreams.status_routes import status_router

__all__ = ["admin_router", "fault_error_response"]


def fault_error_response(exc: FaultError) -> JSONResponse:
    """400 naming the offending field."""
    body = {"error": f"invalid value for {exc.field}: {exc.message}", "field": exc.field}
    return JSONResponse(body, status_code=400)


def admin_router(
    name: str,
    switch: FaultSwitch[Any],
    stats: Stats,
    gauges: Callable[[], dict[str, int]] | None = None,
) -> APIRouter:
    """Health, fault switches, counters (plus current ``gauges``) and the status page
    (``status_routes.py``) of the service ``name``."""
    router = APIRouter()
    router.include_router(status_router(StatusBoard(name, time.time()), switch))
    # Tells this process from a restarted one, or another stack's on the same port: a drill's
    # watchdog resets faults only on the instance it put them on.
    instance = secrets.token_hex(8)

    @router.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True, "service": name, "instance": instance}

    @router.get("/admin/faults")
    async def get_faults() -> dict[str, Any]:
        return switch.current.model_dump()

    @router.patch("/admin/faults", response_model=None)
    async def patch_faults(request: Request) -> dict[str, Any] | JSONResponse:
        try:
            patch = await request.json()
        except ValueError:
            return fault_error_response(FaultError("body", "not valid JSON"))
        try:
            return switch.patch(patch).model_dump()
        except FaultError as exc:
            return fault_error_response(exc)

    @router.delete("/admin/faults", status_code=204)
    async def reset_faults() -> Response:
        switch.reset()
        return Response(status_code=204)

    @router.get("/admin/stats")
    async def get_stats() -> dict[str, int]:
        return {**stats.snapshot(), **(gauges() if gauges else {})}

    return router
