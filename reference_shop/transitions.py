"""Every state change of an order: :meth:`Transitions.move` writes it inside the caller's
transaction (state machine check, ledger event with the buyer's message, ETA and visibility),
and :meth:`Transitions.publish`, after the commit, updates the in-memory view, the counters
and the SSE subscribers."""

from __future__ import annotations

from fakalab.contract.stages import Transparency
from fakalab.reference_shop.eta import Promises, Throughput
from fakalab.reference_shop.interfaces import Connection, Storage
from fakalab.reference_shop.messages import stage_message, visible_in
from fakalab.reference_shop.metrics import OrderCounts, ShopMetrics
from fakalab.reference_shop.states import IN_FLIGHT, OrderState
from fakalab.reference_shop.storage import events, orders, stock
from fakalab.reference_shop.storage.rows import EventRow, Moved, OrderRow
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

    async def move(self, conn: Connection, order: OrderRow, target: OrderState, now: float, *,
                   paid_at: float | None = None, delivered_at: float | None = None,
                   last_error: str | None = None) -> Moved:
        """Transition a locked order and write its ledger event (inside ``conn``'s
        transaction)."""
        message = stage_message(target, supplier=order.kind == "supplier")
        eta = (self.promises.eta_for(order.order_no, target, now, order.priority)
               if target in IN_FLIGHT else None)
        return await orders.transition(
            conn, order, target, at=now, message=message, eta_at=eta,
            visible=visible_in(self.mode, S(order.state), target), paid_at=paid_at,
            delivered_at=delivered_at, last_error=last_error)

    async def load_counts(self) -> None:
        """At start-up: the orders per state, as stored."""
        async with self.db.read() as conn:
            self.counts.load(await orders.count_by_state(conn))

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
        self.metrics.transitions.labels(event.state).inc()
        if previous in IN_FLIGHT and event.state not in IN_FLIGHT:
            self.throughput.record(event.at)  # an order left the pipeline
        view = self.views.get(order.order_no)
        last = view.events[-1].seq if view is not None and view.events else 0
        if view is None or event.seq > last + 1:  # not cached, or an update was missed
            self.views.drop(order.order_no)
            await self.view(order.order_no)  # the committed state, keys included
            return
        keys: list[str] = []
        if event.state == S.DELIVERED:
            async with self.db.read() as conn:
                keys = await stock.sold_keys(conn, order.order_no)
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
        async with self.db.read() as conn:
            try:
                order = await orders.load(conn, order_no)
            except orders.UnknownOrder:
                return None
            chain = await events.for_order(conn, order_no)
            keys = await stock.sold_keys(conn, order_no) if order.state == S.DELIVERED else []
        view = OrderView.from_row(order, chain)
        view.keys = keys
        self.views.put(view)
        return view
