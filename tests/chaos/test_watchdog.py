"""The rollback deadline: a detached process removes faults when the runner is gone."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest

from fakalab.chaos import watchdog
from fakalab.chaos.client import ToxiproxyClient
from fakalab.chaos.faults import toxic_name
from fakalab.chaos.plan import parse_plan


def test_spec_lists_what_to_undo() -> None:
    plan = parse_plan("""
title: t
faults:
  - {link: shop->payment-a, fault: {latency: {latency: 1}}, duration: 1}
  - {link: shop->payment-b, fault: down, duration: 1}
  - {link: shop->risk, fault: {business: {error_pct: 1}}, duration: 1}
""")
    spec = watchdog.spec_for(plan, "http://tp", {"risk": "http://risk"}, 99.0,
                             lambda f: toxic_name(f, "ab12"), {"http://risk": "i-1"})
    assert spec == watchdog.WatchdogSpec(
        99.0, "http://tp", [("shop_payment-a", "fakalab_ab12_f1")], ["shop_payment-b"],
        ["http://risk"], os.getpid(), {"http://risk": "i-1"})


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


def test_the_watchdog_acts_as_soon_as_its_runner_is_gone() -> None:
    clock = iter(range(100))
    parents = iter([42, 42, 1])
    spec = watchdog.WatchdogSpec(1000.0, None, runner_pid=42)
    cause = watchdog.wait_for_cause(spec, parent=lambda: next(parents),
                                    clock=lambda: float(next(clock)), sleep=lambda s: None)
    assert cause == "runner gone"


def test_the_watchdog_acts_at_the_deadline_if_the_runner_hangs() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    spec = watchdog.WatchdogSpec(1.0, None, runner_pid=42)
    assert watchdog.wait_for_cause(spec, parent=lambda: 42, clock=lambda: now[0],
                                   sleep=sleep) == "deadline"
    assert now[0] == pytest.approx(1.0)


def test_a_killed_runner_s_faults_go_at_once_not_at_the_deadline(client: ToxiproxyClient
                                                                 ) -> None:
    """A runner that spawns the watchdog and dies (SIGKILL, say): the toxic goes within a
    second, although the deadline is a minute away."""
    client.create_proxy("p", "127.0.0.1:1")
    client.add_toxic("p", "noop", name="fakalab_t_f1")
    runner = (
        "import sys, time\n"
        "from fakalab.chaos import watchdog\n"
        f"spec = watchdog.WatchdogSpec(time.time() + 60, {client.url!r}, [('p', 'fakalab_t_f1')],"
        " runner_pid=__import__('os').getpid())\n"
        "watchdog.spawn(spec)\n")
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", runner], check=True, timeout=30)
    while client.toxics("p") and time.monotonic() - started < 20:
        time.sleep(0.1)
    assert client.toxics("p") == []


class _Upstream(BaseHTTPRequestHandler):
    instance = "i-1"
    deletes: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        body = f'{{"ok": true, "instance": "{self.instance}"}}'.encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_DELETE(self) -> None:
        self.deletes.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Upstream.deletes = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_business_faults_are_reset_only_on_the_instance_they_were_put_on(upstream: str) -> None:
    same = watchdog.WatchdogSpec(0.0, None, admin_urls=[upstream], instances={upstream: "i-1"})
    other = watchdog.WatchdogSpec(0.0, None, admin_urls=[upstream], instances={upstream: "i-0"})
    assert watchdog.instance_of(upstream) == "i-1"
    assert watchdog.restore(other) == [] and _Upstream.deletes == []
    assert watchdog.restore(same) == [] and _Upstream.deletes == ["/admin/faults"]
