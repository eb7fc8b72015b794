"""What staff do (the admin API): restock, list the orders needing a person, re-deliver or
refund one, export a table as CSV."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass

from fakalab.reference_shop.interfaces import Clock, Enqueue, Recorder, Storage
from fakalab.reference_shop.states import OrderState
from fakalab.reference_shop.storage import exports, orders, products, stock
from fakalab.reference_shop.storage.rows import Moved, StuckRow
from fakalab.reference_shop.storage.writer import Cursor

__all__ = ["EXPORT_TABLES", "FORMULA_START", "Backoffice", "Refused", "Restocked",
           "spreadsheet_safe"]

S = OrderState
NEEDS_A_PERSON = (S.NEEDS_REVIEW, S.NEEDS_ATTENTION, S.NEEDS_REFUND)
REDELIVER = {S.NEEDS_ATTENTION: S.PAID, S.NEEDS_REVIEW: S.ALLOCATING}
REFUND = {s: S.REFUNDED for s in (S.NEEDS_ATTENTION, S.NEEDS_REVIEW, S.NEEDS_REFUND)}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EXPORT_TABLES = exports.TABLES


class Refused(Exception):
    """The action cannot be done; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Restocked:
    product_id: str
    added_keys: int
    added_supplier_stock: int


def spreadsheet_safe(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula (buyers' e-mails, ticket text,
    fields of forged callbacks) gets a leading apostrophe; numbers are left alone."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class Backoffice:
    def __init__(self, db: Storage, recorder: Recorder, enqueue: Enqueue,
                 clock: Clock = time.time) -> None:
        self.db = db
        self.recorder = recorder
        self.enqueue = enqueue
        self.clock = clock

    async def restock(self, product_id: str, keys: Sequence[str], supplier_stock: int
                      ) -> Restocked:
        def add(c: Cursor) -> bool:
            if products.product(c, product_id) is None:
                return False
            stock.add_keys(c, product_id, keys)
            if supplier_stock:
                stock.add_supplier_stock(c, product_id, supplier_stock)
            return True

        if not await self.db.run(add):
            raise Refused(404, f"unknown product {product_id!r}")
        return Restocked(product_id, len(keys), supplier_stock)

    async def stuck(self, older_than_s: float) -> list[StuckRow]:
        """Orders needing a person, and in-flight orders not moving for ``older_than_s``."""
        before = self.clock() - older_than_s
        return await self.db.run(lambda c: orders.needing_a_person(c, NEEDS_A_PERSON, before))

    async def redeliver(self, order_no: str) -> str:
        """needs_attention → paid (the pipeline runs again); needs_review → allocating
        (approved). Returns the new state."""
        return await self._transition(order_no, REDELIVER, requeue=True)

    async def refund(self, order_no: str) -> str:
        return await self._transition(order_no, REFUND, requeue=False)

    async def _transition(self, order_no: str, targets: dict[OrderState, OrderState],
                          requeue: bool) -> str:
        now = self.clock()

        def change(c: Cursor) -> Moved | Refused:
            order = orders.load(c, order_no)
            if order is None:
                return Refused(404, "order not found")
            current = S(order.state)
            if current not in targets:
                allowed = ", ".join(s.value for s in targets)
                return Refused(409, f"order is {current.value}; only {allowed} can be changed "
                                    f"here")
            if targets[current] is S.REFUNDED and current is not S.NEEDS_REFUND:
                # needs_refund comes from an expired order, whose keys went back at expiry.
                stock.release(c, order_no, order.product_id, order.kind, order.quantity)
            return self.recorder.move(c, order, targets[current], now)

        moved = await self.db.run(change)
        if isinstance(moved, Refused):
            raise moved
        await self.recorder.publish(moved)
        if requeue:
            self.enqueue(order_no, moved.order.priority)
        return moved.event.state

    async def export_csv(self, table: str) -> str | None:
        """The table as CSV (cells made spreadsheet-safe); None for an unknown table."""
        if table not in EXPORT_TABLES:
            return None
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(exports.columns(table))
        async for row in exports.stream_rows(self.db, table):
            writer.writerow([spreadsheet_safe(value) for value in row])
        return out.getvalue()
