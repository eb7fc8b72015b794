"""Where an order's time went, from spans: shop, queue, each upstream, network."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakalab.contract.traces import CLIENT, ORDER_NO, SERVER, SpanRecord
from fakalab.reports.build import build_report
from fakalab.reports.traces import order_times, trace_time
from tests.reports.conftest import TINY


def span(service: str, span_id: str, parent: str, name: str, kind: int, start: float,
         end: float, **attributes: str) -> SpanRecord:
    return SpanRecord(service, "t1", span_id, parent, name, kind, start, end, attributes, False)


ORDER = [
    span("shop", "c", "buyer", "POST /api/orders", SERVER, 0.0, 0.010, **{ORDER_NO: "A"}),
    span("shop", "c1", "c", "POST payment-a", CLIENT, 0.002, 0.008, **{"peer.service":
                                                                       "payment-a"}),
    span("payment-a", "p1", "c1", "POST /api/payments", SERVER, 0.003, 0.007),
    span("shop", "cb", "pc", "POST /api/payments/callback/{channel}", SERVER, 1.0, 1.004),
    span("shop", "r", "cb", "risk_check", 1, 1.100, 1.110),
    span("shop", "r1", "r", "POST risk", CLIENT, 1.101, 1.109, **{"peer.service": "risk"}),
    span("risk", "r2", "r1", "POST /api/check", SERVER, 1.102, 1.106),
    span("shop", "d", "cb", "delivering", 1, 1.110, 1.112),
    span("shop", "n1", "d", "POST notify", CLIENT, 1.111, 1.121, **{"peer.service": "notify"}),
]


def test_an_orders_time_splits_into_components() -> None:
    times = order_times(ORDER)["A"]
    assert times == pytest.approx({
        "shop": 0.010 - 0.006 + 0.004 + 0.010 - 0.008 + 0.002 - 0.001,  # own spans less calls
        "payment-a": 0.004, "risk": 0.004,
        "notify": 0.0,  # no server span came back (it was never answered)
        "network": 0.002 + 0.004 + 0.010,
        "queue": 1.100 - 1.004})


def test_rows_per_component_with_shares() -> None:
    rows = trace_time(ORDER)
    assert rows is not None
    assert [r["component"] for r in rows] == ["shop", "queue", "notify", "payment-a", "risk",
                                              "network"]
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    assert all(r["orders"] == 1 for r in rows)


def test_no_spans_no_section() -> None:
    assert trace_time(()) is None
    assert trace_time(ORDER[1:]) is None  # no order creation span: no order to split


def test_a_run_without_traces_says_so(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    for path in TINY.iterdir():
        if path.is_file():
            (run / path.name).write_bytes(path.read_bytes())
    report = build_report([run], tmp_path / "report")
    assert "No spans in `traces/`" in (report / "report.md").read_text()
    assert "Per component, from traces" in (report / "index.html").read_text()
