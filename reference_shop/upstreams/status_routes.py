"""A provider's status page and its push: ``GET /api/v2/summary.json`` (Statuspage's shape),
``GET /api/v2/stream`` (server-sent events, a ``summary`` event at connect and at every
change) and the announce control a drill uses (``/admin/status``)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from fakalab.reference_shop.upstreams.faults import FaultSwitch
from fakalab.reference_shop.upstreams.service import error_response
from fakalab.reference_shop.upstreams.status import Announcement, StatusBoard, summary

__all__ = ["status_router"]

KEEPALIVE_S = 5.0


class _Changes:
    """Wakes every open stream when the board changes."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def fire(self) -> None:
        self.event.set()
        self.event = asyncio.Event()


def _bad(exc: ValidationError) -> JSONResponse:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "body"
    return error_response(400, f"invalid value for {field}: {first['msg']}", field=field)


def status_router(board: StatusBoard, switch: FaultSwitch[Any]) -> APIRouter:
    router = APIRouter()
    changes = _Changes()

    def document(request: Request) -> dict[str, Any]:
        return summary(board, switch.current, str(request.base_url).rstrip("/"))

    @router.get("/api/v2/summary.json")
    async def summary_json(request: Request) -> dict[str, Any]:
        return document(request)

    @router.get("/api/v2/stream")
    async def stream(request: Request) -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            last: Any = None
            quiet = 0.0
            while True:
                doc = document(request)
                key = (board.version, doc["components"][0]["status"])
                if key != last:
                    last, quiet = key, 0.0
                    yield b"event: summary\ndata: " + json.dumps(doc).encode() + b"\n\n"
                elif quiet >= KEEPALIVE_S:
                    quiet = 0.0
                    yield b": keepalive\n\n"
                waiting = changes.event
                try:  # a change wakes us; the 1 s tick sees switches move under `auto`
                    await asyncio.wait_for(waiting.wait(), timeout=1.0)
                except TimeoutError:
                    quiet += 1.0

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    @router.get("/admin/status")
    async def get_status() -> dict[str, Any]:
        return {"auto": board.auto, "incidents": sorted(board.open),
                "component_status": board.component_status(switch.current)}

    @router.patch("/admin/status", response_model=None)
    async def patch_status(request: Request) -> dict[str, Any] | JSONResponse:
        body = await request.json()
        if not isinstance(body, dict) or set(body) - {"auto"} or not isinstance(
                body.get("auto", False), bool):
            return error_response(400, "invalid value for auto: expected {\"auto\": true|false}",
                                  field="auto")
        board.set_auto(bool(body.get("auto", board.auto)), time.time())
        changes.fire()
        return await get_status()

    @router.post("/admin/status/incidents", status_code=201, response_model=None)
    async def announce(request: Request) -> dict[str, Any] | JSONResponse:
        try:
            announcement = Announcement.model_validate(await request.json())
        except ValidationError as exc:
            return _bad(exc)
        incident_id = board.announce(announcement, time.time())
        changes.fire()
        return {"id": incident_id, "status": announcement.status,
                "component_status": board.component_status(switch.current)}

    @router.delete("/admin/status/incidents/{incident_id}", response_model=None)
    async def resolve(incident_id: str) -> Response:
        if not board.resolve(incident_id, time.time()):
            return error_response(404, f"no open incident {incident_id}")
        changes.fire()
        return Response(status_code=204)

    @router.delete("/admin/status", status_code=204)
    async def reset() -> Response:
        board.reset(time.time())
        changes.fire()
        return Response(status_code=204)

    return router
