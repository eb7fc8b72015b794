"""Payment callbacks: a delayed first attempt, then retries until the shop answers ``success``.

A delivery makes up to six attempts: the first after the sampled delay, then 1, 2, 4, 8 and 16 s
(times ``retry_scale``) after each failure. An attempt succeeds only on HTTP 200 with the body
``success``; any other answer, a connection error or a timeout counts as failed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import httpx
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from fakalab.reference_shop.http_transport import (
    AiohttpTransport,
    HttpxTransport,
    Reply,
    Transport,
)
from fakalab.reference_shop.tracing import traced_now, traceparent
from fakalab.reference_shop.upstreams.service import Stats

__all__ = ["ATTEMPT_TIMEOUT_S", "RETRY_DELAYS_S", "CallbackSender", "retry_schedule"]

RETRY_DELAYS_S: tuple[float, ...] = (1, 2, 4, 8, 16)
ATTEMPT_TIMEOUT_S = 5.0

Body = Callable[[], dict[str, Any]]


def retry_schedule(retry_scale: float) -> list[float]:
    """Seconds to wait before each retry (five of them)."""
    return [delay * retry_scale for delay in RETRY_DELAYS_S]


def acknowledged(response: Reply) -> bool:
    return response.status_code == 200 and response.text.strip() == "success"


class CallbackSender:
    """Owns the app's one HTTP client and the running deliveries.

    The client is aiohttp's (``http_transport.AiohttpTransport``): with httpx, scanning its
    connection pool on every request was 80% of the upstreams' CPU under a 130 orders/s
    benchmark. ``transport`` (an httpx transport, e.g. ``MockTransport``) replaces the network
    in tests."""

    def __init__(
        self,
        stats: Stats,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = ATTEMPT_TIMEOUT_S,
    ) -> None:
        self.stats = stats
        self._transport = transport
        self._timeout_s = timeout_s
        self._client: Transport | None = None
        self._tasks: set[asyncio.Task[bool]] = set()
        # a CLIENT span per attempt, in the trace of the request that paid (the delivery task
        # inherits its context), its traceparent sent to the shop
        self.tracer: Tracer | None = None

    async def start(self) -> None:
        if self._transport is None:
            self._client = AiohttpTransport(max_connections=256)
        else:
            self._client = HttpxTransport(httpx.AsyncClient(
                transport=self._transport, timeout=self._timeout_s, trust_env=False))

    async def close(self) -> None:
        """Cancel the deliveries still running, then close the client."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def in_flight(self) -> int:
        """Deliveries not finished yet (waiting, attempting or between retries)."""
        return len(self._tasks)

    def schedule(self, url: str, body: Body, delay_s: float, retry_scale: float,
                 on_done: Callable[[], None] | None = None) -> None:
        """Start one delivery in the background; ``body()`` builds each attempt's message;
        ``on_done()`` runs when it ends (acknowledged or out of retries), not when cancelled."""
        task = asyncio.get_running_loop().create_task(
            self._deliver(url, body, delay_s, retry_schedule(retry_scale))
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if on_done is not None:
            task.add_done_callback(lambda t: None if t.cancelled() else on_done())

    async def _deliver(self, url: str, body: Body, delay_s: float, retries: list[float]) -> bool:
        await asyncio.sleep(delay_s)
        self.stats.inc("callbacks_sent")
        for wait in [*retries, None]:
            if await self._attempt(url, body()):
                self.stats.inc("acknowledged")
                return True
            if wait is None:
                break
            await asyncio.sleep(wait)
        self.stats.inc("callbacks_exhausted")
        return False

    async def _attempt(self, url: str, message: dict[str, Any]) -> bool:
        if self._client is None:
            raise RuntimeError("CallbackSender used before start()")
        self.stats.inc("callback_attempts")
        if self.tracer is None or not traced_now():
            return self._counted(await self._send(url, message, None))
        span = self.tracer.start_span("POST callback", kind=SpanKind.CLIENT)
        try:
            response = await self._send(url, message, traceparent(span))
        except BaseException:
            span.end()
            raise
        if response is None or not acknowledged(response):
            span.set_status(Status(StatusCode.ERROR, "not acknowledged"))
            if response is not None:
                span.set_attribute("http.response.status_code", response.status_code)
        span.end()
        return self._counted(response)

    async def _send(self, url: str, message: dict[str, Any], headers: dict[str, str] | None
                    ) -> Reply | None:
        assert self._client is not None
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._client.request("POST", url, message, self._timeout_s,
                                                  headers)
        except Exception:  # connection error, timeout, bad URL: all count as a failed attempt
            return None

    def _counted(self, response: Reply | None) -> bool:
        if response is not None and acknowledged(response):
            return True
        self.stats.inc("callback_failures")
        return False
