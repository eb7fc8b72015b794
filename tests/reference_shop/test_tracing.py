"""Tracing's parts: off builds nothing, the server side continues a traceparent, the client
side names its span, batches reach the exporter, and the routes traced are few."""

from __future__ import annotations

from pathlib import Path

import httpx
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import Receive, Scope, Send

from fakalab.contract.shop_settings import ShopSettings
from fakalab.contract.traces import read_spans
from fakalab.reference_shop.app import create_app, traced_route
from fakalab.reference_shop.tracing import (
    Batches,
    OrderContexts,
    TraceRequests,
    open_tracing,
    traceparent,
)
from fakalab.reference_shop.upstreams.runner import upstream_route

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Kept(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []
        self.shut = False

    def export(self, spans: object) -> SpanExportResult:
        self.spans.extend(spans)  # type: ignore[arg-type]
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.shut = True


def test_off_builds_nothing(tmp_path: Path) -> None:
    app = create_app(ShopSettings(db_url=f"sqlite:///{tmp_path / 's.db'}"))
    assert app.state.shop.tracing is None and app.state.shop.fulfilment.traces is None
    assert all(m.cls is not TraceRequests for m in app.user_middleware)
    assert all(u.tracer is None for u in app.state.shop.upstreams.values())


def test_on_adds_the_middleware_and_leaves_fastapis_own_telemetry_off(tmp_path: Path) -> None:
    app = create_app(ShopSettings(db_url=f"sqlite:///{tmp_path / 's.db'}", tracing=True,
                                  trace_file=str(tmp_path / "t.jsonl")))
    assert app.user_middleware[0].cls is TraceRequests  # outermost
    assert not app._native_telemetry.enabled()  # a private provider: no span per request
    app.state.shop.tracing.shutdown()


async def _inner(scope: Scope, receive: Receive, send: Send) -> None:
    context = trace.get_current_span().get_span_context()
    body = f"{context.trace_id:032x}".encode()
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _provider() -> tuple[TracerProvider, Kept]:
    kept = Kept()
    provider = TracerProvider()
    provider.add_span_processor(Batches(kept, interval_s=3600))
    return provider, kept


async def test_a_request_continues_the_buyers_trace() -> None:
    provider, kept = _provider()
    app = TraceRequests(_inner, provider.get_tracer("t"), traced_route)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://x") as c:
        answer = await c.post("/api/orders", headers={"traceparent": PARENT})
        await c.get("/api/orders/A1")  # a status read: not traced
    provider.shutdown()
    assert answer.text == PARENT.split("-")[1]  # the span was current inside the app
    (span,) = kept.spans
    assert span.name == "POST /api/orders" and span.parent is not None
    assert f"{span.parent.span_id:016x}" == PARENT.split("-")[2]
    assert kept.shut


async def test_an_upstream_passes_untraced_requests_through() -> None:
    provider, kept = _provider()
    app = TraceRequests(_inner, provider.get_tracer("t"), upstream_route, roots=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://x") as c:
        await c.post("/api/check")
        await c.post("/api/check", headers={"traceparent": PARENT})
        await c.get("/healthz", headers={"traceparent": PARENT})
        await c.post("/api/check", headers={"traceparent": PARENT[:-2] + "00"})  # unsampled
    provider.shutdown()
    assert [s.name for s in kept.spans] == ["POST /api/check"]


def test_the_client_side_names_its_span_as_the_sdks_propagator_would() -> None:
    provider, _ = _provider()
    span = provider.get_tracer("t").start_span("POST risk")
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, trace.set_span_in_context(span))
    assert traceparent(span) == carrier


def test_an_order_keeps_the_trace_of_its_callback() -> None:
    provider, _ = _provider()
    contexts = OrderContexts(limit=2)
    contexts.remember("A")  # no current span: nothing to keep
    assert contexts.context_of("A") is None
    with provider.get_tracer("t").start_as_current_span("callback") as callback:
        contexts.remember("A")
    with provider.get_tracer("t").start_as_current_span("later"):
        contexts.remember("A")  # the first one stays
    kept = contexts.context_of("A")
    assert kept is not None
    assert trace.get_current_span(kept).get_span_context() == callback.get_span_context()
    contexts.forget("A")
    assert contexts.context_of("A") is None


def test_spans_reach_the_file_when_the_tracer_stops(tmp_path: Path) -> None:
    tracing = open_tracing("shop", tmp_path / "traces" / "shop.jsonl")
    for name in ("a", "b"):
        tracing.tracer.start_span(name).end()
    tracing.shutdown()
    spans, problems = read_spans(tmp_path)
    assert ([s.name for s in spans], problems) == (["a", "b"], [])


def test_the_routes_traced() -> None:
    assert traced_route("POST", "/api/payments/callback/payment-a") == \
        "POST /api/payments/callback/{channel}"
    assert traced_route("GET", "/api/orders/A1") is None
    assert traced_route("POST", "/api/orders/A1/paid") is None
    assert upstream_route("POST", "/pay/p-1") == "POST /pay/{payment_id}"
    assert upstream_route("GET", "/api/payments/A1") == "GET /api/payments/{trade_no}"
    assert upstream_route("POST", "/api/payments") == "POST /api/payments"
    assert upstream_route("GET", "/admin/faults") is None
