"""Where an order's time went, from its spans (pure over `contract.traces.SpanRecord`s).

One traced order is one trace holding the shop's `POST /api/orders` span. Its time splits
into: `shop` (the shop's own spans — order creation, the payment callback, each fulfilment
stage — less the calls they made), `queue` (paid, waiting for a fulfilment worker: from the
end of the callback to the first stage), each upstream (the upstream's own server spans of
the shop's calls), and `network` (each call's client span less the upstream's server span:
the link, a proxy's injected latency, connection set-up). The buyer's own time (paying,
thinking) is in none of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from fakalab.contract.traces import CLIENT, ORDER_NO, PEER, SERVER, SHOP, SpanRecord
from fakalab.reports.metrics import percentile, ratio

__all__ = ["order_times", "trace_time"]

CREATED = "POST /api/orders"
STAGES = ("risk_check", "allocating", "delivering")
QUEUE, NETWORK = "queue", "network"


def _overlap(inner: SpanRecord, outer: SpanRecord) -> float:
    return max(0.0, min(inner.end, outer.end) - max(inner.start, outer.start))


def _one_order(spans: Sequence[SpanRecord]) -> dict[str, float]:
    """Seconds per component of one order's trace."""
    by_id = {s.span_id: s for s in spans}
    times: dict[str, float] = defaultdict(float)
    shop = [s for s in spans if s.service == SHOP and s.kind != CLIENT]
    for span in shop:
        times[SHOP] += span.end - span.start
    for call in (s for s in spans if s.service == SHOP and s.kind == CLIENT):
        parent = by_id.get(call.parent_id)
        if parent is not None:
            times[SHOP] -= _overlap(call, parent)
        served = [s for s in spans if s.parent_id == call.span_id and s.kind == SERVER]
        inside = sum(s.end - s.start for s in served)
        peer = str(call.attributes.get(PEER) or (served[0].service if served else "unknown"))
        times[peer] += inside
        times[NETWORK] += max(0.0, (call.end - call.start) - inside)
    callback = [s for s in shop if s.kind == SERVER and s.name != CREATED]
    stages = [s for s in shop if s.name in STAGES]
    if callback and stages:
        times[QUEUE] = max(0.0, min(s.start for s in stages) - min(s.end for s in callback))
    return dict(times)


def order_times(spans: Iterable[SpanRecord]) -> dict[str, dict[str, float]]:
    """Per traced order (its number): seconds per component."""
    traces: dict[str, list[SpanRecord]] = defaultdict(list)
    for span in spans:
        traces[span.trace_id].append(span)
    orders: dict[str, dict[str, float]] = {}
    for trace in traces.values():
        created = [s for s in trace if s.service == SHOP and s.name == CREATED
                   and s.attributes.get(ORDER_NO)]
        if created:
            orders[str(created[0].attributes[ORDER_NO])] = _one_order(trace)
    return orders


def _order(component: str) -> tuple[int, str]:
    return {SHOP: 0, QUEUE: 1, NETWORK: 3}.get(component, 2), component


def trace_time(spans: Sequence[SpanRecord] | None) -> list[dict[str, Any]] | None:
    """One row per component over the traced orders; None without spans (a run made with
    tracing off, or before it existed)."""
    if not spans:
        return None
    orders = order_times(spans)
    if not orders:
        return None
    components = sorted({c for times in orders.values() for c in times}, key=_order)
    seconds = {c: np.array([t.get(c, 0.0) for t in orders.values()]) for c in components}
    grand = float(sum(v.sum() for v in seconds.values()))
    return [{"component": c, "orders": len(orders), "total_s": float(seconds[c].sum()),
             "mean_ms": float(seconds[c].mean() * 1000),
             "p95_ms": float((percentile(seconds[c], 95) or 0.0) * 1000),
             "share": ratio(float(seconds[c].sum()), grand)} for c in components]
