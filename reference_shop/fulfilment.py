"""Fulfilment: workers take paid orders from the queue and run risk check, allocation, delivery
and notification. Work is durable: every stage starts from the state stored in the database, so
an order interrupted by a crash is picked up again where it was (on start-up and by the sweep)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Tracer

from fakalab.contract.shop_settings import ShopSettings
from fakalab.reference_shop.delay_risk import DelayRisk, Subject
from fakalab.reference_shop.eta import StageClock
from fakalab.reference_shop.interfaces import Clock, Recorder, Spawn, Storage, UpstreamClient
from fakalab.reference_shop.metrics import ShopMetrics
from fakalab.reference_shop.provider_signals import ProviderSignals
from fakalab.reference_shop.queue import WorkQueue
from fakalab.reference_shop.states import IN_FLIGHT, IllegalTransition, OrderState
from fakalab.reference_shop.storage import notifications, orders, stock
from fakalab.reference_shop.storage.rows import Moved, OrderRow
from fakalab.reference_shop.storage.writer import Cursor
from fakalab.reference_shop.tracing import CurrentSpan, OrderContexts
from fakalab.reference_shop.upstream import UpstreamError, call_with_failover

__all__ = ["Fulfilment", "FulfilmentUpstreams"]

log = logging.getLogger("fakalab.fulfilment")
S = OrderState
UNTRACED: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()


@dataclass(frozen=True)
class FulfilmentUpstreams:
    risk: UpstreamClient
    supplier_a: UpstreamClient
    supplier_b: UpstreamClient
    notify: UpstreamClient


class Fulfilment:
    def __init__(self, db: Storage, recorder: Recorder, upstreams: FulfilmentUpstreams,
                 queue: WorkQueue, active: set[str], stage_clock: StageClock,
                 metrics: ShopMetrics, settings: ShopSettings, spawn: Spawn,
                 clock: Clock = time.time, rng: random.Random | None = None,
                 tracer: Tracer | None = None, traces: OrderContexts | None = None,
                 signals: ProviderSignals | None = None, risk: DelayRisk | None = None) -> None:
        self.db = db
        self.risk = risk  # the delay-risk model (None: off)
        self.signals = signals or ProviderSignals()  # providers' own announcements
        self.recorder = recorder
        self.upstreams = upstreams
        self.queue = queue
        self.active = active  # orders a worker is on now
        self.held: set[str] = set()  # orders waiting to retry a failing dependency
        self.stage_clock = stage_clock
        self.metrics = metrics
        self.settings = settings
        self.spawn = spawn
        self.clock = clock
        self.rng = rng or random.Random()
        self.tracer = tracer  # a span per stage, in the trace of the order's payment callback
        self.traces = traces

    def loops(self) -> list[Coroutine[Any, Any, None]]:
        """The workers and the stalled-order sweep, to run as tasks."""
        return [*(self.worker(i) for i in range(self.settings.workers)), self.sweep_loop()]

    def enqueue(self, order_no: str, priority: int) -> None:
        if self.traces is not None:
            self.traces.remember(order_no)
        if order_no not in self.active:
            urgent = self.risk is not None and self.risk.is_urgent(order_no)
            self.queue.push(order_no, priority, self.clock(), urgent)
            self.metrics.queue_depth.set(len(self.queue))

    async def resume_in_flight(self) -> int:
        """On start-up: queue every in-flight order again (returns how many), and send the
        notifications that a crash interrupted. The notification is a side task after the
        delivery commit, so a crash can leave an order delivered with no notification
        recorded; it is sent now (at least once: a crash after the send and before the record
        means a second e-mail, never none)."""
        in_flight, unnotified = await self.db.run(
            lambda c: (orders.in_flight(c), notifications.unnotified_deliveries(c)))
        for order_no, priority in in_flight:
            self.enqueue(order_no, priority)
        for order_no, email in unnotified:
            self.spawn(self._notify(order_no, email))
        return len(in_flight)

    async def sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval_s)
            try:
                await self.sweep()
            except Exception:
                log.exception("sweep failed")

    async def sweep(self) -> None:
        """Queue again the in-flight orders that have not moved for ``stall_after_s``."""
        before = self.clock() - self.settings.stall_after_s
        stalled = await self.db.run(lambda c: orders.stalled(c, before))
        for order_no, priority in stalled:
            if order_no not in self.active:
                self.enqueue(order_no, priority)

    async def worker(self, number: int) -> None:
        while True:
            order_no = await self.queue.pop(self.clock)
            self.metrics.queue_depth.set(len(self.queue))
            self.active.add(order_no)
            try:
                await self.process(order_no)
            except IllegalTransition as exc:  # someone else moved the order: nothing to do
                log.info("order %s: %s", order_no, exc)
            except Exception:
                log.exception("worker %d: order %s failed; the sweep will retry it", number,
                              order_no)
            finally:
                self.active.discard(order_no)

    async def process(self, order_no: str) -> None:
        """Run the order through the remaining stages, from the state stored in the database."""
        try:
            await self._process(order_no)
        finally:
            if order_no not in self.held:
                if self.traces is not None:
                    self.traces.forget(order_no)
                if self.risk is not None:
                    self.risk.done(order_no)

    def _assess(self, stage: OrderState, order: OrderRow, supplier: str | None = None) -> None:
        if self.risk is not None:
            self.risk.assess(stage.value, Subject.of(order), supplier=supplier)

    def _stage(self, stage: OrderState, order_no: str) -> contextlib.AbstractContextManager[Any]:
        """A span in the trace of the order's callback; none for an order whose callback was
        not traced (unsampled, applied by reconciliation, or before a restart)."""
        parent = self.traces.context_of(order_no) if self.traces is not None else None
        return UNTRACED if parent is None else CurrentSpan(self.tracer, stage.value, parent)

    async def _process(self, order_no: str) -> None:
        order = await self.db.run(lambda c: orders.load(c, order_no))
        if order is None:
            return
        state = S(order.state)
        if state not in IN_FLIGHT:
            return
        if state is S.PAID:
            if await self._step(order, S.RISK_CHECK, S.PAID) is None:
                return
            state = S.RISK_CHECK
        if state is S.RISK_CHECK:
            self._assess(S.RISK_CHECK, order)
            with self._stage(S.RISK_CHECK, order_no):
                state = await self._risk_stage(order)
        if state is S.ALLOCATING:
            with self._stage(S.ALLOCATING, order_no):
                state = await self._allocation_stage(order)
        if state is S.DELIVERING:
            self._assess(S.DELIVERING, order)
            with self._stage(S.DELIVERING, order_no):
                await self._delivery_stage(order)

    async def _step(self, order: OrderRow, target: OrderState, expect: OrderState, *,
                    last_error: str | None = None) -> OrderRow | None:
        """One transition in a unit of its own; None if the order is no longer in
        ``expect``."""
        now = self.clock()
        eta = self.recorder.eta(order.order_no, target, now, order.priority)

        def step(c: Cursor) -> Moved | None:
            current = orders.load(c, order.order_no)
            if current is None or current.state != expect:
                return None
            return self.recorder.move(c, current, target, now, eta_at=eta,
                                      last_error=last_error)

        moved = await self.db.run(step)
        if moved is None:
            return None
        await self.recorder.publish(moved)
        return moved.order

    def _hold(self, order: OrderRow) -> bool:
        """A dependency failed after its retries (or its breaker is open): keep the order in
        its stage and queue it again in about ``hold_retry_s``, as long as it was paid less
        than ``hold_s`` ago; False when it should be parked for a person instead. A brief
        outage then delays orders instead of stranding them; a crash meanwhile loses nothing
        (the order is still in flight, so start-up and the sweep queue it again)."""
        since = order.paid_at or order.created_at
        if self.clock() - since >= self.settings.hold_s:
            return False
        self.metrics.held.inc()
        if order.order_no not in self.held:  # one timer per order, however it was queued
            self.held.add(order.order_no)
            delay = self.settings.hold_retry_s * self.rng.uniform(0.5, 1.5)
            self.spawn(self._queue_later(order.order_no, order.priority, delay))
        return True

    async def _queue_later(self, order_no: str, priority: int, delay: float) -> None:
        await asyncio.sleep(delay)
        self.held.discard(order_no)
        self.enqueue(order_no, priority)

    def _timed(self, stage: OrderState, started: float) -> None:
        took = self.clock() - started
        self.stage_clock.observe(stage, took)
        self.metrics.stage_seconds.labels(stage.value).observe(took)

    async def _failed(self, order: OrderRow, stage: OrderState, exc: Exception, what: str
                      ) -> OrderState:
        """A stage's dependency failed: held when that may pass, else parked for a person."""
        if isinstance(exc, UpstreamError) and exc.transient and self._hold(order):
            return stage
        await self._step(order, S.NEEDS_ATTENTION, stage, last_error=f"{what}: {exc}"[:500])
        return S.NEEDS_ATTENTION

    async def _risk_stage(self, order: OrderRow) -> OrderState:
        started = self.clock()
        body = {"order_no": order.order_no, "email": order.email,
                "amount": f"{order.amount_cents / 100:.2f}", "product_id": order.product_id}
        try:
            _, response = await call_with_failover([self.upstreams.risk], "POST", "/api/check",
                                                   body)
            decision = response.json().get("decision", "review")
        except (UpstreamError, ValueError) as exc:
            self._timed(S.RISK_CHECK, started)
            return await self._failed(order, S.RISK_CHECK, exc, "risk check")
        self._timed(S.RISK_CHECK, started)
        target = S.ALLOCATING if decision == "pass" else S.NEEDS_REVIEW
        done = await self._step(order, target, S.RISK_CHECK)
        return target if done is not None else S.NEEDS_ATTENTION

    def supplier_chain(self, order: OrderRow | None = None) -> list[UpstreamClient]:
        """Supplier A first; with failover, B as backup — and first while A's breaker is open
        or A has announced an outage (and B has not), or (delay risk acting) when ``order``'s
        risk through A is high and lower through B."""
        chain = [self.upstreams.supplier_a]
        if self.settings.failover:
            chain.append(self.upstreams.supplier_b)
            announced = (self.signals.degraded(chain[0].name)
                         and not self.signals.degraded(chain[1].name))
            if chain[0].breaker.refusing(time.time()) or announced:
                chain.reverse()
            elif self.risk is not None and order is not None:
                chain = self.risk.prefer(chain, Subject.of(order), S.ALLOCATING.value,
                                         "supplier")
        return chain

    async def _allocation_stage(self, order: OrderRow) -> OrderState:
        started = self.clock()
        if order.kind != "supplier":  # the keys were reserved with the order
            self._assess(S.ALLOCATING, order)
            self._timed(S.ALLOCATING, started)
            done = await self._step(order, S.DELIVERING, S.ALLOCATING)
            return S.DELIVERING if done is not None else S.NEEDS_ATTENTION
        body = {"order_no": order.order_no, "sku": order.product_id,
                "quantity": order.quantity}
        chain = self.supplier_chain(order)
        self._assess(S.ALLOCATING, order, chain[0].name)
        try:
            _, response = await call_with_failover(chain, "POST", "/api/keys", body)
            keys = [str(k) for k in response.json()["keys"]][: order.quantity]
            if len(keys) != order.quantity:
                raise ValueError(f"supplier sent {len(keys)} keys for {order.quantity}")
        except (UpstreamError, ValueError, KeyError) as exc:
            self._timed(S.ALLOCATING, started)
            return await self._failed(order, S.ALLOCATING, exc, "allocation")
        self._timed(S.ALLOCATING, started)
        return await self._store_supplier_keys(order, keys)

    async def _store_supplier_keys(self, order: OrderRow, keys: list[str]) -> OrderState:
        now = self.clock()
        eta = self.recorder.eta(order.order_no, S.DELIVERING, now, order.priority)

        def store(c: Cursor) -> Moved | None:
            current = orders.load(c, order.order_no)
            if current is None or current.state != S.ALLOCATING:
                return None
            stock.add_keys(c, current.product_id, keys, status="reserved",
                           order_no=current.order_no, source="supplier")
            return self.recorder.move(c, current, S.DELIVERING, now, eta_at=eta)

        moved = await self.db.run(store)
        if moved is None:
            return S.NEEDS_ATTENTION
        await self.recorder.publish(moved)
        return S.DELIVERING

    async def _delivery_stage(self, order: OrderRow) -> None:
        """Reserved keys become sold and the order delivered, in one transaction: exactly
        once."""
        started = now = self.clock()

        def deliver(c: Cursor) -> tuple[OrderRow, Moved] | None:
            current = orders.load(c, order.order_no)
            if current is None or current.state != S.DELIVERING:
                return None
            keys = tuple(stock.reserved_keys(c, order.order_no))
            if len(keys) != current.quantity:
                return current, self.recorder.move(
                    c, current, S.NEEDS_ATTENTION, now,
                    last_error=f"{len(keys)} keys reserved for {current.quantity} ordered")
            stock.sell_reserved(c, order.order_no, now)
            moved = self.recorder.move(c, current, S.DELIVERED, now, delivered_at=now)
            return current, dataclasses.replace(moved, keys=keys)

        done = await self.db.run(deliver)
        if done is None:
            return
        current, moved = done
        await self.recorder.publish(moved)
        self._timed(S.DELIVERING, started)
        if moved.event.state != S.DELIVERED:
            return
        if current.paid_at:
            self.metrics.paid_to_delivered.observe(now - current.paid_at)
        self.spawn(self._notify(current.order_no, current.email))

    async def _notify(self, order_no: str, email: str) -> None:
        """Tell the buyer by e-mail; a failure is recorded and never blocks delivery."""
        body = {"order_no": order_no, "email": email,
                "message": f"Your order {order_no} was delivered."}
        status = "sent"
        try:
            await call_with_failover([self.upstreams.notify], "POST", "/api/notify", body)
        except UpstreamError:
            status = "failed"
        at = self.clock()  # an order is delivered once, so notified once
        await self.db.run(lambda c: notifications.record_notification(c, order_no, status, at))
