"""Risk control: passes every order unless the false-positive fault sends it to review.

The decision is a pure function of (seed, order_no, false_positive_pct), so a retried check gives
the same answer; injected errors and latency are not part of the decision.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from fakalab.reference_shop.upstreams.admin import admin_router
from fakalab.reference_shop.upstreams.faults import FaultSwitch, RiskFaults, hits
from fakalab.reference_shop.upstreams.service import Stats, error_response, new_app, sleep_ms

__all__ = ["create_app", "decide"]

STATS = ("checks", "passed", "reviewed")


class CheckRequest(BaseModel):
    order_no: str = Field(min_length=1, max_length=128)
    email: str = Field(max_length=320)
    amount: str | float | int
    product_id: str | int


def _uniforms(seed: int, order_no: str) -> tuple[float, float]:
    digest = hashlib.sha256(f"{seed}:{order_no}".encode()).digest()
    scale = float(2**64)
    return int.from_bytes(digest[:8]) / scale, int.from_bytes(digest[8:16]) / scale


def decide(seed: int, order_no: str, false_positive_pct: float) -> dict[str, Any]:
    """``{order_no, decision, score, reason}`` for one order (pure, deterministic)."""
    draw, jitter = _uniforms(seed, order_no)
    if draw * 100 < false_positive_pct:
        return {
            "order_no": order_no,
            "decision": "review",
            "score": round(0.5 + 0.5 * jitter, 4),
            "reason": "velocity rule",
        }
    return {
        "order_no": order_no,
        "decision": "pass",
        "score": round(0.4 * jitter, 4),
        "reason": "no rule matched",
    }


def create_app(seed: int = 0, faults: RiskFaults | None = None) -> FastAPI:
    switch = FaultSwitch(faults or RiskFaults())
    stats = Stats(STATS)
    rng = random.Random(seed)

    app = new_app("fakalab risk")
    app.include_router(admin_router("risk", switch, stats))
    app.state.stats, app.state.faults = stats, switch

    @app.post("/api/check", response_model=None)
    async def check(request: CheckRequest) -> dict[str, Any] | JSONResponse:
        stats.inc("requests")
        faults = switch.current
        await sleep_ms(faults.latency_ms)
        if hits(rng, faults.error_pct):
            stats.inc("injected_errors")
            return error_response(503, "risk service error")
        result = decide(seed, request.order_no, faults.false_positive_pct)
        stats.inc("checks")
        stats.inc("passed" if result["decision"] == "pass" else "reviewed")
        return result

    return app
