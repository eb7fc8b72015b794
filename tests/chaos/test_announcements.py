"""Announcements carried by faults: validated with a line each, posted before the fault (or
instead of it, for a false alarm), withdrawn at removal and at rollback, and by the watchdog."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from fakalab.chaos import watchdog
from fakalab.chaos.faults import FaultInjector
from fakalab.chaos.plan import PlanError, parse_plan
from fakalab.chaos.runner import PlanRunner

ADMIN = {"payment-a": "http://pay-a.test"}


def _plan(fault: str) -> Any:
    return parse_plan(f"title: t\nfaults:\n  - {fault}\n", "p.yaml")


@pytest.mark.parametrize(("fault", "problem"), [
    ("{link: shop->payment-a, fault: down, duration: 5s, announce: maybe}",
     "p.yaml:3: faults[0].announce: announce is true, false or false_alarm (got 'maybe')"),
    ("{link: shop, fault: kill, duration: 5s, announce: true}",
     "p.yaml:3: faults[0]: announce: only an upstream with a status page announces"),
    ("{link: supplier-a, fault: kill, duration: 5s, announce: true}",
     "p.yaml:3: faults[0]: announce: a killed supplier-a cannot announce"),
    ("{link: shop->payment-a, fault: down, duration: 5s, announce_status: major_outage}",
     "p.yaml:3: faults[0]: announce_status and announce_after need announce: true or false_alarm"),
])
def test_a_bad_announcement_is_one_line_naming_the_problem(fault: str, problem: str) -> None:
    with pytest.raises(PlanError) as caught:
        _plan(fault)
    (line,) = caught.value.problems
    assert line.startswith(problem)


def test_what_is_announced() -> None:
    down = _plan("{link: shop->payment-a, fault: down, duration: 5s, announce: true}").faults[0]
    assert (down.announced, down.false_alarm, down.announced_status) == (
        True, False, "major_outage")
    alarm = _plan("{link: shop->risk, fault: {latency: {latency: 5}}, duration: 5s, "
                  "announce: false_alarm}").faults[0]
    assert (alarm.false_alarm, alarm.kind, alarm.announced_status) == (
        True, "false_alarm", "partial_outage")


class Admin:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.announced = asyncio.Event()

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.method, request.url.path))
        if request.url.path == "/admin/status/incidents":
            self.announced.set()
            return httpx.Response(201, json=json.loads(request.content))
        return httpx.Response(204 if request.method == "DELETE" else 200, json={})


def _injector(admin: Admin) -> FaultInjector:
    http = httpx.AsyncClient(transport=httpx.MockTransport(admin.handle))
    return FaultInjector(None, ADMIN, http, tag="t1")  # type: ignore[arg-type]


BUSINESS = "{link: shop->payment-a, fault: {business: {error_pct: 50}}, duration: 5s, "


async def test_the_announcement_comes_first_and_is_withdrawn_last() -> None:
    admin = Admin()
    fault = _plan(BUSINESS + "announce: true}").faults[0]
    injector = _injector(admin)
    await injector.inject(fault)
    await injector.remove(fault)
    assert admin.calls == [("POST", "/admin/status/incidents"), ("PATCH", "/admin/faults"),
                           ("DELETE", "/admin/faults"),
                           ("DELETE", "/admin/status/incidents/fakalab-t1-f1")]


async def test_a_false_alarm_announces_and_injects_nothing() -> None:
    admin = Admin()
    fault = _plan(BUSINESS + "announce: false_alarm}").faults[0]
    injector = _injector(admin)
    assert (await injector.inject(fault))["fault"] == "none (false alarm)"
    await injector.remove(fault)
    assert admin.calls == [("POST", "/admin/status/incidents"),
                           ("DELETE", "/admin/status/incidents/fakalab-t1-f1")]


def _runner(plan: Any, admin: Admin) -> PlanRunner:
    """A runner whose faults and announcements go to `admin` (no watchdog)."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(admin.handle))
    return PlanRunner(plan, None, ADMIN, use_watchdog=False, http=http)  # type: ignore[arg-type]


async def test_an_interrupted_drill_withdraws_its_announcement() -> None:
    admin = Admin()
    plan = _plan("{link: shop->payment-a, fault: {business: {error_pct: 50}}, duration: 60s, "
                 "announce: true}")
    runner = _runner(plan, admin)
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(admin.announced.wait(), 10)
    runner.interrupt()
    journal = await task
    assert journal.status == "interrupted"
    assert ("DELETE", f"/admin/status/incidents/fakalab-{runner.tag}-f1") in admin.calls
    assert [a.name for a in journal.rollbacks] == ["rollback f1"]


def test_the_watchdog_withdraws_announcements_too() -> None:
    plan = _plan("{link: shop->payment-a, fault: {latency: {latency: 5}}, duration: 5s, "
                 "announce: true}")
    spec = watchdog.spec_for(plan, None, ADMIN, 0.0, lambda f: "x")
    assert (spec.admin_urls, spec.announcers) == ([], ["http://pay-a.test"])


async def test_a_lagging_provider_announces_after_the_fault_started() -> None:
    admin = Admin()
    plan = _plan("{link: shop->payment-a, fault: {business: {error_pct: 50}}, duration: 0.4, "
                 "announce: true, announce_after: 0.2}")
    runner = _runner(plan, admin)
    journal = await runner.run()
    assert [a.name for a in journal.activities][1:] == ["inject f1", "announce f1", "remove f1"]
    assert [c for c in admin.calls if c[1] != "/healthz"] == [
        ("PATCH", "/admin/faults"), ("POST", "/admin/status/incidents"),
        ("DELETE", "/admin/faults"), ("DELETE", f"/admin/status/incidents/fakalab-{runner.tag}-f1")]


def test_an_announcement_lag_must_fit_in_the_fault() -> None:
    with pytest.raises(PlanError, match=r"announce_after \(5 s\) must be shorter than the fault"):
        _plan("{link: shop->payment-a, fault: down, duration: 5s, announce: true, "
              "announce_after: 5s}")
