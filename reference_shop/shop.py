"""The shop service: wires the database, the view cache, the upstreams and the background loops.

Every state change goes through :meth:`Shop.record` inside a write transaction, which writes the
ledger event and then (after commit, via :meth:`Shop.committed`) updates the in-memory view, the
metrics and the SSE subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import time
from typing import Any

import httpx
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fakalab.contract.rundir import money
from fakalab.contract.shop_settings import ShopSettings
from fakalab.contract.stages import Transparency
from fakalab.reference_shop import db, store
from fakalab.reference_shop.breaker import Breaker
from fakalab.reference_shop.eta import StageClock, Throughput, estimate_eta
from fakalab.reference_shop.messages import stage_message, visible_in
from fakalab.reference_shop.metrics import ShopMetrics
from fakalab.reference_shop.queue import WorkQueue
from fakalab.reference_shop.ratelimit import RateLimiter
from fakalab.reference_shop.states import IN_FLIGHT, OrderState
from fakalab.reference_shop.statuspage import ComponentHealth, ComponentState, StatusPage
from fakalab.reference_shop.upstream import Upstream
from fakalab.reference_shop.views import OrderView, ViewCache

__all__ = ["Shop"]

log = logging.getLogger("fakalab.shop")
S = OrderState
COMPONENTS = ["payment-a", "payment-b", "supplier-a", "supplier-b", "risk", "notify", "fulfilment"]


class Shop:
    def __init__(self, settings: ShopSettings) -> None:
        self.settings = settings
        self.mode = Transparency(settings.transparency)
        self.db = db.Database(settings.db_url)
        self.metrics = ShopMetrics()
        self.views = ViewCache()
        self.queue = WorkQueue(lanes=settings.priority_lanes)
        self.clock = StageClock()
        self.throughput = Throughput()
        self.status = StatusPage(COMPONENTS)
        self.rng = random.Random()
        self.active: set[str] = set()
        self.held: set[str] = set()  # orders waiting to retry a failing dependency
        self.state_counts: dict[str, int] = {}
        self.http: httpx.AsyncClient | None = None
        self.upstreams: dict[str, Upstream] = {}
        self.token_limiter = RateLimiter(settings.lookup_rate_per_min * 3)
        self.lookup_limiter = RateLimiter(settings.lookup_rate_per_min)
        self._catalog: tuple[float, list[dict[str, Any]]] = (0.0, [])
        self._tasks: list[asyncio.Task[Any]] = []
        self._side_tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        from fakalab.reference_shop import (  # loops live with their concern
            fulfilment,
            monitor,
            payments,
        )

        await self.db.create_all()
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
        self.http = httpx.AsyncClient(limits=limits)
        self.upstreams = {name: self._upstream(name, url)
                          for name, url in self.settings.upstreams.items()}
        async with self.db.read() as conn:
            self.state_counts = await store.count_by_state(conn)
        for state, n in self.state_counts.items():
            self.metrics.orders.labels(state).set(n)
        resumed = await fulfilment.resume_in_flight(self)
        await monitor.restore_status(self, resumed)
        loops = [fulfilment.worker(self, i) for i in range(self.settings.workers)]
        loops += [fulfilment.sweep_loop(self), payments.expiry_loop(self),
                  payments.reconcile_loop(self), monitor.monitor_loop(self)]
        self._tasks = [asyncio.create_task(c) for c in loops]

    async def stop(self) -> None:
        for task in [*self._tasks, *self._side_tasks]:
            task.cancel()
        for task in [*self._tasks, *self._side_tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.http is not None:
            await self.http.aclose()
        await self.db.close()

    def _upstream(self, name: str, url: str) -> Upstream:
        s = self.settings
        breaker = Breaker(s.breaker_threshold, s.breaker_cooldown_s, enabled=s.circuit_breaker)
        health = self.status.health.setdefault(name, ComponentHealth())
        health.slow_ms = s.slow_upstream_ms
        assert self.http is not None
        return Upstream(name, url.rstrip("/"), self.http, breaker, health, self.metrics,
                        s.upstream_timeout_s, s.retries, s.backoff_base_s, s.backoff_max_s,
                        random.Random(self.rng.random()))

    def spawn(self, coro: Any) -> None:
        """Run a side task (notification, push) that must not block the caller."""
        task = asyncio.create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def catalog(self, max_age_s: float = 1.0) -> list[dict[str, Any]]:
        """Products with their available stock (cached briefly: browsing must stay cheap)."""
        now = time.time()
        if now - self._catalog[0] < max_age_s:
            return self._catalog[1]
        k = db.card_keys.c
        async with self.db.read() as conn:
            counts: dict[str, int] = dict((await conn.execute(
                select(k.product_id, func.count()).where(k.status == "available")
                .group_by(k.product_id))).all())
            rows = (await conn.execute(select(db.products).order_by(db.products.c.id))).mappings()
            items = [{"id": p["id"], "name": p["name"], "price": money(p["price_cents"]),
                      "priority": p["priority"], "kind": p["kind"],
                      "stock": p["supplier_stock"] if p["kind"] == "supplier"
                      else int(counts.get(p["id"], 0))} for p in rows]
        self._catalog = (now, items)
        return items

    # -- transitions -----------------------------------------------------------------------
    def eta_for(self, order_no: str, state: OrderState, now: float, priority: int = 1
                ) -> float | None:
        ahead = self.queue.position(order_no)
        if ahead is None:  # about to be queued (the transition to paid comes first)
            ahead = self.queue.ahead_of_new(priority) if state is S.PAID else 0
        penalty = self._upstream_penalty(now)
        eta = estimate_eta(now, state, queue_ahead=ahead, workers=self.settings.workers,
                           clock=self.clock, upstream_penalty_s=penalty,
                           throughput_per_s=self.throughput.rate(now),
                           overtaking_per_s=self.queue.overtaking_rate(priority, now))
        if eta is None:
            return None
        # A promise to a person: never tighter than the floor, in whole seconds.
        return float(math.ceil(max(eta, now + self.settings.eta_floor_s)))

    def _upstream_penalty(self, now: float) -> float:
        worst = 0.0
        for name in ("risk", "supplier-a"):
            health = self.status.health.get(name)
            if health is not None and health.state(now) is not ComponentState.OPERATIONAL:
                worst = max(worst, health.mean_latency_ms(now) / 1000)
        return worst

    async def record(self, conn: AsyncConnection, order: dict[str, Any], target: OrderState,
                     now: float, **columns: Any) -> store.EventRow:
        """Transition a locked order and write its ledger event (inside ``conn``'s transaction)."""
        previous = S(order["state"])
        message = stage_message(target, supplier=order["kind"] == "supplier")
        eta = (self.eta_for(order["order_no"], target, now, order["priority"])
               if target in IN_FLIGHT else None)
        return await store.transition(
            conn, order, target, at=now, message=message, eta_at=eta,
            visible=visible_in(self.mode, previous, target), **columns)

    async def committed(self, order: dict[str, Any], event: store.EventRow,
                        previous: str | None) -> None:
        """After commit: update the view, the counters and the subscribers.

        Everything the buyer will see is fetched first; the view is then changed with no
        ``await`` in between, so no reader ever sees "delivered" without its keys.
        """
        self._count(previous, event.state)
        self.metrics.transitions.labels(event.state).inc()
        if previous in IN_FLIGHT and event.state not in IN_FLIGHT:
            self.throughput.record(event.at)  # an order left the pipeline
        order_no = order["order_no"]
        view = self.views.get(order_no)
        last = view.events[-1].seq if view is not None and view.events else 0
        if view is None or event.seq > last + 1:  # not cached, or an update was missed
            self.views.drop(order_no)
            await self.load_view(order_no)  # the committed state, keys included
            return
        keys: list[str] = []
        if event.state == S.DELIVERED:
            async with self.db.read() as conn:
                keys = await store.order_keys(conn, order_no)
        if event.seq == last + 1:
            view.events.append(event)
        view.paid_at, view.delivered_at = order.get("paid_at"), order.get("delivered_at")
        view.channel, view.pay_url = order.get("channel"), order.get("pay_url")
        view.eta_override = None
        if keys:
            view.keys = keys
        self.views.publish(view)

    def _count(self, previous: str | None, state: str) -> None:
        if previous is not None:
            self.state_counts[previous] = self.state_counts.get(previous, 1) - 1
            self.metrics.orders.labels(previous).set(self.state_counts[previous])
        self.state_counts[state] = self.state_counts.get(state, 0) + 1
        self.metrics.orders.labels(state).set(self.state_counts[state])

    async def load_view(self, order_no: str) -> OrderView | None:
        """The view of an order, from the cache or (after a restart or eviction) the database."""
        view = self.views.get(order_no)
        if view is not None:
            return view
        async with self.db.read() as conn:
            try:
                order = await store.load_order(conn, order_no)
            except store.UnknownOrder:
                return None
            events = await store.load_events(conn, order_no)
            keys = await store.order_keys(conn, order_no) if order["state"] == S.DELIVERED else []
        view = self.view_from_row(order, events)
        view.keys = keys
        self.views.put(view)
        return view

    @staticmethod
    def view_from_row(order: dict[str, Any], events: list[store.EventRow]) -> OrderView:
        return OrderView(
            order_no=order["order_no"], token_hash=order["token_hash"],
            product_id=order["product_id"], kind=order["kind"], quantity=order["quantity"],
            amount=money(order["amount_cents"]), channel=order["channel"],
            pay_url=order["pay_url"], created_at=order["created_at"],
            expires_at=order["expires_at"], paid_at=order["paid_at"],
            delivered_at=order["delivered_at"], events=events, priority=order["priority"])

    def status_body(self, view: OrderView) -> bytes:
        """The JSON a buyer gets: the cached view plus the live fields (time, incidents)."""
        now = time.time()
        tail = b',"server_time":%.3f' % now
        if self.mode is Transparency.TRANSPARENT:
            incidents = self.incidents_for(view)
            tail += b',"incidents":' + (json.dumps(incidents, separators=(",", ":")).encode()
                                        if incidents else b"[]")
            if view.paid_at:
                tail += b',"since_paid_s":%.1f' % (now - view.paid_at)
        return view.encoded(self.mode) + tail + b"}"

    # -- status page -----------------------------------------------------------------------
    def incidents_for(self, view: OrderView) -> list[dict[str, Any]]:
        """Open incidents on the components this order is waiting on."""
        if self.mode is Transparency.OPAQUE or not self.status.open:
            return []
        state = view.state
        if state in (S.DELIVERED, S.EXPIRED, S.REFUNDED):
            return []
        if state in (S.NEEDS_ATTENTION, S.NEEDS_REVIEW):
            affected = set(self.status.open)  # whatever went wrong may explain the wait
        else:
            affected = {"fulfilment"}
        if state is S.PENDING_PAYMENT and view.channel:
            affected.add(view.channel)
        if state in (S.PAID, S.RISK_CHECK):
            affected.add("risk")
        if state in (S.PAID, S.RISK_CHECK, S.ALLOCATING) and view.kind == "supplier":
            affected |= {"supplier-a", "supplier-b"}
        return [{"incident_id": i.incident_id, "component": i.component, "state": i.state,
                 "message": i.message, "updated_at": i.updated_at}
                for i in self.status.open.values() if i.component in affected]

    async def in_flight_orders(self) -> list[tuple[str, int]]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(db.orders.c.order_no, db.orders.c.priority)
                .where(db.orders.c.state.in_([s.value for s in IN_FLIGHT]))
                .order_by(db.orders.c.paid_at))
            return [(r[0], r[1]) for r in rows]

    async def stalled_orders(self, now: float) -> list[tuple[str, int]]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(db.orders.c.order_no, db.orders.c.priority).where(and_(
                    db.orders.c.state.in_([s.value for s in IN_FLIGHT]),
                    db.orders.c.updated_at < now - self.settings.stall_after_s)))
            return [(r[0], r[1]) for r in rows if r[0] not in self.active]
