"""The OTLP JSON mapping both ways: what the shop writes is what the reports read."""

from __future__ import annotations

import json
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from fakalab.contract.traces import CLIENT, SERVER, decode_line, encode_spans, read_spans


class Kept(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: object) -> SpanExportResult:
        self.spans.extend(spans)  # type: ignore[arg-type]
        return SpanExportResult.SUCCESS


def _spans() -> list[ReadableSpan]:
    kept = Kept()
    provider = TracerProvider(resource=Resource({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(kept))
    tracer = provider.get_tracer("fakalab.shop")
    server = tracer.start_span("POST /api/orders", kind=SpanKind.SERVER,
                               attributes={"fakalab.order_no": "A\"1", "n": 3, "ok": True,
                                           "x": 0.5})
    client = tracer.start_span("POST risk", set_span_in_context(server), SpanKind.CLIENT)
    client.add_event("retry", {"attempt": 2})
    client.set_status(Status(StatusCode.ERROR, "timed out"))
    client.end()
    server.end()
    return kept.spans


def test_a_span_survives_the_round_trip() -> None:
    spans = _spans()
    line = encode_spans(spans)
    document = json.loads(line)
    assert document["resourceSpans"][0]["scopeSpans"][0]["scope"] == {"name": "fakalab.shop"}
    client, server = decode_line(line)
    assert (server.service, server.name, server.kind, server.parent_id) == (
        "shop", "POST /api/orders", SERVER, "")
    assert server.attributes == {"fakalab.order_no": "A\"1", "n": 3, "ok": True, "x": 0.5}
    assert (client.kind, client.parent_id, client.error) == (CLIENT, server.span_id, True)
    assert client.trace_id == server.trace_id == f"{spans[0].context.trace_id:032x}"
    assert server.start <= client.start <= client.end <= server.end
    assert json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["events"][0][
        "attributes"] == [{"key": "attempt", "value": {"intValue": "2"}}]


def test_a_cut_off_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "traces").mkdir()
    line = encode_spans(_spans())
    (tmp_path / "traces" / "shop.jsonl").write_text(line + "\n" + line[:40])
    spans, problems = read_spans(tmp_path)
    assert len(spans) == 2
    assert problems == [f"{tmp_path / 'traces' / 'shop.jsonl'}:2: not an OTLP JSON line; "
                        "skipped"]


def test_no_traces_directory_is_no_spans(tmp_path: Path) -> None:
    assert read_spans(tmp_path) == ([], [])
