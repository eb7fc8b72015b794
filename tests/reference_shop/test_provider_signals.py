"""The shop's side of shared anomaly signals: reading a provider's summary.json and push
(pure), failover on an announcement (true or false), the subscription with its reconnect
(httpx MockTransport) and against real upstreams on 127.0.0.1."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from fakalab.contract.rundir import PROVIDER_SIGNAL_COLUMNS
from fakalab.contract.shop_settings import ShopSettings
from fakalab.reference_shop.breaker import Breaker
from fakalab.reference_shop.payments import Payments
from fakalab.reference_shop.provider_signals import (
    ProviderReport,
    ProviderSignals,
    parse_summary,
    sse_events,
)
from fakalab.reference_shop.signal_feed import SignalFeed
from fakalab.reference_shop.statuspage import ComponentHealth
from fakalab.reference_shop.upstreams.faults import PaymentFaults
from fakalab.reference_shop.upstreams.process import UpstreamsProcess
from fakalab.reference_shop.upstreams.status import Announcement, StatusBoard, summary


def _doc(status: str | None = None) -> dict[str, Any]:
    board = StatusBoard("payment-a", 1000.0)
    if status is not None:
        board.announce(Announcement(id="i1", status=status, name="Callbacks delayed"), 1001)
    return summary(board, PaymentFaults())


def test_a_summary_is_read_into_a_report() -> None:
    report = parse_summary("payment-a", _doc("major_outage"), 5.0, "poll")
    assert (report.indicator, report.component_status, report.degraded) == (
        "critical", "major_outage", True)
    assert [i.incident_id for i in report.incidents] == ["i1"]
    assert not parse_summary("payment-a", _doc("degraded_performance"), 5.0, "poll").degraded


@pytest.mark.parametrize(("doc", "problem"), [
    ({"components": []}, "no status object"),
    ({"status": {}, "components": [{"status": "melting"}]}, "unknown component status"),
    ([], "no status object"),
])
def test_what_is_not_a_summary_is_refused(doc: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_summary("payment-a", doc, 0.0, "poll")


def test_server_sent_events_skip_keepalives() -> None:
    lines = [": keepalive", "", "event: summary", "data: {\"a\":", "data: 1}", "", "data: x", ""]
    assert list(sse_events(lines)) == [("summary", "{\"a\":\n1}"), ("message", "x")]


def test_provider_incidents_are_attributed() -> None:
    signals = ProviderSignals(enabled=True)
    assert signals.apply(parse_summary("payment-a", _doc("partial_outage"), 5.0, "stream"))
    assert not signals.apply(parse_summary("payment-a", _doc("partial_outage"), 6.0, "poll"))
    (incident,) = signals.incidents()
    assert incident["reported_by"] == "payment-a"
    assert incident["message"] == "Callbacks delayed (reported by payment-a)"
    assert signals.degraded("payment-a") and not signals.degraded("payment-b")
    assert not ProviderSignals(enabled=False, reports=signals.reports).degraded("payment-a")


def _payments(signals: ProviderSignals) -> Payments:
    channels = {name: SimpleNamespace(name=name, breaker=Breaker(), health=ComponentHealth())
                for name in ("payment-a", "payment-b")}
    return Payments(None, None, channels, ShopSettings(), None, None, None,  # type: ignore[arg-type]
                    signals=signals)


def test_an_announcement_true_or_false_steers_new_payments_until_withdrawn() -> None:
    signals = ProviderSignals(enabled=True)
    payments = _payments(signals)
    assert [c.name for c in payments.channel_chain()] == ["payment-a", "payment-b"]
    signals.apply(parse_summary("payment-a", _doc("major_outage"), 1.0, "stream"))
    assert [c.name for c in payments.channel_chain()] == ["payment-b", "payment-a"]
    signals.apply(parse_summary("payment-b", _doc("major_outage"), 1.0, "stream"))
    assert next(c.name for c in payments.channel_chain()) == "payment-a"  # both: no better one
    signals.apply(parse_summary("payment-a", _doc(), 2.0, "stream"))  # withdrawn
    assert next(c.name for c in payments.channel_chain()) == "payment-a"


async def _until(queue: asyncio.Queue[ProviderReport], test: Any) -> ProviderReport:
    while True:
        report = await asyncio.wait_for(queue.get(), 20)
        if test(report):
            return report


async def test_a_broken_push_falls_back_to_polling_and_reconnects(tmp_path: Path) -> None:
    streams = iter([httpx.Response(500), httpx.Response(
        200, content=f"event: summary\ndata: {json.dumps(_doc('partial_outage'))}\n\n".encode(),
        headers={"content-type": "text/event-stream"})])

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/stream":
            return next(streams, httpx.Response(503))
        return httpx.Response(200, json=_doc())

    signals = ProviderSignals(enabled=True)
    feed = SignalFeed(signals, {"payment-a": "http://pay.test"}, str(tmp_path / "s.csv"),
                      reconnect_s=0.0,
                      http=httpx.AsyncClient(transport=httpx.MockTransport(handle)))
    heard: asyncio.Queue[ProviderReport] = asyncio.Queue()
    feed.listeners.append(heard.put_nowait)
    task = asyncio.create_task(feed.stream("payment-a"))
    try:
        first = await _until(heard, lambda r: True)
        assert (first.via, first.degraded) == ("poll", False)  # the push broke: summary.json
        pushed = await _until(heard, lambda r: r.via == "stream")
        assert pushed.degraded and feed.connects["payment-a"] == 1
    finally:
        task.cancel()
        await feed.aclose()
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert tuple(rows[0]) == PROVIDER_SIGNAL_COLUMNS
    assert [r["via"] for r in rows][:2] == ["poll", "stream"]  # then polls again, maybe


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, str]]:
    with UpstreamsProcess(only=["payment-a", "supplier-a"]) as proc:
        yield proc.urls


async def test_the_shop_hears_an_announcement_through_the_push(
        upstreams: dict[str, str]) -> None:
    signals = ProviderSignals(enabled=True)
    feed = SignalFeed(signals, upstreams)
    heard: asyncio.Queue[ProviderReport] = asyncio.Queue()
    feed.listeners.append(heard.put_nowait)
    tasks = [asyncio.create_task(feed.stream(name)) for name in upstreams]  # the push alone
    admin = httpx.AsyncClient(base_url=upstreams["supplier-a"])
    try:
        await _until(heard, lambda r: r.provider == "supplier-a" and r.via == "stream")
        await admin.post("/admin/status/incidents", json={"id": "f1", "status": "major_outage"})
        report = await _until(heard, lambda r: r.provider == "supplier-a" and r.degraded)
        assert report.via == "stream" and signals.degraded("supplier-a")
        await admin.delete("/admin/status")
        await _until(heard, lambda r: r.provider == "supplier-a" and not r.degraded)
        assert not signals.degraded("supplier-a")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await admin.aclose()
        await feed.aclose()


def test_an_answer_older_than_the_news_kept_is_ignored() -> None:
    signals = ProviderSignals(enabled=True)
    stale = _doc()  # asked before the announcement…
    fresh = _doc("major_outage")
    assert signals.apply(parse_summary("payment-a", fresh, 2.0, "stream"))
    assert not signals.apply(parse_summary("payment-a", stale, 3.0, "poll"))  # …answered after
    assert signals.degraded("payment-a")


async def test_the_shop_is_wired_to_listen_only_when_asked(tmp_path: Path) -> None:
    from fakalab.reference_shop.composition import build_shop

    quiet = build_shop(ShopSettings(db_url=f"sqlite:///{tmp_path}/a.db"))
    assert quiet.signal_feed is None and not quiet.state.signals.enabled
    shop = build_shop(ShopSettings(db_url=f"sqlite:///{tmp_path}/b.db", provider_signals=True,
                                   provider_status_urls={"payment-a": "http://status.test"}))
    assert shop.signal_feed is not None
    assert shop.signal_feed.urls["payment-a"] == "http://status.test"
    assert shop.payments.signals is shop.fulfilment.signals is shop.state.signals
    assert shop.monitor.signals is shop.state.signals
    for s in (quiet, shop):
        await s.http.aclose()
    await shop.signal_feed.aclose()
