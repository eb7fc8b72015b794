"""The hot read, served without the framework's routing and dependency injection.

Buyers refresh in a panic exactly when the shop is under stress, so ``GET /api/orders/{no}``
with a valid token is answered here, straight from the in-memory view. Anything else — an
unknown order, a missing or wrong token, a view not cached yet — falls through to the regular
route (``api/buyer.py``), which gives the same answers and the documented errors.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from fakalab.reference_shop.buyer_status import BuyerStatus
from fakalab.reference_shop.views import ViewCache

__all__ = ["StatusFastPath"]

PREFIX = "/api/orders/"
JSON_HEADERS = [(b"content-type", b"application/json")]


class StatusFastPath:
    def __init__(self, app: ASGIApp, views: ViewCache, status: BuyerStatus) -> None:
        self.app = app
        self.views = views
        self.status = status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            body = self._answer(scope)
            if body is not None:
                await send({"type": "http.response.start", "status": 200,
                            "headers": [*JSON_HEADERS,
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _answer(self, scope: Scope) -> bytes | None:
        path: str = scope["path"]
        if not path.startswith(PREFIX) or "/" in path[len(PREFIX):]:
            return None
        view = self.views.get(path[len(PREFIX):])
        if view is None:
            return None
        for name, value in scope["headers"]:
            if name == b"x-order-token":
                # latin-1, as Starlette decodes headers: any byte is a (wrong) token, never an error
                token = value.decode("latin-1")
                return self.status.body(view) if view.token_ok(token) else None
        return None
