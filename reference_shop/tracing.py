"""OpenTelemetry tracing of the shop and its upstreams (docs/tracing.md).

:func:`open_tracing` makes a private ``TracerProvider`` (never the global one: FastAPI 0.165's
built-in telemetry switches itself on for a global provider and would trace every request,
every dependency and every serialisation) with a batching processor (:class:`Batches`) per
destination — OTLP JSON lines in a file (``contract/traces.py``) and, when given, an
OTLP/HTTP endpoint.
:class:`TraceRequests` is the server side of W3C ``traceparent`` for the requests it is told
to trace; :func:`traceparent` is the client side. With tracing off none of this is built, so
the hot path does no tracing work at all.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider, sampling
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fakalab.contract.traces import encode_spans
from fakalab.reference_shop.lean_spans import LeanTracer

__all__ = ["Batches", "CurrentSpan", "JsonLinesExporter", "OrderContexts", "TraceRequests",
           "Tracing", "open_tracing", "parent_context", "traced_now", "traceparent"]

W3C = TraceContextTextMapPropagator()


class JsonLinesExporter(SpanExporter):
    """Appends each batch as one OTLP JSON line (the file is opened on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        line = encode_spans(spans) + "\n"
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
            self._file.write(line)
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class Batches(SpanProcessor):
    """Like the SDK's ``BatchSpanProcessor``, minus its per-span cost: ending a span appends
    it to a deque (no lock, no fork check, no wake-up); a thread exports what has gathered
    every ``interval_s`` (at most ``max_queue`` spans wait: beyond it new ones are dropped and
    counted). On the shop's hot path that halved what each span costs (docs/tracing.md)."""

    def __init__(self, exporter: SpanExporter, interval_s: float = 1.0,
                 max_queue: int = 100_000, batch: int = 2048) -> None:
        self.exporter = exporter
        self.interval_s = interval_s
        self.max_queue = max_queue
        self.batch = batch
        self.dropped = 0
        self._spans: deque[ReadableSpan] = deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fakalab-spans", daemon=True)
        self._thread.start()

    def on_end(self, span: ReadableSpan) -> None:
        if len(self._spans) < self.max_queue:
            self._spans.append(span)
        else:
            self.dropped += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._export()

    def _export(self) -> None:
        while self._spans:
            taken: list[ReadableSpan] = []
            with contextlib.suppress(IndexError):  # popleft is atomic: no lock needed
                while len(taken) < self.batch:
                    taken.append(self._spans.popleft())
            if taken:
                self.exporter.export(taken)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self._export()
        return True

    def shutdown(self) -> None:
        self._stop.set()
        self._thread.join()
        self._export()
        self.exporter.shutdown()


def _otlp_exporter(endpoint: str) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    url = endpoint.rstrip("/")
    return OTLPSpanExporter(endpoint=url if url.endswith("/v1/traces") else url + "/v1/traces")


class Tracing:
    """One service's tracer and how to stop it (flushing what is buffered). The tracer is a
    `LeanTracer` over the provider's: the same spans at a fraction of the cost."""

    def __init__(self, provider: TracerProvider, service: str,
                 processors: Sequence[SpanProcessor] = ()) -> None:
        self.provider = provider
        sdk = provider.get_tracer(f"fakalab.{service}")
        # the SDK tracer's own scope object, so that encoders group both tracers' spans as one
        scope = getattr(sdk, "_instrumentation_scope", None) or InstrumentationScope(
            f"fakalab.{service}")
        self.tracer: Tracer = LeanTracer(sdk, provider.resource, scope, processors)

    def shutdown(self) -> None:
        self.provider.shutdown()


def open_tracing(service: str, file: str | Path | None, otlp_endpoint: str | None = None,
                 sample: float = 1.0, *, roots: bool = True) -> Tracing:
    """A tracer of ``service`` exporting to ``file`` and/or ``otlp_endpoint``. A request that
    arrives with a trace keeps its sampling decision; ``roots`` False starts no trace of its
    own (the upstreams trace only what the shop traced), else a fraction ``sample`` of them."""
    root = sampling.TraceIdRatioBased(sample) if roots else sampling.ALWAYS_OFF
    provider = TracerProvider(resource=Resource.create({"service.name": service}),
                              sampler=sampling.ParentBased(root))
    processors = []
    if file is not None:
        processors.append(Batches(JsonLinesExporter(file)))
    if otlp_endpoint:
        processors.append(Batches(_otlp_exporter(otlp_endpoint)))
    for processor in processors:
        provider.add_span_processor(processor)
    return Tracing(provider, service, processors)


def traced_now() -> bool:
    """Whether the current context belongs to a sampled trace (its span may have ended: a
    side task outlives the span that started it)."""
    context = trace.get_current_span().get_span_context()
    return context.is_valid and context.trace_flags.sampled


def traceparent(span: Span) -> dict[str, str]:
    """The header that carries ``span`` as the parent of the next hop (W3C version 00)."""
    c = span.get_span_context()
    return {"traceparent": f"00-{c.trace_id:032x}-{c.span_id:016x}-{c.trace_flags:02x}"}


_VERSION_00 = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def parent_context(headers: Mapping[str, str]) -> otel_context.Context:
    """The remote parent named by ``traceparent`` in ``headers`` (an empty context if none).
    A plain version-00 header without ``tracestate`` — what the buyers and every hop send —
    is read here at half the cost of the W3C propagator, anything else by the propagator."""
    value = headers.get("traceparent")
    found = _VERSION_00.fullmatch(value) if value and "tracestate" not in headers else None
    if found is None:
        return W3C.extract(headers)
    trace_id, span_id = int(found[1], 16), int(found[2], 16)
    if not trace_id or not span_id:
        return W3C.extract(headers)  # invalid: the propagator's answer (an empty context)
    return trace.set_span_in_context(NonRecordingSpan(SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=TraceFlags(int(found[3], 16)))))


Predicate = Callable[[str, str], str | None]  # (method, path) -> span name, None: not traced


class TraceRequests:
    """Pure ASGI middleware: a SERVER span for each request ``name_of`` names, continuing the
    ``traceparent`` it carries and current while the app handles it. ``roots`` False (or a
    set of span names without this one): a request without one is passed through untouched,
    as is one whose trace is not sampled (no span)."""

    def __init__(self, app: ASGIApp, tracer: Tracer, name_of: Predicate,
                 roots: bool | frozenset[str] = True) -> None:
        self.app = app
        self.tracer = tracer
        self.name_of = name_of
        self.roots = roots  # or the names of the only spans that may start a trace

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = self.name_of(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if name is None:
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
                   if k in (b"traceparent", b"tracestate")}
        roots = self.roots if isinstance(self.roots, bool) else name in self.roots
        if (not carrier and not roots) or carrier.get("traceparent", "").endswith("-00"):
            # untraced, or a trace the buyer chose not to sample: no span, nothing passed on
            await self.app(scope, receive, send)
            return
        # no attributes: the name says the route, and each attribute costs microseconds
        span = self.tracer.start_span(name, parent_context(carrier), SpanKind.SERVER)
        status = 0

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            await self.app(scope, receive, sent)
        finally:
            otel_context.detach(token)
            if not 200 <= status < 300:  # the usual answer goes unsaid
                span.set_attribute("http.response.status_code", status)
                if status >= 500 or not status:
                    span.set_status(Status(StatusCode.ERROR))
            span.end()


class OrderContexts:
    """The trace each paid order belongs to, from its payment callback to its delivery: the
    fulfilment workers run outside any request, so the callback's span is kept here (in
    memory: after a restart an order's remaining stages go untraced)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._contexts: OrderedDict[str, SpanContext] = OrderedDict()

    def remember(self, order_no: str) -> None:
        """The current span becomes the order's parent, unless it has one already."""
        if order_no in self._contexts:
            return
        current = trace.get_current_span().get_span_context()
        if current.is_valid and current.trace_flags.sampled:
            self._contexts[order_no] = current
            if len(self._contexts) > self.limit:
                self._contexts.popitem(last=False)

    def forget(self, order_no: str) -> None:
        self._contexts.pop(order_no, None)

    def context_of(self, order_no: str) -> otel_context.Context | None:
        parent = self._contexts.get(order_no)
        return None if parent is None else trace.set_span_in_context(
            trace.NonRecordingSpan(parent))


class CurrentSpan:
    """A span current for the block, or nothing at all without a tracer."""

    def __init__(self, tracer: Tracer | None, name: str,
                 context: otel_context.Context | None = None,
                 attributes: Mapping[str, Any] | None = None) -> None:
        self.tracer, self.name, self.context, self.attributes = tracer, name, context, attributes
        self.span: Span | None = None
        self._token: object = None

    def __enter__(self) -> Span | None:
        if self.tracer is not None:
            self.span = self.tracer.start_span(self.name, self.context,
                                               attributes=self.attributes)
            self._token = otel_context.attach(trace.set_span_in_context(self.span))
        return self.span

    def __exit__(self, *_: object) -> None:
        if self.span is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            self.span.end()
