"""What one span costs the shop, in CPU (process time, one thread): the SDK's tracer against
the lean one the shop uses (`reference_shop/lean_spans.py`), for the spans of its hot path.

    .venv/bin/python bench/bench_spans.py [--spans 50000]

Each case is made `--spans` times after a warm-up, through the shop's own `open_tracing`
(exporting to a file, as in a drill): a SERVER span continuing a buyer's traceparent and made
current while it lasts (`TraceRequests`), a CLIENT span with `peer.service` under a current
parent (`Upstream`), the OTLP JSON encoding of a span (`contract/traces.py`, done by the export
thread), and reading a traceparent (`parent_context`, against the W3C propagator). Prints
microseconds per span (per header for the last) for each tracer, and their ratio; a span's
figure includes its export (the export thread runs in the same process while it is measured).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from opentelemetry import context as otel_context  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor  # noqa: E402
from opentelemetry.trace import SpanKind, Tracer  # noqa: E402
from opentelemetry.trace.propagation.tracecontext import (  # noqa: E402
    TraceContextTextMapPropagator,
)

from fakalab.contract.traces import encode_spans  # noqa: E402
from fakalab.reference_shop.tracing import open_tracing, parent_context  # noqa: E402

HEADERS = {"traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"}


def per_call_us(case: Callable[[], object], n: int) -> float:
    for _ in range(min(n, 2000)):
        case()
    started = time.process_time()
    for _ in range(n):
        case()
    return (time.process_time() - started) / n * 1e6


def cases(tracer: Tracer) -> dict[str, Callable[[], object]]:
    parent = parent_context(HEADERS)

    def server() -> None:
        span = tracer.start_span("POST /api/orders", parent, SpanKind.SERVER)
        token = otel_context.attach(trace.set_span_in_context(span))
        otel_context.detach(token)
        span.set_attribute("fakalab.order_no", "2612020000000000")
        span.end()

    outer = tracer.start_span("risk_check", parent)

    def client() -> None:
        token = otel_context.attach(trace.set_span_in_context(outer))
        span = tracer.start_span("POST risk", kind=SpanKind.CLIENT,
                                 attributes={"peer.service": "risk"})
        span.end()
        otel_context.detach(token)

    return {"SERVER span, current while it lasts": server,
            "CLIENT span under the current span": client}


class Kept(SpanProcessor):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        if len(self.spans) < 2048:
            self.spans.append(span)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=50_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fakalab-bench-spans-"))
    tracing = open_tracing("shop", work / "shop.jsonl")
    lean = tracing.tracer
    sdk: Tracer = lean.sdk  # type: ignore[attr-defined]  # the provider's own SDK tracer
    kept = Kept()
    tracing.provider.add_span_processor(kept)
    measured: dict[str, dict[str, float]] = {"sdk": {}, "lean": {}}
    for label, tracer in (("sdk", sdk), ("lean", lean)):
        for case, run in cases(tracer).items():
            measured[label][case] = per_call_us(run, args.spans)
    spans = kept.spans  # SDK spans (copies) and lean spans encode alike
    measured["sdk"]["OTLP JSON encoding (export thread)"] = per_call_us(
        lambda: encode_spans(spans), 50) / len(spans)
    measured["lean"]["OTLP JSON encoding (export thread)"] = measured["sdk"][
        "OTLP JSON encoding (export thread)"]
    w3c = TraceContextTextMapPropagator()
    measured["sdk"]["reading a traceparent"] = per_call_us(lambda: w3c.extract(HEADERS),
                                                           args.spans)
    measured["lean"]["reading a traceparent"] = per_call_us(lambda: parent_context(HEADERS),
                                                            args.spans)
    tracing.shutdown()
    print(f"{'per span (µs of CPU)':42} {'SDK tracer':>10} {'lean':>8} {'ratio':>6}")
    for case in measured["sdk"]:
        before, after = measured["sdk"][case], measured["lean"][case]
        print(f"{case:42} {before:10.1f} {after:8.1f} {after / before:6.2f}")


if __name__ == "__main__":
    main()
