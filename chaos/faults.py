"""Injecting and removing a plan's faults: toxics and `down` through Toxiproxy, business faults
through the upstream services' `/admin/faults` (docs/upstreams.md).

A `kill` goes to the runner's `ProcessControl` (a drill's stack): SIGKILL at the start, a restart
at the end (also in the rollback).

Names: a link `shop->payment-a` is the Toxiproxy proxy `shop_payment-a`; the toxic of fault `f1`
is named `fakalab_<run tag>_f1`, so faults never collide with each other, with another run's or
with toxics added by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import httpx

from fakalab.chaos.plan import FaultSpec, Plan

__all__ = ["FaultInjector", "ProcessControl", "ToxiproxyApi", "preflight_problems",
           "toxic_name"]


class ToxiproxyApi(Protocol):
    """The part of `chaos.client.ToxiproxyClient` that drills use."""

    url: str

    def proxies(self) -> dict[str, dict[str, Any]]: ...

    def add_toxic(
        self,
        proxy: str,
        type: str,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: dict[str, int] | None = None,
    ) -> dict[str, Any]: ...

    def remove_toxic(self, proxy: str, name: str) -> None: ...

    def set_enabled(self, name: str, enabled: bool) -> None: ...


class ProcessControl(Protocol):
    """Processes a runner may kill (a drill's stack: `scenarios.stack.Stack`). Blocking calls."""

    def killable(self) -> list[str]: ...

    def kill(self, name: str) -> dict[str, Any]: ...

    def restart(self, name: str) -> dict[str, Any]: ...


def toxic_name(fault: FaultSpec, tag: str = "") -> str:
    """`fakalab_<tag>_<fault id>`: a run's tag keeps its toxics apart from another run's on a
    shared Toxiproxy server (and from toxics added by hand)."""
    return f"fakalab_{tag}_{fault.id}" if tag else f"fakalab_{fault.id}"


def preflight_problems(
    plan: Plan, proxies: Iterable[str], admin_urls: Mapping[str, str],
    killable: Iterable[str] | None = None,
) -> list[str]:
    """What stops a plan from running: proxies missing on the server, admin URLs not given,
    processes that cannot be killed (`killable` None: the runner controls no process)."""
    known = set(proxies)
    problems = []
    for fault in plan.faults:
        if fault.announced and fault.service not in admin_urls:
            problems.append(f"{fault.id}: no admin URL for upstream {fault.service!r} (to "
                            f"announce on its status page)")
        if fault.false_alarm:
            continue
        if fault.fault.kind == "kill":
            if killable is None:
                problems.append(f"{fault.id}: kill {fault.service!r} needs the processes of a "
                                f"drill (run it with fakalab drill)")
            elif fault.service not in set(killable):
                problems.append(f"{fault.id}: cannot kill {fault.service!r} (killable: "
                                f"{', '.join(sorted(killable)) or 'none'})")
        elif fault.fault.kind == "business":
            if fault.service not in admin_urls:
                problems.append(f"{fault.id}: no admin URL for upstream {fault.service!r}")
        elif fault.proxy not in known:
            problems.append(f"{fault.id}: Toxiproxy has no proxy {fault.proxy!r} "
                            f"(link {fault.link})")
    return problems


class FaultInjector:
    """Applies and removes faults; each call returns what the server answered."""

    def __init__(
        self, toxiproxy: ToxiproxyApi, admin_urls: Mapping[str, str], http: httpx.AsyncClient,
        processes: ProcessControl | None = None, tag: str = "",
    ) -> None:
        self.tag = tag
        self.toxiproxy = toxiproxy
        self.admin_urls = admin_urls
        self.http = http
        self.processes = processes

    def _process_control(self) -> ProcessControl:
        if self.processes is None:
            raise RuntimeError("this runner controls no process to kill")
        return self.processes

    async def inject(self, fault: FaultSpec) -> Any:
        if not fault.announced:
            return await self._inject(fault)
        if fault.announce_after:  # the runner announces later (PlanRunner._one_fault)
            return {"announcement": "later", "fault": None if fault.false_alarm
                    else await self._inject(fault)}
        announced = await self.announce(fault)  # the provider speaks first
        if fault.false_alarm:
            return {"announcement": announced, "fault": "none (false alarm)"}
        return {"announcement": announced, "fault": await self._inject(fault)}

    async def remove(self, fault: FaultSpec, still_active: Iterable[FaultSpec] = ()) -> Any:
        """Undo `fault` (and withdraw its announcement), keeping the effect of overlapping
        faults that are still active."""
        if not fault.announced:
            return await self._remove(fault, still_active)
        removed = (None if fault.false_alarm else await self._remove(fault, still_active))
        return {"fault": removed, "announcement": await self._withdraw(fault)}

    def announcement_id(self, fault: FaultSpec) -> str:
        return f"fakalab-{self.tag}-{fault.id}" if self.tag else f"fakalab-{fault.id}"

    async def announce(self, fault: FaultSpec) -> Any:
        """Post the fault's announcement on its upstream's status page."""
        status = fault.announced_status
        body = {"id": self.announcement_id(fault), "status": status,
                "name": f"{fault.service}: {status.replace('_', ' ')}",
                "body": f"We are seeing {status.replace('_', ' ')} of {fault.service} and are "
                        f"investigating."}
        url = f"{self.admin_urls[fault.service]}/admin/status/incidents"
        response = await self.http.post(url, json=body)
        response.raise_for_status()
        return response.json()

    async def _withdraw(self, fault: FaultSpec) -> Any:
        incident = self.announcement_id(fault)
        url = f"{self.admin_urls[fault.service]}/admin/status/incidents/{incident}"
        response = await self.http.delete(url)
        if response.status_code != 404:  # already gone (a restarted upstream) is withdrawn
            response.raise_for_status()
        return {"service": fault.service, "withdrawn": incident}

    async def _inject(self, fault: FaultSpec) -> Any:
        action = fault.fault
        if action.kind == "kill":
            return await asyncio.to_thread(self._process_control().kill, fault.service)
        if action.kind == "toxic":
            return await asyncio.to_thread(
                self.toxiproxy.add_toxic, fault.proxy, action.type, toxic_name(fault, self.tag),
                fault.stream, fault.toxicity, dict(action.attributes),
            )
        if action.kind == "down":
            await asyncio.to_thread(self.toxiproxy.set_enabled, fault.proxy, False)
            return {"proxy": fault.proxy, "enabled": False}
        return await self._patch(fault.service, dict(action.attributes))

    async def _remove(self, fault: FaultSpec, still_active: Iterable[FaultSpec]) -> Any:
        others = [other for other in still_active if other.id != fault.id]
        action = fault.fault
        if action.kind == "kill":  # the fault ends with the restart
            return await asyncio.to_thread(self._process_control().restart, fault.service)
        if action.kind == "toxic":
            name = toxic_name(fault, self.tag)
            await asyncio.to_thread(self.toxiproxy.remove_toxic, fault.proxy, name)
            return {"proxy": fault.proxy, "removed": name}
        if action.kind == "down":
            if any(o.fault.kind == "down" and o.proxy == fault.proxy for o in others):
                return {"proxy": fault.proxy, "enabled": False, "kept_by": "overlapping fault"}
            await asyncio.to_thread(self.toxiproxy.set_enabled, fault.proxy, True)
            return {"proxy": fault.proxy, "enabled": True}
        return await self._reset_business(fault.service, others)

    async def _patch(self, service: str, switches: dict[str, Any]) -> Any:
        response = await self.http.patch(f"{self.admin_urls[service]}/admin/faults", json=switches)
        response.raise_for_status()
        return response.json()

    async def _reset_business(self, service: str, others: list[FaultSpec]) -> Any:
        response = await self.http.delete(f"{self.admin_urls[service]}/admin/faults")
        response.raise_for_status()
        remaining: dict[str, Any] = {}
        for other in others:
            if other.fault.kind == "business" and other.service == service:
                remaining |= other.fault.attributes
        if remaining:
            return await self._patch(service, remaining)
        return {"service": service, "faults": "defaults"}
