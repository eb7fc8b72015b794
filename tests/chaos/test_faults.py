"""Fault names, preflight checks, and the injector's calls on a fake Toxiproxy and upstream."""

from __future__ import annotations

from typing import Any

import httpx

from fakalab.chaos.faults import FaultInjector, preflight_problems, toxic_name
from fakalab.chaos.plan import parse_plan

PLAN = parse_plan("""
title: t
faults:
  - {link: shop->payment-a, fault: {latency: {latency: 7}}, duration: 1, stream: upstream,
     toxicity: 0.5}
  - {link: shop->payment-b, fault: down, duration: 1}
  - {link: shop->risk, fault: {business: {error_pct: 10}}, duration: 1}
""")


class FakeToxiproxy:
    url = "http://fake"

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def proxies(self) -> dict[str, dict[str, Any]]:
        return {}

    def add_toxic(self, proxy: str, type: str, name: str | None = None,
                  stream: str = "downstream", toxicity: float = 1.0,
                  attributes: dict[str, int] | None = None) -> dict[str, Any]:
        self.calls.append(("add", proxy, type, name, stream, toxicity, attributes))
        return {"name": name}

    def remove_toxic(self, proxy: str, name: str) -> None:
        self.calls.append(("remove", proxy, name))

    def set_enabled(self, name: str, enabled: bool) -> None:
        self.calls.append(("enabled", name, enabled))


def test_toxic_names_and_preflight() -> None:
    assert toxic_name(PLAN.faults[0]) == "fakalab_f1"
    assert preflight_problems(PLAN, ["shop_payment-a", "shop_payment-b"], {"risk": "u"}) == []
    assert preflight_problems(PLAN, ["shop_payment-a"], {}) == [
        "f2: Toxiproxy has no proxy 'shop_payment-b' (link shop->payment-b)",
        "f3: no admin URL for upstream 'risk'",
    ]


async def test_injector_translates_faults_into_calls() -> None:
    seen: list[tuple[str, str, bytes]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, str(request.url), request.content))
        return httpx.Response(200, json={}) if request.method == "PATCH" else httpx.Response(204)

    toxiproxy = FakeToxiproxy()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
        injector = FaultInjector(toxiproxy, {"risk": "http://risk"}, http)
        for fault in PLAN.faults:
            await injector.inject(fault)
        for fault in PLAN.faults:
            await injector.remove(fault)
    assert toxiproxy.calls == [
        ("add", "shop_payment-a", "latency", "fakalab_f1", "upstream", 0.5, {"latency": 7}),
        ("enabled", "shop_payment-b", False),
        ("remove", "shop_payment-a", "fakalab_f1"),
        ("enabled", "shop_payment-b", True),
    ]
    assert seen == [("PATCH", "http://risk/admin/faults", b'{"error_pct":10}'),
                    ("DELETE", "http://risk/admin/faults", b"")]


async def test_overlapping_down_keeps_the_proxy_down() -> None:
    toxiproxy = FakeToxiproxy()
    down = PLAN.faults[1]
    other = down.model_copy(update={"id": "f9"})
    async with httpx.AsyncClient() as http:
        output = await FaultInjector(toxiproxy, {}, http).remove(down, [down, other])
    assert toxiproxy.calls == [] and output["kept_by"] == "overlapping fault"
