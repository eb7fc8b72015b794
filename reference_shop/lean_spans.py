"""A tracer whose spans cost a fraction of the SDK tracer's, and are still SDK spans
(docs/tracing.md#cost).

`LeanTracer.start_span` for a span whose parent is sampled — every span on the shop's hot path:
the buyer's traceparent, then the spans under it — makes an `opentelemetry.sdk.trace.Span`
(`LeanSpan`) directly: no sampler call (a sampled parent is followed, as `ParentBased` does),
no tracer metrics hook, no event or link containers until something is put in them, a plain
dict for a few scalar attributes (the SDK's `BoundedAttributes`, which checks and bounds each
value, for anything else),
the id from `random.getrandbits` (the SDK's own generator, without its indirection), and at its
end the span itself — already a `ReadableSpan`, frozen once ended — goes to the processors
instead of a copy of it (the processors' `on_start` is not called: `tracing.Batches` has none).
A root span, one with links, or one under an unsampled parent goes to the SDK tracer as before
(the provider's sampler decides).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from time import time_ns

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, SpanLimits, SpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types
from opentelemetry.util.types import Attributes

__all__ = ["LeanSpan", "LeanTracer"]

SAMPLED = TraceFlags(TraceFlags.SAMPLED)
UNSET = Status(StatusCode.UNSET)
_LIMITS = SpanLimits()


class LeanSpan(Span):
    """An SDK span set up field by field (see the module's docstring); behaves as one."""

    def __init__(self, name: str, context: SpanContext, parent: SpanContext, kind: SpanKind,
                 resource: Resource, scope: InstrumentationScope, processors: Sequence[
                     SpanProcessor], attributes: Attributes, start_time: int) -> None:
        # ReadableSpan's fields
        self._name, self._context, self._kind, self._parent = name, context, kind, parent
        self._instrumentation_info = None
        self._instrumentation_scope = scope
        self._start_time, self._end_time = start_time, None
        self._attributes = None if not attributes else dict(attributes) if _plain(  # type: ignore[assignment]
            attributes) else _bounded(attributes)
        self._events = ()  # type: ignore[assignment]
        self._links = ()  # type: ignore[assignment]
        self._resource, self._status = resource, UNSET
        # Span's fields
        self._sampler = None
        self._trace_config = None
        self._record_exception = self._set_status_on_exception = True
        self._span_processor = processors[0]  # unused: `end` hands the span to each
        self._processors = processors
        self._limits = _LIMITS
        self._lock = threading.Lock()
        self._record_end_metrics = None

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        if self._end_time is None and _plain(attributes) and (
                self._attributes is None or type(self._attributes) is dict):
            with self._lock:
                if self._attributes is None:
                    self._attributes = {}  # type: ignore[assignment]
                self._attributes.update(attributes)  # type: ignore[attr-defined]
            return
        if isinstance(self._attributes, dict | type(None)) and self._end_time is None:
            self._attributes = _bounded(self._attributes)
        super().set_attributes(attributes)

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        self.set_attributes({key: value})

    def add_event(self, name: str, attributes: Attributes = None,
                  timestamp: int | None = None) -> None:
        if not self._events and self._end_time is None:
            self._events = self._new_events()
        super().add_event(name, attributes, timestamp)

    def add_link(self, context: SpanContext, attributes: Attributes = None) -> None:
        if not self._links and self._end_time is None:
            self._links = self._new_links(())
        super().add_link(context, attributes)

    def end(self, end_time: int | None = None) -> None:
        with self._lock:
            if self._end_time is not None:
                return
            self._end_time = end_time if end_time is not None else time_ns()
            if isinstance(self._attributes, BoundedAttributes):
                self._attributes._immutable = True
        for processor in self._processors:
            processor.on_end(self)


_PLAIN = (str, int, float, bool)


def _plain(attributes: Mapping[str, types.AnyValue]) -> bool:
    """Attributes the SDK would keep as given (scalars, few): a plain dict holds them."""
    return len(attributes) <= 8 and all(type(v) in _PLAIN for v in attributes.values())


def _bounded(attributes: Mapping[str, types.AnyValue] | None) -> BoundedAttributes:
    return BoundedAttributes(_LIMITS.max_span_attributes, attributes, immutable=False,
                             max_value_len=_LIMITS.max_span_attribute_length)


class LeanTracer(trace.Tracer):
    """`start_span` of `LeanSpan`s under sampled parents; anything else by `sdk` (the SDK's
    tracer of the same provider, which keeps the sampling decision of roots)."""

    def __init__(self, sdk: trace.Tracer, resource: Resource, scope: InstrumentationScope,
                 processors: Sequence[SpanProcessor]) -> None:
        self.sdk = sdk
        self.resource = resource
        self.scope = scope
        self.processors = tuple(processors)
        self._bits = random.getrandbits

    def start_span(self, name: str, context: otel_context.Context | None = None,
                   kind: SpanKind = SpanKind.INTERNAL, attributes: Attributes = None,
                   links: Sequence[Link] | None = (), start_time: int | None = None,
                   record_exception: bool = True, set_status_on_exception: bool = True
                   ) -> trace.Span:
        parent = trace.get_current_span(context).get_span_context()
        if not self.processors or links or not (parent.is_valid and parent.trace_flags.sampled):
            return self.sdk.start_span(name, context, kind, attributes, links, start_time,
                                       record_exception, set_status_on_exception)
        span = LeanSpan(name, SpanContext(parent.trace_id, self._bits(64) or 1, False, SAMPLED),
                        parent, kind, self.resource, self.scope, self.processors, attributes,
                        start_time if start_time is not None else time_ns())
        return span

    @contextmanager
    def start_as_current_span(  # type: ignore[override]
            self, name: str, context: otel_context.Context | None = None,
            kind: SpanKind = SpanKind.INTERNAL, attributes: Attributes = None,
            links: Sequence[Link] | None = (), start_time: int | None = None,
            record_exception: bool = True, set_status_on_exception: bool = True,
            end_on_exit: bool = True) -> Iterator[trace.Span]:
        span = self.start_span(name, context, kind, attributes, links, start_time,
                               record_exception, set_status_on_exception)
        with trace.use_span(span, end_on_exit=end_on_exit, record_exception=record_exception,
                            set_status_on_exception=set_status_on_exception) as current:
            yield current

