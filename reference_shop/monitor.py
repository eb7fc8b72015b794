"""The shop's once-a-second watch: component health and incidents, queue positions and stale
ETAs shown to buyers; and the status page it keeps. Runs in the shop's event loop; a failure is
logged, never fatal."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Iterable
from dataclasses import asdict
from typing import Any

from fakalab.contract.shop_settings import ShopSettings
from fakalab.contract.stages import Transparency
from fakalab.reference_shop.eta import Promises
from fakalab.reference_shop.interfaces import Clock, Storage, UpstreamClient
from fakalab.reference_shop.metrics import ShopMetrics
from fakalab.reference_shop.provider_signals import ProviderSignals
from fakalab.reference_shop.queue import WorkQueue
from fakalab.reference_shop.states import IN_FLIGHT, OrderState
from fakalab.reference_shop.statuspage import ComponentState, IncidentUpdate, StatusPage
from fakalab.reference_shop.storage import incidents
from fakalab.reference_shop.views import ViewCache

__all__ = ["Monitor"]

log = logging.getLogger("fakalab.monitor")
S = OrderState


class Monitor:
    def __init__(self, db: Storage, status: StatusPage, upstreams: Iterable[UpstreamClient],
                 queue: WorkQueue, views: ViewCache, promises: Promises, active: Collection[str],
                 settings: ShopSettings, metrics: ShopMetrics, mode: Transparency,
                 clock: Clock = time.time, signals: ProviderSignals | None = None) -> None:
        self.db = db
        self.signals = signals or ProviderSignals()
        self.status = status
        self.upstreams = list(upstreams)
        self.queue = queue
        self.views = views
        self.promises = promises
        self.active = active  # orders a worker is on now
        self.settings = settings
        self.metrics = metrics
        self.mode = mode
        self.clock = clock

    async def loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.monitor_once(self.clock())
            except Exception:  # a monitoring hiccup must never stop the shop
                log.exception("status monitor failed")

    async def restore_status(self, resumed: int) -> None:
        """On start-up: the status page carries on from the stored incident updates, and when
        ``resumed`` orders were left in progress (a crash, or a stop mid-work) buyers get a
        note saying so."""
        stored = await self.db.run(incidents.all_updates)
        self.status.restore([IncidentUpdate(r.incident_id, r.component, r.state, r.at,
                                            r.message) for r in stored])
        if resumed:
            await self._store([self.status.restarted(self.clock(), resumed)])

    async def _store(self, updates: list[IncidentUpdate]) -> None:
        await self.db.run(lambda c: incidents.add_updates(c, updates))

    async def monitor_once(self, now: float) -> list[IncidentUpdate]:
        """Update component health, open/advance incidents, refresh what waiting buyers see."""
        for upstream in self.upstreams:
            is_open = upstream.breaker.state.value == "open"
            upstream.health.forced = ComponentState.MAJOR if is_open else None
        wait, sla = self.queue.oldest_wait(now), self.settings.sla_s
        self.status.health["fulfilment"].forced = (
            ComponentState.PARTIAL if wait > sla else
            ComponentState.DEGRADED if wait > sla / 3 else None)
        self.metrics.queue_depth.set(len(self.queue))
        updates = self.status.evaluate(now)
        if updates:
            await self._store(updates)
            for order_no in self.views.watched():
                view = self.views.get(order_no)
                if view is not None:
                    self.views.publish(view)
        if self.mode is Transparency.TRANSPARENT:
            self.show_queue_positions()
            self.revise_etas(now)
        return updates

    def show_queue_positions(self) -> None:
        """Queued buyers see their place in line move: news even when nothing else changes."""
        for order_no, ahead in self.queue.positions():
            view = self.views.get(order_no)
            if view is not None and view.state is S.PAID and view.queue_ahead != ahead:
                view.queue_ahead = ahead
                self.views.publish(view)

    def revise_etas(self, now: float) -> None:
        """An ETA that has passed is replaced by a fresh one, with a note saying so."""
        waiting = {order_no for order_no, _ in self.queue.positions()}
        for order_no in waiting | set(self.active) | set(self.views.watched()):
            view = self.views.get(order_no)
            if view is None or view.state not in IN_FLIGHT:
                continue
            eta = view.eta_at()
            if eta is not None and eta < now:
                fresh = (self.promises.eta_for(order_no, view.state, now, view.priority)
                         or now + 1.0)
                view.eta_override = (fresh, "This is taking longer than estimated; "
                                     "the estimate was updated.")
                self.views.publish(view)

    async def status_page(self) -> dict[str, Any]:
        """``GET /api/status``: components, open incidents, the providers' own incidents
        (attributed), the latest updates, queue depth."""
        now = self.clock()
        history = await self.db.run(lambda c: incidents.recent_updates(c, limit=50))
        return {
            "components": {k: v.value for k, v in self.status.states(now).items()},
            "incidents": [{"incident_id": i.incident_id, "component": i.component,
                           "state": i.state, "message": i.message, "opened_at": i.opened_at,
                           "updated_at": i.updated_at} for i in self.status.open_incidents()],
            "provider_incidents": self.signals.incidents(),
            "history": [asdict(r) for r in history],
            "queue_depth": len(self.queue),
        }
