"""Injecting and removing a plan's faults: toxics and `down` through Toxiproxy, business faults
through the upstream services' `/admin/faults` (docs/upstreams.md).

Names: a link `shop->payment-a` is the Toxiproxy proxy `shop_payment-a`; the toxic of fault `f1`
is named `fakalab_f1`, so faults never collide with each other or with toxics added by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import httpx

from chaos.plan import FaultSpec, Plan

__all__ = ["FaultInjector", "ToxiproxyApi", "preflight_problems", "toxic_name"]


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


def toxic_name(fault: FaultSpec) -> str:
    return f"fakalab_{fault.id}"


def preflight_problems(
    plan: Plan, proxies: Iterable[str], admin_urls: Mapping[str, str]
) -> list[str]:
    """What stops a plan from running: proxies missing on the server, admin URLs not given."""
    known = set(proxies)
    problems = []
    for fault in plan.faults:
        if fault.fault.kind == "business":
            if fault.service not in admin_urls:
                problems.append(f"{fault.id}: no admin URL for upstream {fault.service!r}")
        elif fault.proxy not in known:
            problems.append(f"{fault.id}: Toxiproxy has no proxy {fault.proxy!r} "
                            f"(link {fault.link})")
    return problems


class FaultInjector:
    """Applies and removes faults; each call returns what the server answered."""

    def __init__(
        self, toxiproxy: ToxiproxyApi, admin_urls: Mapping[str, str], http: httpx.AsyncClient
    ) -> None:
        self.toxiproxy = toxiproxy
        self.admin_urls = admin_urls
        self.http = http

    async def inject(self, fault: FaultSpec) -> Any:
        action = fault.fault
        if action.kind == "toxic":
            return await asyncio.to_thread(
                self.toxiproxy.add_toxic, fault.proxy, action.type, toxic_name(fault),
                fault.stream, fault.toxicity, dict(action.attributes),
            )
        if action.kind == "down":
            await asyncio.to_thread(self.toxiproxy.set_enabled, fault.proxy, False)
            return {"proxy": fault.proxy, "enabled": False}
        return await self._patch(fault.service, dict(action.attributes))

    async def remove(self, fault: FaultSpec, still_active: Iterable[FaultSpec] = ()) -> Any:
        """Undo `fault`, keeping the effect of overlapping faults that are still active."""
        others = [other for other in still_active if other.id != fault.id]
        action = fault.fault
        if action.kind == "toxic":
            await asyncio.to_thread(self.toxiproxy.remove_toxic, fault.proxy, toxic_name(fault))
            return {"proxy": fault.proxy, "removed": toxic_name(fault)}
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
