"""PlanRunner against the embedded server, with upstream admin routes and probes faked in memory."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from fakalab.chaos import watchdog
from fakalab.chaos.client import ToxiproxyClient
from fakalab.chaos.plan import parse_plan
from fakalab.chaos.runner import PlanRunner

ADMIN = {"payment-a": "http://pay-a.test"}


@dataclass
class FakeStack:
    """/healthz answers `healthy`; /admin/faults records PATCH and DELETE bodies."""

    healthy: bool = True
    admin_status: int = 200
    calls: list[tuple[str, str, Any]] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/healthz":
            return httpx.Response(200, json={"ok": self.healthy})
        body = json.loads(request.content) if request.content else None
        self.calls.append((request.method, str(request.url), body))
        return httpx.Response(self.admin_status if request.method == "PATCH" else 204,
                              json=body or {})


@pytest.fixture
def stack() -> FakeStack:
    return FakeStack()


@pytest.fixture
def proxies(client: ToxiproxyClient) -> ToxiproxyClient:
    client.create_proxy("shop_payment-a", "127.0.0.1:1")
    client.create_proxy("shop_payment-b", "127.0.0.1:2")
    return client


def _plan(faults: str, probes: str = "", interval: str = "1s", failures: int = 3) -> Any:
    return parse_plan(f"""
title: test
steady_state:
  interval: {interval}
  max_failures: {failures}
  probes: [{probes}]
faults:
{faults}
""")


HEALTH = '{name: up, type: http, url: "http://shop.test/healthz", json_path: ok, tolerance: true}'
LATENCY = (
    "  - {link: shop->payment-a, fault: {latency: {latency: 100}}, start: 0.1, duration: 0.4}\n"
)


def _runner(plan: Any, client: ToxiproxyClient, stack: FakeStack,
            processes: Any = None) -> PlanRunner:
    http = httpx.AsyncClient(transport=httpx.MockTransport(stack.handle))
    return PlanRunner(plan, client, ADMIN, use_watchdog=False, http=http, processes=processes)


def _clean(client: ToxiproxyClient) -> bool:
    return all(p["toxics"] == [] and p["enabled"] for p in client.proxies().values())


async def test_faults_are_applied_and_removed_on_schedule(
    proxies: ToxiproxyClient, stack: FakeStack
) -> None:
    plan = _plan(LATENCY + """\
  - {link: shop->payment-b, fault: down, start: 0.15, duration: 0.1}
  - {link: shop->payment-a, fault: {business: {callback_drop_pct: 30}}, duration: 0.3}
""", HEALTH)
    runner = _runner(plan, proxies, stack)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.3)
    toxics = await asyncio.to_thread(proxies.toxics, "shop_payment-a")
    assert [t["name"] for t in toxics] == [f"fakalab_{runner.tag}_f1"]
    journal = (await task).to_json()
    assert journal["status"] == "completed" and journal["deviated"] is False
    assert await asyncio.to_thread(_clean, proxies)
    faults = {f["fault_id"]: f for f in journal["faults"]}
    t0 = journal["steady_states"]["before"]["at"]
    # never early; late by however long a busy machine takes (the order is checked below)
    for fault_id, start, end in (("f1", 0.1, 0.5), ("f2", 0.15, 0.25), ("f3", 0, 0.3)):
        assert start - 0.01 <= faults[fault_id]["started_at"] - t0 < start + 1.5, fault_id
        assert end - 0.01 <= faults[fault_id]["ended_at"] - t0 < end + 1.5, fault_id
    assert faults["f3"]["kind"] == "payment.callback_drop_pct"
    assert [(m, b) for m, _, b in stack.calls] == [("PATCH", {"callback_drop_pct": 30}),
                                                   ("DELETE", None)]
    assert [a["name"] for a in journal["activities"]] == [
        "preflight", "inject f3", "inject f1", "inject f2", "remove f2", "remove f3",
        "remove f1"]
    assert all(a["status"] == "succeeded" for a in journal["activities"])
    assert journal["rollbacks"] == []


async def test_failed_gate_injects_nothing(proxies: ToxiproxyClient, stack: FakeStack) -> None:
    stack.healthy = False
    journal = (await _runner(_plan(LATENCY, HEALTH), proxies, stack).run()).to_json()
    assert journal["status"] == "failed" and journal["steady_states"]["before"]["met"] is False
    assert journal["activities"] == [] and journal["faults"] == []
    assert journal["steady_states"]["after"] is None


async def test_missing_proxy_fails_preflight(client: ToxiproxyClient, stack: FakeStack) -> None:
    runner = _runner(_plan(LATENCY), client, stack)
    assert await runner.preflight() == [
        "f1: Toxiproxy has no proxy 'shop_payment-a' (link shop->payment-a)"]
    journal = (await runner.run()).to_json()
    assert journal["status"] == "failed" and journal["faults"] == []
    assert journal["activities"][0]["status"] == "failed"


async def test_safeguards_abort_and_roll_back(proxies: ToxiproxyClient, stack: FakeStack) -> None:
    plan = _plan("  - {link: shop->payment-a, fault: {latency: {latency: 10}}, duration: 30}\n",
                 HEALTH, interval="50ms", failures=2)
    runner = _runner(plan, proxies, stack)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.2)
    stack.healthy = False
    started = time.monotonic()
    journal = (await asyncio.wait_for(task, 5)).to_json()
    assert time.monotonic() - started < 4  # two failed checks 50 ms apart, not the 30 s fault
    assert journal["status"] == "aborted"
    assert [c["met"] for c in journal["steady_states"]["during"]][-2:] == [False, False]
    assert [r["name"] for r in journal["rollbacks"]] == ["rollback f1"]
    assert journal["faults"][0]["ended_at"] is not None
    assert await asyncio.to_thread(_clean, proxies)


async def test_after_check_sets_deviated(proxies: ToxiproxyClient, stack: FakeStack) -> None:
    plan = _plan("  - {link: shop->payment-a, fault: down, duration: 0.1}\n", HEALTH,
                 interval="10s")
    runner = _runner(plan, proxies, stack)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.05)
    stack.healthy = False
    journal = (await task).to_json()
    assert journal["status"] == "completed" and journal["deviated"] is True


async def test_interrupt_rolls_back(proxies: ToxiproxyClient, stack: FakeStack) -> None:
    plan = _plan("  - {link: shop->payment-a, fault: {timeout: {timeout: 0}}, duration: 60}\n"
                 "  - {link: shop->payment-b, fault: down, duration: 60}\n")
    runner = _runner(plan, proxies, stack)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.2)
    runner.interrupt()
    journal = (await asyncio.wait_for(task, 5)).to_json()
    assert journal["status"] == "interrupted"
    assert sorted(r["name"] for r in journal["rollbacks"]) == ["rollback f1", "rollback f2"]
    assert await asyncio.to_thread(_clean, proxies)


async def test_cancel_rolls_back_and_keeps_the_journal(proxies: ToxiproxyClient,
                                                       stack: FakeStack) -> None:
    plan = _plan("  - {link: shop->payment-a, fault: {business: {error_pct: 50}}, duration: 60}\n")
    runner = _runner(plan, proxies, stack)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert runner.journal is not None and runner.journal.status == "interrupted"
    assert [m for m, _, _ in stack.calls] == ["PATCH", "DELETE"]


async def test_failed_injection_fails_the_run_and_rolls_back(proxies: ToxiproxyClient,
                                                             stack: FakeStack) -> None:
    stack.admin_status = 500
    plan = _plan(LATENCY.replace("start: 0.1", "start: 0") +
                 "  - {link: shop->payment-a, fault: {business: {error_pct: 5}}, start: 0.1,"
                 " duration: 1}\n")
    journal = (await _runner(plan, proxies, stack).run()).to_json()
    assert journal["status"] == "failed"
    failed = [a for a in journal["activities"] if a["status"] == "failed"]
    assert failed[0]["name"] == "inject f2" and "500" in failed[0]["exception"]
    assert [r["name"] for r in journal["rollbacks"]] == ["rollback f1"]
    assert await asyncio.to_thread(_clean, proxies)


async def test_overlapping_business_faults_keep_the_other_switches(proxies: ToxiproxyClient,
                                                                   stack: FakeStack) -> None:
    plan = _plan("  - {link: shop->payment-a, fault: {business: {error_pct: 5}}, duration: 0.1}\n"
                 "  - {link: shop->payment-a, fault: {business: {latency_ms: 9}}, duration: 0.3}\n")
    await _runner(plan, proxies, stack).run()
    assert [(m, b) for m, _, b in stack.calls] == [
        ("PATCH", {"error_pct": 5}), ("PATCH", {"latency_ms": 9}),
        ("DELETE", None), ("PATCH", {"latency_ms": 9}), ("DELETE", None)]


async def test_start_at_aligns_the_timeline(proxies: ToxiproxyClient, stack: FakeStack) -> None:
    plan = _plan("  - {link: shop->payment-a, fault: noop_placeholder, duration: 0.1}\n"
                 .replace("noop_placeholder", "{noop: {}}"))
    start_at = time.time() + 0.3
    journal = (await _runner(plan, proxies, stack).run(start_at=start_at)).to_json()
    # from start_at, not from the run's own start 0.3 s earlier (never early, late when busy)
    assert start_at - 0.01 <= journal["faults"][0]["started_at"] < start_at + 1.5


async def test_watchdog_is_cancelled_on_a_clean_finish(
    proxies: ToxiproxyClient, stack: FakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned: list[subprocess.Popen[bytes]] = []

    def spawn(spec: watchdog.WatchdogSpec) -> subprocess.Popen[bytes]:
        spawned.append(real_spawn(spec))
        return spawned[-1]

    real_spawn = watchdog.spawn
    monkeypatch.setattr(watchdog, "spawn", spawn)
    plan = _plan("  - {link: shop->payment-a, fault: {noop: {}}, duration: 0.05}\n")
    http = httpx.AsyncClient(transport=httpx.MockTransport(stack.handle))
    await PlanRunner(plan, proxies, ADMIN, http=http).run()
    assert len(spawned) == 1 and spawned[0].poll() is not None


async def test_business_fault_on_the_reference_notifier(proxies: ToxiproxyClient) -> None:
    notifier = pytest.importorskip("fakalab.reference_shop.upstreams.notifier")
    app = notifier.create_app()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    plan = _plan("  - {link: shop->notify, fault: {business: {failure_pct: 40}}, duration: 0.3}\n")
    runner = PlanRunner(plan, proxies, {"notify": "http://notify.test"}, use_watchdog=False,
                        http=http)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.15)
    during = (await http.get("http://notify.test/admin/faults")).json()
    journal = (await task).to_json()
    after = (await http.get("http://notify.test/admin/faults")).json()
    assert during["failure_pct"] == 40 and after["failure_pct"] == 0
    assert journal["status"] == "completed"
    assert journal["faults"][0]["kind"] == "notify.failure_pct"


class SlowToxiproxy:
    """The real client, with injections that take 0.3 s."""

    def __init__(self, client: ToxiproxyClient) -> None:
        self.client = client
        self.url = client.url

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def add_toxic(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        time.sleep(0.3)
        return self.client.add_toxic(*args, **kwargs)


async def test_interrupt_during_an_injection_still_rolls_it_back(proxies: ToxiproxyClient,
                                                                 stack: FakeStack) -> None:
    plan = _plan("  - {link: shop->payment-a, fault: {latency: {latency: 5}}, duration: 60}\n")
    http = httpx.AsyncClient(transport=httpx.MockTransport(stack.handle))
    runner = PlanRunner(plan, SlowToxiproxy(proxies), ADMIN, use_watchdog=False, http=http)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.1)
    runner.interrupt()
    journal = (await asyncio.wait_for(task, 5)).to_json()
    assert journal["status"] == "interrupted"
    assert [a["name"] for a in journal["activities"]][-1] == "inject f1"
    assert [r["name"] for r in journal["rollbacks"]] == ["rollback f1"]
    assert await asyncio.to_thread(_clean, proxies)


@dataclass
class Processes:
    """A process control that records what it was asked to do (the drill's stack in real use)."""

    calls: list[tuple[str, str]] = field(default_factory=list)

    def killable(self) -> list[str]:
        return ["shop", "supplier-a"]

    def kill(self, name: str) -> dict[str, Any]:
        self.calls.append(("kill", name))
        return {"process": name, "signal": "SIGKILL"}

    def restart(self, name: str) -> dict[str, Any]:
        self.calls.append(("restart", name))
        return {"process": name, "restarted": True}


async def test_a_kill_is_a_sigkill_then_a_restart(client: ToxiproxyClient,
                                                  stack: FakeStack) -> None:
    processes = Processes()
    plan = _plan("  - {id: crash, link: shop, fault: kill, start: 0.05, duration: 0.1}\n")
    runner = _runner(plan, client, stack, processes)
    journal = (await runner.run()).to_json()
    assert journal["status"] == "completed"
    assert processes.calls == [("kill", "shop"), ("restart", "shop")]
    assert [(f["link"], f["kind"]) for f in journal["faults"]] == [("shop", "sigkill")]


async def test_an_interrupted_kill_is_restarted_in_the_rollback(client: ToxiproxyClient,
                                                                stack: FakeStack) -> None:
    processes = Processes()
    plan = _plan("  - {link: supplier-a, fault: kill, start: 0, duration: 30s}\n")
    runner = _runner(plan, client, stack, processes)
    task = asyncio.create_task(runner.run())
    while not processes.calls:
        await asyncio.sleep(0.01)
    runner.interrupt()
    journal = (await task).to_json()
    assert journal["status"] == "interrupted"
    assert processes.calls == [("kill", "supplier-a"), ("restart", "supplier-a")]


@pytest.mark.parametrize(("processes", "problem"), [
    (None, "needs the processes of a drill"),
    (Processes(), "cannot kill 'risk' (killable: shop, supplier-a)"),
])
async def test_kills_the_runner_cannot_do_inject_nothing(
        client: ToxiproxyClient, stack: FakeStack, processes: Processes | None,
        problem: str) -> None:
    plan = _plan("  - {link: shop->payment-a, fault: {latency: {latency: 5}}, duration: 1s}\n"
                 "  - {link: risk, fault: kill, duration: 1s}\n")
    client.create_proxy("shop_payment-a", "127.0.0.1:1")
    runner = _runner(plan, client, stack, processes)
    journal = (await runner.run()).to_json()
    assert journal["status"] == "failed"
    assert any(problem in str(a["exception"]) for a in journal["activities"]), journal
    assert _clean(client) and (processes is None or not processes.calls)


class SlowShop(Processes):
    """The shop's restart takes until supplier-a has been restarted (as a restart under load
    can take seconds): a timeline that waits for one action before the next never gets there."""

    def __init__(self) -> None:
        super().__init__()
        self.supplier_back = threading.Event()
        self.waited = False

    def restart(self, name: str) -> dict[str, Any]:
        if name == "shop":
            self.waited = self.supplier_back.wait(20)
        else:
            self.supplier_back.set()
        return super().restart(name)


async def test_a_slow_restart_delays_no_other_fault(client: ToxiproxyClient,
                                                    stack: FakeStack) -> None:
    processes = SlowShop()
    plan = _plan("  - {id: shop-down, link: shop, fault: kill, start: 0, duration: 0.1}\n"
                 "  - {id: supplier-down, link: supplier-a, fault: kill, start: 0.05, "
                 "duration: 0.15}\n")
    journal = (await _runner(plan, client, stack, processes).run()).to_json()
    assert processes.waited, "supplier-a's restart waited for the shop's to finish"
    assert journal["status"] == "completed"
    assert processes.calls == [("kill", "shop"), ("kill", "supplier-a"),
                               ("restart", "supplier-a"), ("restart", "shop")]
    assert [a["name"] for a in journal["activities"]] == [
        "preflight", "inject shop-down", "inject supplier-down", "remove shop-down",
        "remove supplier-down"]  # in the order they started


async def test_two_outages_of_one_proxy_back_to_back_leave_it_down_until_the_second_ends(
        proxies: ToxiproxyClient, stack: FakeStack) -> None:
    """Actions on one link take turns, so the first outage's end sees the second one active
    however the two land — the proxy is down from 0.1 s to 0.5 s, and up after."""
    plan = _plan("  - {id: first, link: shop->payment-a, fault: down, start: 0.1, duration: 0.2}\n"
                 "  - {id: second, link: shop->payment-a, fault: down, start: 0.3, "
                 "duration: 0.2}\n")
    runner = _runner(plan, proxies, stack)
    task = asyncio.create_task(runner.run())
    seen = []
    while not task.done():
        seen.append((time.time(), (await asyncio.to_thread(proxies.proxies))
                     ["shop_payment-a"]["enabled"]))
        await asyncio.sleep(0.02)
    journal = (await task).to_json()
    assert journal["status"] == "completed"
    faults = {f["fault_id"]: f for f in journal["faults"]}
    down_from, down_to = faults["first"]["started_at"], faults["second"]["ended_at"]
    inside = [enabled for at, enabled in seen if down_from + 0.05 < at < down_to - 0.05]
    assert inside and not any(inside)
    assert (await asyncio.to_thread(proxies.proxies))["shop_payment-a"]["enabled"]
