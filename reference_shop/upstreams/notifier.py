"""Notification vendor: accepts messages (email, IM) for later delivery, or fails on demand."""

from __future__ import annotations

import random
from collections import deque
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from fakalab.reference_shop.upstreams.admin import admin_router
from fakalab.reference_shop.upstreams.faults import FaultSwitch, NotifierFaults, hits
from fakalab.reference_shop.upstreams.service import Stats, error_response, new_app, sleep_ms

__all__ = ["Outbox", "create_app"]

STATS = ("notifications", "failures")


class Notification(BaseModel):
    order_no: str = Field(min_length=1, max_length=128)
    email: str = Field(max_length=320)
    message: str = Field(max_length=65536)


class Outbox:
    """How many notifications were accepted, and the last ``keep`` of them."""

    def __init__(self, keep: int = 100) -> None:
        self.count = 0
        self.recent: deque[dict[str, Any]] = deque(maxlen=keep)

    def add(self, notification: Notification) -> None:
        self.count += 1
        self.recent.append(notification.model_dump())


def create_app(seed: int = 0, faults: NotifierFaults | None = None, keep: int = 100) -> FastAPI:
    switch = FaultSwitch(faults or NotifierFaults())
    stats = Stats(STATS)
    outbox = Outbox(keep)
    rng = random.Random(seed)

    app = new_app("fakalab notify")
    app.include_router(admin_router("notify", switch, stats))
    app.state.outbox, app.state.stats, app.state.faults = outbox, stats, switch

    @app.post("/api/notify", status_code=202, response_model=None)
    async def notify(notification: Notification) -> dict[str, Any] | JSONResponse:
        stats.inc("requests")
        faults = switch.current
        await sleep_ms(faults.latency_ms)
        if hits(rng, faults.failure_pct):
            stats.inc("injected_errors")
            stats.inc("failures")
            return error_response(503, "notification failed")
        outbox.add(notification)
        stats.inc("notifications")
        return {"queued": True}

    @app.get("/admin/notifications")
    async def notifications() -> dict[str, Any]:
        return {"count": outbox.count, "recent": list(outbox.recent)}

    return app
