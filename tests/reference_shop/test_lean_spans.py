"""The lean tracer's spans are SDK spans: the same fields, the same OTLP encoding (the
SDK's own protobuf encoder and fakalab's JSON), parent and sampling rules as the SDK tracer's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as protobuf
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from fakalab.contract.traces import decode_line, encode_spans
from fakalab.reference_shop.lean_spans import LeanSpan
from fakalab.reference_shop.tracing import open_tracing, parent_context

SAMPLED = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"


class Kept(SpanProcessor):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def _both(tmp_path: Any) -> tuple[Any, Kept]:
    tracing = open_tracing("shop", tmp_path / "shop.jsonl")
    kept = Kept()
    tracing.provider.add_span_processor(kept)  # what the SDK tracer's spans go to
    tracing.tracer.processors += (kept,)  # type: ignore[attr-defined]
    return tracing, kept


def _fields(span: ReadableSpan) -> dict[str, Any]:
    return {"name": span.name, "kind": span.kind, "trace": span.context.trace_id,  # type: ignore[union-attr]
            "parent": span.parent, "attributes": dict(span.attributes or {}),
            "status": span.status.status_code, "events": [e.name for e in span.events],
            "scope": span.instrumentation_scope.name if span.instrumentation_scope else None,
            "resource": dict(span.resource.attributes), "links": list(span.links)}


def _make(tracer: Any) -> Span:
    span = tracer.start_span("POST risk", parent_context({"traceparent": SAMPLED}),
                             SpanKind.CLIENT, {"peer.service": "risk"})
    span.set_attribute("http.response.status_code", 503)
    span.set_attribute("tags", ["a", "b"])  # not a scalar: the SDK's checked container
    span.add_event("retry")
    span.set_status(Status(StatusCode.ERROR))
    span.end()
    span.set_attribute("late", 1)  # an ended span is frozen
    return span


def test_a_lean_span_is_the_sdk_span_the_sdk_tracer_would_make(tmp_path: Any) -> None:
    tracing, kept = _both(tmp_path)
    lean, sdk = _make(tracing.tracer), _make(tracing.tracer.sdk)  # type: ignore[attr-defined]
    assert isinstance(lean, LeanSpan) and isinstance(lean, Span)
    assert not isinstance(sdk, LeanSpan)
    assert _fields(lean) == _fields(sdk)
    assert lean.start_time <= lean.end_time  # type: ignore[operator]
    assert lean.context.span_id != sdk.context.span_id
    assert len(kept.spans) == 2 and kept.spans[0] is lean  # the span itself, not a copy
    assert len(protobuf(kept.spans).resource_spans[0].scope_spans[0].spans) == 2
    encoded = [protobuf([s]).resource_spans[0].scope_spans[0].spans[0] for s in kept.spans]
    for message in encoded:  # what differs between any two spans: ids and times
        message.span_id, message.start_time_unix_nano, message.end_time_unix_nano = b"", 0, 0
        for event in message.events:
            event.time_unix_nano = 0
    assert encoded[0] == encoded[1]
    (one, two) = decode_line(encode_spans(kept.spans))
    assert {k: v for k, v in one._asdict().items() if k not in ("span_id", "start", "end")} == \
        {k: v for k, v in two._asdict().items() if k not in ("span_id", "start", "end")}
    tracing.shutdown()


def test_roots_and_unsampled_parents_follow_the_sdk_rules(tmp_path: Any) -> None:
    tracing, kept = _both(tmp_path)
    unsampled = parent_context({"traceparent": SAMPLED[:-2] + "00"})
    span = tracing.tracer.start_span("x", unsampled)
    assert not span.is_recording() and not isinstance(span, LeanSpan)
    root = tracing.tracer.start_span("root")  # the provider's sampler: sample 1.0
    assert root.is_recording() and not isinstance(root, LeanSpan) and root.parent is None  # type: ignore[attr-defined]
    with trace.use_span(root, end_on_exit=True):
        child = tracing.tracer.start_span("child")
        assert isinstance(child, LeanSpan)
        assert child.parent.span_id == root.get_span_context().span_id  # type: ignore[union-attr]
        child.end()
    with tracing.tracer.start_as_current_span("current", parent_context(
            {"traceparent": SAMPLED})) as current:
        assert trace.get_current_span() is current
    names: Sequence[str] = [s.name for s in kept.spans]
    assert names == ["child", "root", "current"]
    tracing.shutdown()


def test_a_plain_traceparent_is_read_as_the_w3c_propagator_reads_it() -> None:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    w3c = TraceContextTextMapPropagator()
    for headers in ({"traceparent": SAMPLED}, {"traceparent": SAMPLED[:-2] + "00"},
                    {"traceparent": SAMPLED.upper()}, {"traceparent": "00-" + "0" * 32 + "-"
                                                       + "cd" * 8 + "-01"},
                    {"traceparent": SAMPLED + "-extra"}, {"traceparent": "ff" + SAMPLED[2:]},
                    {"traceparent": SAMPLED, "tracestate": "a=1"}, {}, {"traceparent": "junk"}):
        ours = trace.get_current_span(parent_context(headers)).get_span_context()
        theirs = trace.get_current_span(w3c.extract(headers)).get_span_context()
        assert ours == theirs and ours.trace_state == theirs.trace_state, headers
