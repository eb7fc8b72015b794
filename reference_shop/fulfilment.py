"""Fulfilment: workers take paid orders from the queue and run risk check, allocation, delivery
and notification. Work is durable: every stage starts from the state stored in the database, so
an order interrupted by a crash is picked up again where it was (on start-up and by the sweep)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, exists, func, insert, select, update

from fakalab.reference_shop import db, store
from fakalab.reference_shop.states import IN_FLIGHT, IllegalTransition, OrderState
from fakalab.reference_shop.upstream import UpstreamError, call_with_failover

if TYPE_CHECKING:
    from fakalab.reference_shop.shop import Shop

__all__ = ["enqueue", "process", "resume_in_flight", "sweep_loop", "worker"]

log = logging.getLogger("fakalab.fulfilment")
S = OrderState


def enqueue(shop: Shop, order_no: str, priority: int) -> None:
    if order_no not in shop.active:
        shop.queue.push(order_no, priority, time.time())
        shop.metrics.queue_depth.set(len(shop.queue))


async def resume_in_flight(shop: Shop) -> int:
    """On start-up: queue every in-flight order again (returns how many), and send the
    notifications that a crash interrupted. The notification is a side task after the delivery
    commit, so a crash can leave an order delivered with no notification recorded; it is sent
    now (at least once: a crash after the send and before the record means a second e-mail,
    never none)."""
    in_flight = await shop.in_flight_orders()
    for order_no, priority in in_flight:
        enqueue(shop, order_no, priority)
    o, n = db.orders.c, db.notifications.c
    async with shop.db.read() as conn:
        unnotified = (await conn.execute(select(o.order_no, o.email).where(and_(
            o.state == S.DELIVERED, ~exists().where(n.order_no == o.order_no))))).mappings()
        for order in unnotified.all():
            shop.spawn(_notify(shop, dict(order)))
    return len(in_flight)


async def sweep_loop(shop: Shop) -> None:
    while True:
        await asyncio.sleep(shop.settings.sweep_interval_s)
        try:
            for order_no, priority in await shop.stalled_orders(time.time()):
                enqueue(shop, order_no, priority)
        except Exception:
            log.exception("sweep failed")


async def worker(shop: Shop, number: int) -> None:
    while True:
        order_no = await shop.queue.pop()
        shop.metrics.queue_depth.set(len(shop.queue))
        shop.active.add(order_no)
        try:
            await process(shop, order_no)
        except IllegalTransition as exc:  # someone else moved the order: nothing to do
            log.info("order %s: %s", order_no, exc)
        except Exception:
            log.exception("worker %d: order %s failed; the sweep will retry it", number, order_no)
        finally:
            shop.active.discard(order_no)


async def _step(shop: Shop, order_no: str, target: OrderState, expect: OrderState,
                **columns: Any) -> dict[str, Any] | None:
    """One transition in its own transaction; None if the order is no longer in ``expect``."""
    now = time.time()
    async with shop.db.write() as conn:
        order = await store.load_order(conn, order_no, lock=True)
        if order["state"] != expect:
            return None
        event = await shop.record(conn, order, target, now, **columns)
    await shop.committed(order, event, expect.value)
    return order


async def process(shop: Shop, order_no: str) -> None:
    """Run the order through the remaining stages, from the state stored in the database."""
    async with shop.db.read() as conn:
        order = await store.load_order(conn, order_no)
    state = S(order["state"])
    if state not in IN_FLIGHT:
        return
    if state is S.PAID:
        if await _step(shop, order_no, S.RISK_CHECK, S.PAID) is None:
            return
        state = S.RISK_CHECK
    if state is S.RISK_CHECK:
        state = await _risk_stage(shop, order)
    if state is S.ALLOCATING:
        state = await _allocation_stage(shop, order)
    if state is S.DELIVERING:
        await _delivery_stage(shop, order)


def _hold(shop: Shop, order: dict[str, Any]) -> bool:
    """A dependency failed after its retries (or its breaker is open): keep the order in its
    stage and queue it again in about ``hold_retry_s``, as long as it was paid less than
    ``hold_s`` ago; False when it should be parked for a person instead. A brief outage then
    delays orders instead of stranding them; a crash meanwhile loses nothing (the order is still
    in flight, so start-up and the sweep queue it again)."""
    since = order["paid_at"] or order["created_at"]
    if time.time() - since >= shop.settings.hold_s:
        return False
    shop.metrics.held.inc()
    if order["order_no"] not in shop.held:  # one timer per order, however it was queued
        shop.held.add(order["order_no"])
        delay = shop.settings.hold_retry_s * random.uniform(0.5, 1.5)
        shop.spawn(_queue_later(shop, order["order_no"], order["priority"], delay))
    return True


async def _queue_later(shop: Shop, order_no: str, priority: int, delay: float) -> None:
    await asyncio.sleep(delay)
    shop.held.discard(order_no)
    enqueue(shop, order_no, priority)


async def _timed(shop: Shop, stage: OrderState, started: float) -> None:
    took = time.time() - started
    shop.clock.observe(stage, took)
    shop.metrics.stage_seconds.labels(stage.value).observe(took)


async def _risk_stage(shop: Shop, order: dict[str, Any]) -> OrderState:
    started = time.time()
    body = {"order_no": order["order_no"], "email": order["email"],
            "amount": f"{order['amount_cents'] / 100:.2f}", "product_id": order["product_id"]}
    try:
        _, response = await call_with_failover([shop.upstreams["risk"]], "POST", "/api/check",
                                               body)
        decision = response.json().get("decision", "review")
    except (UpstreamError, ValueError) as exc:
        await _timed(shop, S.RISK_CHECK, started)
        if isinstance(exc, UpstreamError) and exc.transient and _hold(shop, order):
            return S.RISK_CHECK
        await _step(shop, order["order_no"], S.NEEDS_ATTENTION, S.RISK_CHECK,
                    last_error=f"risk check: {exc}"[:500])
        return S.NEEDS_ATTENTION
    await _timed(shop, S.RISK_CHECK, started)
    target = S.ALLOCATING if decision == "pass" else S.NEEDS_REVIEW
    done = await _step(shop, order["order_no"], target, S.RISK_CHECK)
    return target if done is not None else S.NEEDS_ATTENTION


def _supplier_chain(shop: Shop) -> list[Any]:
    chain = [shop.upstreams["supplier-a"]]
    if shop.settings.failover:
        chain.append(shop.upstreams["supplier-b"])
        if not chain[0].breaker.allow(time.time()):
            chain.reverse()
    return chain


async def _allocation_stage(shop: Shop, order: dict[str, Any]) -> OrderState:
    started = time.time()
    order_no = order["order_no"]
    if order["kind"] == "supplier":
        body = {"order_no": order_no, "sku": order["product_id"], "quantity": order["quantity"]}
        try:
            _, response = await call_with_failover(_supplier_chain(shop), "POST", "/api/keys",
                                                   body)
            keys = [str(k) for k in response.json()["keys"]][: order["quantity"]]
            if len(keys) != order["quantity"]:
                raise ValueError(f"supplier sent {len(keys)} keys for {order['quantity']}")
        except (UpstreamError, ValueError, KeyError) as exc:
            await _timed(shop, S.ALLOCATING, started)
            if isinstance(exc, UpstreamError) and exc.transient and _hold(shop, order):
                return S.ALLOCATING
            await _step(shop, order_no, S.NEEDS_ATTENTION, S.ALLOCATING,
                        last_error=f"allocation: {exc}"[:500])
            return S.NEEDS_ATTENTION
        await _timed(shop, S.ALLOCATING, started)
        return await _store_supplier_keys(shop, order_no, order["product_id"], keys)
    await _timed(shop, S.ALLOCATING, started)
    done = await _step(shop, order_no, S.DELIVERING, S.ALLOCATING)
    return S.DELIVERING if done is not None else S.NEEDS_ATTENTION


async def _store_supplier_keys(shop: Shop, order_no: str, product_id: str,
                               keys: list[str]) -> OrderState:
    now = time.time()
    async with shop.db.write() as conn:
        order = await store.load_order(conn, order_no, lock=True)
        if order["state"] != S.ALLOCATING:
            return S.NEEDS_ATTENTION
        await conn.execute(insert(db.card_keys), [
            {"product_id": product_id, "secret": k, "status": "reserved", "order_no": order_no,
             "source": "supplier"} for k in keys])
        event = await shop.record(conn, order, S.DELIVERING, now)
    await shop.committed(order, event, S.ALLOCATING.value)
    return S.DELIVERING


async def _delivery_stage(shop: Shop, order: dict[str, Any]) -> None:
    """Reserved keys become sold and the order delivered, in one transaction: exactly once."""
    started = now = time.time()
    order_no = order["order_no"]
    async with shop.db.write() as conn:
        row = await store.load_order(conn, order_no, lock=True)
        if row["state"] != S.DELIVERING:
            return
        reserved = (await conn.execute(
            select(func.count()).select_from(db.card_keys)
            .where(and_(db.card_keys.c.order_no == order_no,
                        db.card_keys.c.status == "reserved")))).scalar_one()
        if reserved != row["quantity"]:
            event = await shop.record(
                conn, row, S.NEEDS_ATTENTION, now,
                last_error=f"{reserved} keys reserved for {row['quantity']} ordered")
        else:
            await conn.execute(
                update(db.card_keys)
                .where(and_(db.card_keys.c.order_no == order_no,
                            db.card_keys.c.status == "reserved"))
                .values(status="sold", sold_at=now))
            event = await shop.record(conn, row, S.DELIVERED, now, delivered_at=now)
    await shop.committed(row, event, S.DELIVERING.value)
    await _timed(shop, S.DELIVERING, started)
    if event.state != S.DELIVERED:
        return
    if row["paid_at"]:
        shop.metrics.paid_to_delivered.observe(now - row["paid_at"])
    shop.spawn(_notify(shop, row))


async def _notify(shop: Shop, order: dict[str, Any]) -> None:
    """Tell the buyer by e-mail; a failure is recorded and never blocks delivery."""
    body = {"order_no": order["order_no"], "email": order["email"],
            "message": f"Your order {order['order_no']} was delivered."}
    status = "sent"
    try:
        await call_with_failover([shop.upstreams["notify"]], "POST", "/api/notify", body)
    except UpstreamError:
        status = "failed"
    async with shop.db.write() as conn:  # an order is delivered once, so notified once
        await conn.execute(insert(db.notifications).values(
            order_no=order["order_no"], status=status, at=time.time()))
