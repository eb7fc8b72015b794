"""Traces in the run directory (docs/tracing.md): the file names, the span vocabulary the shop,
its upstreams and the buyers share, and the OTLP JSON mapping both ways (pure).

Each traced process appends to ``traces/<service>.jsonl``; every line is one OTLP
``ExportTraceServiceRequest`` in the protobuf JSON mapping (hex ids, nanosecond times as
strings, enum values as numbers) — the format of the OpenTelemetry Collector's file exporter
and of its ``otlpjsonfile`` receiver, so a collector can replay a drill into Jaeger.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["BUYERS", "ORDER_NO", "PEER", "SHOP", "TRACES_DIR", "SpanRecord", "decode_line",
           "encode_spans", "read_spans", "trace_file"]

TRACES_DIR = "traces"  # in the run directory
SHOP = "shop"  # service.name of the shop; the upstreams use their service names
BUYERS = "buyers"  # service.name of the Locust buyers (traces/buyers-<pid>.jsonl)
ORDER_NO = "fakalab.order_no"  # the order a span worked on
PEER = "peer.service"  # the upstream a client span called
SERVER, CLIENT = 2, 3  # OTLP SpanKind values (INTERNAL is 1)
_quoted = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def trace_file(service: str) -> str:
    """A service's file, relative to the run directory."""
    return f"{TRACES_DIR}/{service}.jsonl"


class SpanRecord(NamedTuple):
    """One span as the reports read it (times in epoch seconds)."""

    service: str
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    start: float
    end: float
    attributes: Mapping[str, Any]
    error: bool


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _attributes(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in (attributes or {}).items()]


def _json_value(value: Any) -> str:
    if isinstance(value, str):
        return '{"stringValue":' + _quoted(value) + "}"
    if isinstance(value, bool):
        return '{"boolValue":true}' if value else '{"boolValue":false}'
    if isinstance(value, int):
        return f'{{"intValue":"{value}"}}'
    return json.dumps(_value(value), separators=(",", ":"))


def _json_attributes(attributes: Mapping[str, Any] | None) -> str:
    if not attributes:
        return "[]"
    return "[" + ",".join('{"key":' + _quoted(k) + ',"value":' + _json_value(v) + "}"
                          for k, v in attributes.items()) + "]"


def _span(span: ReadableSpan) -> str:
    """One span as OTLP JSON, formatted directly (a third of the cost of building dicts for
    json.dumps: the shop exports every span it makes)."""
    context, parent = span.get_span_context(), span.parent
    assert context is not None
    extra = f',"parentSpanId":"{parent.span_id:016x}"' if parent is not None else ""
    if span.events:
        extra += ',"events":' + json.dumps(
            [{"timeUnixNano": str(e.timestamp), "name": e.name,
              "attributes": _attributes(e.attributes)} for e in span.events],
            separators=(",", ":"))
    code = span.status.status_code.value  # UNSET 0, OK 1, ERROR 2: the OTLP numbers too
    if code:
        status: dict[str, Any] = {"code": code}
        if span.status.description:
            status["message"] = span.status.description
        extra += ',"status":' + json.dumps(status, separators=(",", ":"))
    return (f'{{"traceId":"{context.trace_id:032x}","spanId":"{context.span_id:016x}"{extra},'
            f'"name":{_quoted(span.name)},"kind":{span.kind.value + 1},'
            f'"startTimeUnixNano":"{span.start_time}","endTimeUnixNano":"{span.end_time}",'
            f'"attributes":{_json_attributes(span.attributes)}}}')


def encode_spans(spans: Sequence[ReadableSpan]) -> str:
    """One line of OTLP JSON for spans of one process (grouped by resource and scope)."""
    resources: dict[int, tuple[Any, dict[tuple[str, str], list[str]]]] = {}
    for span in spans:
        _, scopes = resources.setdefault(id(span.resource), (span.resource, {}))
        scope = span.instrumentation_scope
        key = (scope.name, scope.version or "") if scope is not None else ("", "")
        scopes.setdefault(key, []).append(_span(span))
    parts = []
    for resource, scopes in resources.values():
        scope_parts = [
            '{"scope":' + json.dumps({"name": name, **({"version": version} if version else {})})
            + ',"spans":[' + ",".join(encoded) + "]}"
            for (name, version), encoded in scopes.items()]
        parts.append('{"resource":{"attributes":' + _json_attributes(resource.attributes)
                     + '},"scopeSpans":[' + ",".join(scope_parts) + "]}")
    return '{"resourceSpans":[' + ",".join(parts) + "]}"


def _plain(value: Mapping[str, Any]) -> Any:
    for kind in ("stringValue", "boolValue", "doubleValue"):
        if kind in value:
            return value[kind]
    if "intValue" in value:
        return int(value["intValue"])
    return None


def _plain_attributes(items: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
    return {str(a["key"]): _plain(a.get("value", {})) for a in items or ()}


def decode_line(line: str) -> Iterator[SpanRecord]:
    """The spans of one OTLP JSON line (ValueError or KeyError when it is not one)."""
    document = json.loads(line)
    for resource_spans in document.get("resourceSpans", ()):
        resource = _plain_attributes(resource_spans.get("resource", {}).get("attributes"))
        service = str(resource.get("service.name", "unknown"))
        for scope_spans in resource_spans.get("scopeSpans", ()):
            for span in scope_spans.get("spans", ()):
                yield SpanRecord(
                    service, span["traceId"], span["spanId"], span.get("parentSpanId", ""),
                    span["name"], int(span.get("kind", 0)),
                    int(span["startTimeUnixNano"]) / 1e9, int(span["endTimeUnixNano"]) / 1e9,
                    _plain_attributes(span.get("attributes")),
                    int(span.get("status", {}).get("code", 0)) == 2)


def read_spans(run_dir: str | Path) -> tuple[list[SpanRecord], list[str]]:
    """Every span of ``traces/*.jsonl`` and a warning per line that could not be read (a
    process killed mid-write leaves a cut-off last line)."""
    spans: list[SpanRecord] = []
    problems: list[str] = []
    for path in sorted((Path(run_dir) / TRACES_DIR).glob("*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    spans.extend(decode_line(line))
                except (ValueError, KeyError, TypeError):
                    problems.append(f"{path}:{number}: not an OTLP JSON line; skipped")
    return spans, problems
