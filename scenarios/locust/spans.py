"""The buyers' own spans (docs/tracing.md): each traced journey's root span, and a CLIENT span
per request it sends through the profile client, as OpenTelemetry SDK spans written as OTLP
JSON lines (`contract/traces.py`, service `buyers`).

A journey's `traceparent` (`profile_client.journey_trace`) names the trace and its root span;
`BuyerSpans.client` gives each request a child span of that root and the header naming it, so
the shop's SERVER span of the request is the child of the buyer's CLIENT span, and the
journey's other hops (the payment page, the callback) children of the root. Only sampled
journeys make spans. Spans are built as finished `ReadableSpan`s (no tracer, no processor: the
buyer knows each span's start and end when it makes it), with ids from one random generator
seeded once per process, and handed to `sink` as one encoded line per `flush_every` spans.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from fakalab.contract.traces import BUYERS, ORDER_NO, encode_spans

__all__ = ["BuyerSpans", "Journey", "parse_traceparent"]

SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def parse_traceparent(value: str | None) -> tuple[int, int] | None:
    """(trace id, span id) of a sampled W3C version-00 traceparent; None otherwise."""
    parts = (value or "").split("-")
    if len(parts) != 4 or parts[0] != "00" or parts[3] != "01":
        return None
    try:
        return int(parts[1], 16), int(parts[2], 16)
    except ValueError:
        return None


@dataclass
class Journey:
    trace_id: int
    span_id: int
    started_ns: int


class BuyerSpans:
    def __init__(self, sink: Callable[[str], None], flush_every: int = 256,
                 rng: random.Random | None = None) -> None:
        self.sink = sink
        self.flush_every = flush_every
        self.resource = Resource.create({"service.name": BUYERS})
        self.scope = InstrumentationScope("fakalab.buyers")
        self._rng = rng or random.Random(os.urandom(16))
        self._spans: list[ReadableSpan] = []

    def start(self, traceparent: str | None) -> Journey | None:
        """The journey of a sampled `traceparent` (its root span's ids), None otherwise."""
        ids = parse_traceparent(traceparent)
        return None if ids is None else Journey(ids[0], ids[1], time.time_ns())

    def end(self, journey: Journey | None, persona: str, order_no: str | None) -> None:
        """The journey's root span, from its start to now."""
        if journey is None:
            return
        attributes: dict[str, str] = {"fakalab.persona": persona}
        if order_no:
            attributes[ORDER_NO] = order_no
        self._add(ReadableSpan(
            f"journey {persona}", self._context(journey.trace_id, journey.span_id), None,
            self.resource, attributes, kind=SpanKind.INTERNAL, instrumentation_scope=self.scope,
            start_time=journey.started_ns, end_time=time.time_ns()))

    def child(self, traceparent: str | None) -> tuple[str, int, int, int] | None:
        """A new CLIENT span's header under the journey `traceparent` names, with its ids
        (header, trace id, span id, parent id); None for an unsampled or absent one."""
        ids = parse_traceparent(traceparent)
        if ids is None:
            return None
        span_id = self._rng.getrandbits(64) or 1
        return f"00-{ids[0]:032x}-{span_id:016x}-01", ids[0], span_id, ids[1]

    def client(self, ids: tuple[str, int, int, int], name: str, started_ns: int,
               status: int) -> None:
        """The CLIENT span of one request, ended now; an answer of 5xx or none is an error."""
        _, trace_id, span_id, parent_id = ids
        failed = status == 0 or status >= 500
        self._add(ReadableSpan(
            name, self._context(trace_id, span_id), self._context(trace_id, parent_id),
            self.resource, {"http.response.status_code": status} if status != 200 else None,
            kind=SpanKind.CLIENT, instrumentation_scope=self.scope,
            status=Status(StatusCode.ERROR) if failed else Status(StatusCode.UNSET),
            start_time=started_ns, end_time=time.time_ns()))

    def flush(self) -> None:
        spans, self._spans = self._spans, []
        if spans:
            self.sink(encode_spans(spans))

    @staticmethod
    def _context(trace_id: int, span_id: int) -> SpanContext:
        return SpanContext(trace_id, span_id, is_remote=False, trace_flags=SAMPLED)

    def _add(self, span: ReadableSpan) -> None:
        self._spans.append(span)
        if len(self._spans) >= self.flush_every:
            self.flush()
