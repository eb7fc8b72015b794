"""Admission control at the door: ``POST /api/orders`` is refused while
:class:`~fakalab.reference_shop.admission.Admission` says the shop is busy — a refusal must
cost far less than the order it turns away.

Two places ask the same :class:`AdmissionDoor`:

- the connection protocol (`reference_shop/guard.py`), from the request line, before any ASGI
  task, scope or framework work exists — most requests of an overload are refusals;
- :class:`AdmissionGate`, an ASGI middleware before the framework parses the body, for the
  requests the protocol leaves to the application (a pipelined request behind one still being
  answered, one waiting for ``100 Continue``, another server than the shop's own).

The protocol marks a request it let in (``scope["extensions"][DOOR_PASSED]``), so no order is
decided twice. The answer is ``503`` with ``Retry-After`` (seconds) and the shop's usual error
shape plus what a buyer's client needs: ``{"error": "The sale is busy: …", "status": 503,
"busy": true, "retry_after_s": N, "reason": "backlog"}``.
"""

from __future__ import annotations

import json
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from fakalab.reference_shop.admission import Admission, Refusal
from fakalab.reference_shop.guard import DOOR_PASSED
from fakalab.reference_shop.metrics import ShopMetrics

__all__ = ["AdmissionDoor", "AdmissionGate"]

PATH = "/api/orders"
_RAW_PATH = PATH.encode()


def refusal_body(refusal: Refusal) -> bytes:
    return json.dumps({"error": refusal.message, "status": 503, "busy": True,
                       "retry_after_s": refusal.retry_after_s,
                       "reason": refusal.reason}).encode()


class AdmissionDoor:
    """Decides each new order once: refuses (counted) or admits (told to `Admission`)."""

    def __init__(self, admission: Admission, metrics: ShopMetrics) -> None:
        self.admission = admission
        self.metrics = metrics
        self._answers: dict[tuple[str, int], bytes] = {}

    def decide(self) -> Refusal | None:
        now = time.time()
        refusal = self.admission.check(now)
        self.metrics.admission_predicted.set(self.admission.last_predicted_s)
        if refusal is None:
            self.admission.admitted(now)
            return None
        self.metrics.admission_refused.labels(refusal.reason).inc()
        return refusal

    def __call__(self, method: bytes, url: bytes) -> bytes | None:
        """The protocol's door (guard.Door): the whole 503 response, or None."""
        if method != b"POST" or url.partition(b"?")[0] != _RAW_PATH:
            return None
        refusal = self.decide()
        if refusal is None:
            return None
        key = (refusal.reason, refusal.retry_after_s)
        answer = self._answers.get(key)
        if answer is None:
            body = refusal_body(refusal)
            answer = self._answers[key] = (
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
                b"retry-after: %d\r\ncontent-length: %d\r\n\r\n%s"
                % (refusal.retry_after_s, len(body), body))
        return answer


class AdmissionGate:
    def __init__(self, app: ASGIApp, door: AdmissionDoor, max_drain_bytes: int = 16_384
                 ) -> None:
        self.app = app
        self.door = door
        self.max_drain_bytes = max_drain_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH \
                or DOOR_PASSED in scope.get("extensions", ()):
            await self.app(scope, receive, send)
            return
        refusal = self.door.decide()
        if refusal is None:
            await self.app(scope, receive, send)
            return
        await self._drain(receive)  # a keep-alive connection stays usable for the retry
        body = refusal_body(refusal)
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
