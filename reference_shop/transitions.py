"""Every state change of an order: :meth:`Transitions.move` writes it inside the caller's unit
of work (state machine check, ledger event with the buyer's message, ETA and visibility), and
:meth:`Transitions.publish`, after the commit, updates the in-memory view, the counters and the
SSE subscribers.

A unit runs on the writer's thread, so ``move`` touches nothing of the shop's in-memory state:
the ETA it records is computed beforehand, on the event loop (:meth:`Transitions.eta`); the
message and the visibility are pure functions of the states."""

from __future__ import annotations

from fakalab.contract.stages import Transparency
from fakalab.reference_shop.eta import Promises, Throughput
from fakalab.reference_shop.interfaces import Storage
from fakalab.reference_shop.messages import stage_message, visible_in
from fakalab.reference_shop.metrics import OrderCounts, ShopMetrics
from fakalab.reference_shop.states import IN_FLIGHT, OrderState
from fakalab.reference_shop.storage import events, orders, stock
from fakalab.reference_shop.storage.rows import EventRow, Moved, OrderRow
from fakalab.reference_shop.storage.writer import Cursor
from fakalab.reference_shop.views import OrderView, ViewCache

__all__ = ["Transitions"]

S = OrderState


class Transitions:
    def __init__(self, db: Storage, views: ViewCache, promises: Promises, counts: OrderCounts,
                 metrics: ShopMetrics, throughput: Throughput, mode: Transparency) -> None:
        self.db = db
        self.views = views
        self.promises = promises
        self.counts = counts
        self.metrics = metrics
        self.throughput = throughput
        self.mode = mode

    def eta(self, order_no: str, target: OrderState, now: float, priority: int) -> float | None:
        """The ETA to record with a move to ``target`` (on the event loop, before the unit)."""
        if target not in IN_FLIGHT:
            return None
        return self.promises.eta_for(order_no, target, now, priority)

    def eta_of(self, order_no: str, target: OrderState, now: float) -> float | None:
        """`eta` for an order known only by its number (its priority from its cached view)."""
        view = self.views.get(order_no)
        return self.eta(order_no, target, now, view.priority if view is not None else 1)

    def move(self, c: Cursor, order: OrderRow, target: OrderState, now: float, *,
             eta_at: float | None = None, paid_at: float | None = None,
             delivered_at: float | None = None, last_error: str | None = None) -> Moved:
        """Transition the order and write its ledger event (inside a unit of work)."""
        message = stage_message(target, supplier=order.kind == "supplier")
        return orders.transition(
            c, order, target, at=now, message=message, eta_at=eta_at,
            visible=visible_in(self.mode, S(order.state), target), paid_at=paid_at,
            delivered_at=delivered_at, last_error=last_error)

    async def load_counts(self) -> None:
        """At start-up: the orders per state, as stored."""
        self.counts.load(await self.db.run(orders.count_by_state))

    def opened(self, order: OrderRow, event: EventRow) -> OrderView:
        """A new order (committed with its first event): its view, cached and counted."""
        view = OrderView.from_row(order, [event])
        self.views.put(view)
        self.counts.moved(None, event.state)
        return view

    async def publish(self, moved: Moved) -> None:
        """After commit: update the view, the counters and the subscribers.

        Everything the buyer will see is fetched first; the view is then changed with no
        ``await`` in between, so no reader ever sees "delivered" without its keys.
        """
        order, event, previous = moved.order, moved.event, moved.previous
        self.counts.moved(previous, event.state)
        if previous == S.PENDING_PAYMENT and event.state == S.PAID:
            self.counts.paid_after(event.at - order.created_at)
        self.metrics.transitions.labels(event.state).inc()
        if previous in IN_FLIGHT and event.state not in IN_FLIGHT:
            self.throughput.record(event.at)  # an order left the pipeline
        view = self.views.get(order.order_no)
        last = view.events[-1].seq if view is not None and view.events else 0
        if view is None or event.seq > last + 1:  # not cached, or an update was missed
            self.views.drop(order.order_no)
            await self.view(order.order_no)  # the committed state, keys included
            return
        keys = list(moved.keys)  # a delivery read its keys in its own unit
        if event.seq == last + 1:
            view.events.append(event)
        view.paid_at, view.delivered_at = order.paid_at, order.delivered_at
        view.channel, view.pay_url = order.channel, order.pay_url
        view.eta_override = None
        if keys:
            view.keys = keys
        self.views.publish(view)

    async def view(self, order_no: str) -> OrderView | None:
        """The view of an order, from the cache or (after a restart or eviction) the database."""
        view = self.views.get(order_no)
        if view is not None:
            return view
        found = await self.db.run(lambda c: _stored_view(c, order_no))
        if found is None:
            return None
        order, chain, keys = found
        view = OrderView.from_row(order, chain)
        view.keys = keys
        self.views.put(view)
        return view


def _stored_view(c: Cursor, order_no: str
                 ) -> tuple[OrderRow, list[EventRow], list[str]] | None:
    order = orders.load(c, order_no)
    if order is None:
        return None
    keys = stock.sold_keys(c, order_no) if order.state == S.DELIVERED else []
    return order, events.for_order(c, order_no), keys
