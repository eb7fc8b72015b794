"""HTTP clients of the shop's upstreams: timeouts, bounded retries with jittered backoff,
a circuit breaker per upstream, health samples for the status page, and failover."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from fakalab.contract.traces import PEER
from fakalab.reference_shop.breaker import Breaker
from fakalab.reference_shop.http_transport import Reply, Transport, TransportError, TransportTimeout
from fakalab.reference_shop.interfaces import UpstreamClient
from fakalab.reference_shop.metrics import ShopMetrics
from fakalab.reference_shop.statuspage import ComponentHealth
from fakalab.reference_shop.tracing import traced_now, traceparent

__all__ = ["Upstream", "UpstreamError", "call_with_failover", "jittered_backoff"]


class UpstreamError(Exception):
    """An upstream call failed after its retries (or was refused by an open breaker).

    ``transient``: no upstream gave a definitive answer (only timeouts, connection errors, 5xx
    or open breakers), so trying again later may succeed; False when one answered with a
    refusal such as 409 out of stock."""

    def __init__(self, upstream: str, reason: str, response: Reply | None = None,
                 *, transient: bool = True) -> None:
        super().__init__(f"{upstream}: {reason}")
        self.upstream = upstream
        self.reason = reason
        self.response = response
        self.transient = transient


def jittered_backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0.0, min(cap, base * (2**attempt)))


@dataclass
class Upstream:
    name: str
    base_url: str
    transport: Transport
    breaker: Breaker
    health: ComponentHealth
    metrics: ShopMetrics
    timeout_s: float = 2.0
    retries: int = 3
    backoff_base_s: float = 0.1
    backoff_max_s: float = 2.0
    rng: random.Random = random.Random(0)  # noqa: RUF009 - replaced per instance (composition)
    tracer: Tracer | None = None  # a CLIENT span per attempt, its traceparent sent along

    def __post_init__(self) -> None:
        self._peer = {PEER: self.name}
        self._span_names = {m: f"{m} {self.name}" for m in ("GET", "POST")}

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                   retry_statuses: Sequence[int] = (500, 502, 503, 504)) -> Reply:
        """Call with retries; a 2xx or a non-retryable 4xx is returned, anything else raises."""
        last = "no attempt"
        for attempt in range(self.retries):
            if attempt:
                await asyncio.sleep(
                    jittered_backoff(attempt, self.backoff_base_s, self.backoff_max_s, self.rng))
            if not self.breaker.allow(time.time()):
                self.metrics.upstream_calls.labels(self.name, "breaker_open").inc()
                raise UpstreamError(self.name, "circuit breaker open")
            response, last = await self._once(method, path, body, retry_statuses)
            if response is not None:
                return response
        raise UpstreamError(self.name, last)

    async def _once(self, method: str, path: str, body: dict[str, Any] | None,
                    retry_statuses: Sequence[int]) -> tuple[Reply | None, str]:
        if self.tracer is None or not traced_now():
            # untraced, or outside any traced work (reconciliation): no trace of its own
            return await self._attempt(method, path, body, retry_statuses, None)
        span = self.tracer.start_span(self._span_names.get(method) or f"{method} {self.name}",
                                      kind=SpanKind.CLIENT, attributes=self._peer)
        try:
            response, outcome = await self._attempt(method, path, body, retry_statuses,
                                                    traceparent(span))
        except BaseException:  # cancelled: the span still ends
            span.end()
            raise
        if response is None:
            span.set_status(Status(StatusCode.ERROR, outcome))
        elif not 200 <= response.status_code < 300:  # the usual answer goes unsaid
            span.set_attribute("http.response.status_code", response.status_code)
        span.end()
        return response, outcome

    async def _attempt(self, method: str, path: str, body: dict[str, Any] | None,
                       retry_statuses: Sequence[int], headers: dict[str, str] | None
                       ) -> tuple[Reply | None, str]:
        started = time.time()
        try:
            response = await self.transport.request(method, self.base_url + path, body,
                                                    self.timeout_s, headers) if headers \
                else await self.transport.request(method, self.base_url + path, body,
                                                  self.timeout_s)
        except TransportTimeout:
            self._record(started, False, "timeout")
            return None, f"timed out after {self.timeout_s}s"
        except TransportError as exc:
            self._record(started, False, "error")
            return None, str(exc)
        if response.status_code in retry_statuses:
            self._record(started, False, f"http_{response.status_code}")
            return None, f"HTTP {response.status_code}"
        self._record(started, True, "ok")
        return response, "ok"

    def _record(self, started: float, ok: bool, outcome: str) -> None:
        now = time.time()
        latency = now - started
        self.breaker.record(ok, now)
        self.health.record(now, ok, latency * 1000)
        self.metrics.upstream_seconds.labels(self.name).observe(latency)
        self.metrics.upstream_calls.labels(self.name, outcome).inc()
        self.metrics.breaker.labels(self.name).set(self.breaker.code())


async def call_with_failover(upstreams: Sequence[UpstreamClient], method: str, path: str,
                             body: dict[str, Any] | None = None, *,
                             accept: Sequence[int] = (200, 201, 202)
                             ) -> tuple[UpstreamClient, Reply]:
    """Try each upstream in turn; the first answer with an accepted status wins."""
    errors: list[str] = []
    answered = False
    for upstream in upstreams:
        try:
            response = await upstream.call(method, path, body)
        except UpstreamError as exc:
            errors.append(str(exc))
            continue
        if response.status_code in accept:
            return upstream, response
        answered = True
        errors.append(f"{upstream.name}: HTTP {response.status_code} {response.text[:120]}")
    raise UpstreamError("+".join(u.name for u in upstreams), "; ".join(errors),
                        transient=not answered)
