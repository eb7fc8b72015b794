"""The rollback deadline: a detached process removes faults when the runner is gone."""

from __future__ import annotations

import time

from fakalab.chaos import watchdog
from fakalab.chaos.client import ToxiproxyClient
from fakalab.chaos.plan import parse_plan


def test_spec_lists_what_to_undo() -> None:
    plan = parse_plan("""
title: t
faults:
  - {link: shop->payment-a, fault: {latency: {latency: 1}}, duration: 1}
  - {link: shop->payment-b, fault: down, duration: 1}
  - {link: shop->risk, fault: {business: {error_pct: 1}}, duration: 1}
""")
    spec = watchdog.spec_for(plan, "http://tp", {"risk": "http://risk"}, 99.0)
    assert spec == watchdog.WatchdogSpec(99.0, "http://tp", [("shop_payment-a", "fakalab_f1")],
                                         ["shop_payment-b"], ["http://risk"])


def test_watchdog_restores_at_the_deadline(client: ToxiproxyClient) -> None:
    client.create_proxy("shop_payment-a", "127.0.0.1:1")
    client.create_proxy("shop_payment-b", "127.0.0.1:2")
    client.add_toxic("shop_payment-a", "latency", name="fakalab_f1")
    client.add_toxic("shop_payment-a", "noop", name="by_hand")
    client.set_enabled("shop_payment-b", False)
    spec = watchdog.WatchdogSpec(time.time() + 0.5, client.url,
                                 [("shop_payment-a", "fakalab_f1"), ("shop_payment-a", "gone")],
                                 ["shop_payment-b"])
    process = watchdog.spawn(spec)
    time.sleep(0.2)
    assert len(client.toxics("shop_payment-a")) == 2  # not before the deadline
    assert process.wait(20) == 0
    assert [t["name"] for t in client.toxics("shop_payment-a")] == ["by_hand"]
    assert client.get_proxy("shop_payment-b")["enabled"] is True


def test_cancel_stops_the_watchdog(client: ToxiproxyClient) -> None:
    client.create_proxy("p", "127.0.0.1:1")
    client.add_toxic("p", "noop", name="fakalab_f1")
    process = watchdog.spawn(watchdog.WatchdogSpec(time.time() + 1, client.url,
                                                   [("p", "fakalab_f1")]))
    watchdog.cancel(process)
    assert process.poll() is not None
    time.sleep(1.2)
    assert [t["name"] for t in client.toxics("p")] == ["fakalab_f1"]
