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
from fakalab.reference_shop.storage.rows import StuckRow

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
        async with self.db.write() as conn:
            if await products.product(conn, product_id) is None:
                raise Refused(404, f"unknown product {product_id!r}")
            await stock.add_keys(conn, product_id, keys)
            if supplier_stock:
                await stock.add_supplier_stock(conn, product_id, supplier_stock)
        return Restocked(product_id, len(keys), supplier_stock)

    async def stuck(self, older_than_s: float) -> list[StuckRow]:
        """Orders needing a person, and in-flight orders not moving for ``older_than_s``."""
        async with self.db.read() as conn:
            return await orders.needing_a_person(conn, NEEDS_A_PERSON,
                                                 self.clock() - older_than_s)

    async def redeliver(self, order_no: str) -> str:
        """needs_attention → paid (the pipeline runs again); needs_review → allocating
        (approved). Returns the new state."""
        return await self._transition(order_no, REDELIVER, requeue=True)

    async def refund(self, order_no: str) -> str:
        return await self._transition(order_no, REFUND, requeue=False)

    async def _transition(self, order_no: str, targets: dict[OrderState, OrderState],
                          requeue: bool) -> str:
        now = self.clock()
        async with self.db.write() as conn:
            try:
                order = await orders.load(conn, order_no, lock=True)
            except orders.UnknownOrder:
                raise Refused(404, "order not found") from None
            current = S(order.state)
            if current not in targets:
                allowed = ", ".join(s.value for s in targets)
                raise Refused(409, f"order is {current.value}; only {allowed} can be changed "
                                   f"here")
            if targets[current] is S.REFUNDED and current is not S.NEEDS_REFUND:
                # needs_refund comes from an expired order, whose keys went back at expiry.
                await stock.release(conn, order_no, order.product_id, order.kind,
                                    order.quantity)
            moved = await self.recorder.move(conn, order, targets[current], now)
        await self.recorder.publish(moved)
        if requeue:
            self.enqueue(order_no, order.priority)
        return moved.event.state

    async def export_csv(self, table: str) -> str | None:
        """The table as CSV (cells made spreadsheet-safe); None for an unknown table."""
        if table not in EXPORT_TABLES:
            return None
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(exports.columns(table))
        async with self.db.read() as conn:
            async for row in exports.stream_rows(conn, table):
                writer.writerow([spreadsheet_safe(value) for value in row])
        return out.getvalue()
