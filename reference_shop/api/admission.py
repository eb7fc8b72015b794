"""Admission control at the door: ``POST /api/orders`` is refused here, before the framework
parses the body, while :class:`~fakalab.reference_shop.admission.Admission` says the shop is
busy — a refusal must cost far less than the order it turns away.

The answer is ``503`` with ``Retry-After`` (seconds) and the shop's usual error shape plus what
a buyer's client needs: ``{"error": "The sale is busy: …", "status": 503, "busy": true,
"retry_after_s": N, "reason": "backlog"}``.
"""

from __future__ import annotations

import json
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from fakalab.reference_shop.admission import Admission
from fakalab.reference_shop.metrics import ShopMetrics

__all__ = ["AdmissionGate"]

PATH = "/api/orders"


class AdmissionGate:
    def __init__(self, app: ASGIApp, admission: Admission, metrics: ShopMetrics,
                 max_drain_bytes: int = 16_384) -> None:
        self.app = app
        self.admission = admission
        self.metrics = metrics
        self.max_drain_bytes = max_drain_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        now = time.time()
        refusal = self.admission.check(now)
        self.metrics.admission_predicted.set(self.admission.last_predicted_s)
        if refusal is None:
            self.admission.admitted(now)
            await self.app(scope, receive, send)
            return
        self.metrics.admission_refused.labels(refusal.reason).inc()
        await self._drain(receive)  # a keep-alive connection stays usable for the retry
        body = json.dumps({"error": refusal.message, "status": 503, "busy": True,
                           "retry_after_s": refusal.retry_after_s,
                           "reason": refusal.reason}).encode()
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(refusal.retry_after_s).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _drain(self, receive: Receive) -> None:
        read = 0
        while read <= self.max_drain_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return
            read += len(message.get("body", b""))
            if not message.get("more_body", False):
                return
