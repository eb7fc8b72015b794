"""Trace context across every hop, with the shop and its upstreams as real processes on
loopback: buyer → shop → payment channel, buyer → payment channel → callback → shop, and the
shop's fulfilment → risk, supplier, notify — one trace per order, read back from the files."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

import httpx

from fakalab.contract.traces import ORDER_NO, SpanRecord, read_spans
from fakalab.reference_shop.process import ShopProcess
from fakalab.reference_shop.upstreams.process import UpstreamsProcess
from tests.reference_shop.conftest import Buyer


def _notified(notify_url: str, order_no: str) -> bool:
    recent = httpx.get(notify_url + "/admin/notifications", timeout=5).json()["recent"]
    return any(n["order_no"] == order_no for n in recent)


async def _journey(shop_url: str, notify_url: str, product: str, parent: str
                   ) -> dict[str, str]:
    headers = {"traceparent": parent}
    async with httpx.AsyncClient(base_url=shop_url, timeout=30, headers=headers) as client:
        buyer = Buyer(client)
        order = await buyer.order(product)
        await buyer.pay(order)
        await buyer.wait_state(order, "delivered", timeout=60)
    deadline = time.monotonic() + 30
    while not _notified(notify_url, order["order_no"]):  # the e-mail follows delivery
        assert time.monotonic() < deadline, "no notification sent"
        await asyncio.sleep(0.05)
    return order


def _one(spans: list[SpanRecord], service: str, name: str, parent: str) -> SpanRecord:
    found = [s for s in spans if (s.service, s.name, s.parent_id) == (service, name, parent)]
    assert len(found) == 1, (service, name, parent, [(s.service, s.name) for s in spans])
    return found[0]


async def test_one_trace_per_order_across_every_hop(tmp_path: Path) -> None:
    traces = tmp_path / "traces"
    trace_id, buyer_span = secrets.token_hex(16), secrets.token_hex(8)
    with UpstreamsProcess(traces=traces) as ups:
        options = ["--set", "tracing=true", "--set", f"trace_file={traces / 'shop.jsonl'}"]
        with ShopProcess(f"sqlite:///{tmp_path / 'shop.db'}", ups.urls, options=options,
                         log_path=tmp_path / "shop.log") as shop:
            order = await _journey(shop.url, ups.urls["notify"], "vip-month",
                                   f"00-{trace_id}-{buyer_span}-01")
    spans, problems = read_spans(tmp_path)
    assert problems == []
    mine = [s for s in spans if s.trace_id == trace_id]
    assert {s.service for s in mine} == {"shop", "payment-a", "risk", "supplier-a", "notify"}

    created = _one(mine, "shop", "POST /api/orders", buyer_span)
    assert created.attributes[ORDER_NO] == order["order_no"]
    asked = _one(mine, "shop", "POST payment-a", created.span_id)
    _one(mine, "payment-a", "POST /api/payments", asked.span_id)

    paid = _one(mine, "payment-a", "POST /pay/{payment_id}", buyer_span)
    called_back = _one(mine, "payment-a", "POST callback", paid.span_id)
    callback = _one(mine, "shop", "POST /api/payments/callback/{channel}", called_back.span_id)
    assert callback.attributes[ORDER_NO] == order["order_no"]

    for stage, upstream, path in (("risk_check", "risk", "/api/check"),
                                  ("allocating", "supplier-a", "/api/keys"),
                                  ("delivering", "notify", "/api/notify")):
        span = _one(mine, "shop", stage, callback.span_id)
        client = _one(mine, "shop", f"POST {upstream}", span.span_id)
        server = _one(mine, upstream, f"POST {path}", client.span_id)
        assert client.start <= server.start and server.end <= client.end + 0.01


async def test_the_shop_and_upstreams_trace_nothing_when_off(tmp_path: Path) -> None:
    with UpstreamsProcess() as ups, \
            ShopProcess(f"sqlite:///{tmp_path / 'shop.db'}", ups.urls) as shop:
        await _journey(shop.url, ups.urls["notify"], "steam-50",
                       f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01")
    assert not (tmp_path / "traces").exists()
