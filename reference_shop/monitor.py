"""The shop's once-a-second watch: component health and incidents, queue positions and stale
ETAs shown to buyers. Runs in the shop's event loop; a failure is logged, never fatal."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from sqlalchemy import select

from fakalab.contract.stages import Transparency
from fakalab.reference_shop import db
from fakalab.reference_shop.states import IN_FLIGHT, OrderState
from fakalab.reference_shop.statuspage import ComponentState, IncidentUpdate

if TYPE_CHECKING:
    from fakalab.reference_shop.shop import Shop

__all__ = ["monitor_loop", "monitor_once", "restore_status"]

log = logging.getLogger("fakalab.monitor")
S = OrderState


async def monitor_loop(shop: Shop) -> None:
    while True:
        await asyncio.sleep(1.0)
        try:
            await monitor_once(shop, time.time())
        except Exception:  # a monitoring hiccup must never stop the shop
            log.exception("status monitor failed")


async def restore_status(shop: Shop, resumed: int) -> None:
    """On start-up: the status page carries on from the stored incident updates, and when
    ``resumed`` orders were left in progress (a crash, or a stop mid-work) buyers get a note
    saying so."""
    u = db.incident_updates.c
    async with shop.db.read() as conn:
        rows = (await conn.execute(select(u.incident_id, u.component, u.state, u.at,
                                          u.message))).all()
    shop.status.restore([IncidentUpdate(*row) for row in rows])
    if resumed:
        await _store(shop, [shop.status.restarted(time.time(), resumed)])


async def _store(shop: Shop, updates: list[IncidentUpdate]) -> None:
    async with shop.db.write() as conn:
        for u in updates:
            await conn.execute(db.incident_updates.insert().values(
                incident_id=u.incident_id, component=u.component, state=u.state,
                at=u.at, message=u.message))


async def monitor_once(shop: Shop, now: float) -> list[IncidentUpdate]:
    """Update component health, open/advance incidents, refresh what waiting buyers see."""
    for upstream in shop.upstreams.values():
        is_open = upstream.breaker.state.value == "open"
        upstream.health.forced = ComponentState.MAJOR if is_open else None
    wait, sla = shop.queue.oldest_wait(now), shop.settings.sla_s
    shop.status.health["fulfilment"].forced = (
        ComponentState.PARTIAL if wait > sla else
        ComponentState.DEGRADED if wait > sla / 3 else None)
    shop.metrics.queue_depth.set(len(shop.queue))
    updates = shop.status.evaluate(now)
    if updates:
        await _store(shop, updates)
        for order_no in shop.views.watched():
            view = shop.views.get(order_no)
            if view is not None:
                shop.views.publish(view)
    if shop.mode is Transparency.TRANSPARENT:
        show_queue_positions(shop)
        revise_etas(shop, now)
    return updates


def show_queue_positions(shop: Shop) -> None:
    """Queued buyers see their place in line move: news even when nothing else changes."""
    for order_no, ahead in shop.queue.positions():
        view = shop.views.get(order_no)
        if view is not None and view.state is S.PAID and view.queue_ahead != ahead:
            view.queue_ahead = ahead
            shop.views.publish(view)


def revise_etas(shop: Shop, now: float) -> None:
    """An ETA that has passed is replaced by a fresh one, with a note saying so."""
    waiting = {order_no for order_no, _ in shop.queue.positions()}
    for order_no in waiting | shop.active | set(shop.views.watched()):
        view = shop.views.get(order_no)
        if view is None or view.state not in IN_FLIGHT:
            continue
        eta = view.eta_at()
        if eta is not None and eta < now:
            fresh = shop.eta_for(order_no, view.state, now, view.priority) or now + 1.0
            view.eta_override = (fresh, "This is taking longer than estimated; "
                                 "the estimate was updated.")
            shop.views.publish(view)
