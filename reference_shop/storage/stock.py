"""Stock: card keys (available → reserved → sold) and the supplier products' virtual stock.

Reservation is atomic: all the keys an order needs, or none (OutOfStock). On SQLite the write
lock serialises it; elsewhere ``FOR UPDATE SKIP LOCKED`` keeps concurrent orders apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fakalab.reference_shop import db
from fakalab.reference_shop.storage.rows import KeyRow, row

__all__ = [
    "OutOfStock",
    "add_keys",
    "add_supplier_stock",
    "all_keys",
    "available_counts",
    "release",
    "reserve",
    "reserved_count",
    "sell_reserved",
    "sold_keys",
]

k = db.card_keys.c
p = db.products.c


class OutOfStock(Exception):
    """Fewer keys available than ordered."""


async def reserve(conn: AsyncConnection, product_id: str, kind: str, order_no: str,
                  quantity: int) -> None:
    """Reserve ``quantity`` keys for the order atomically, or raise OutOfStock (nothing taken)."""
    if kind == "supplier":
        done = await conn.execute(
            update(db.products)
            .where(and_(p.id == product_id, p.supplier_stock >= quantity))
            .values(supplier_stock=p.supplier_stock - quantity))
        if done.rowcount != 1:
            raise OutOfStock(product_id)
        return
    pick = (select(k.id).where(and_(k.product_id == product_id, k.status == "available"))
            .order_by(k.id).limit(quantity).with_for_update(skip_locked=True))
    ids = [r[0] for r in await conn.execute(pick)]
    if len(ids) < quantity:
        raise OutOfStock(product_id)
    done = await conn.execute(
        update(db.card_keys).where(and_(k.id.in_(ids), k.status == "available"))
        .values(status="reserved", order_no=order_no))
    if done.rowcount != quantity:
        raise OutOfStock(product_id)


async def release(conn: AsyncConnection, order_no: str, product_id: str, kind: str,
                  quantity: int) -> None:
    """Give an order's reserved (unsold) keys back to stock."""
    if kind == "supplier":
        await add_supplier_stock(conn, product_id, quantity)
        return
    await conn.execute(
        update(db.card_keys).where(and_(k.order_no == order_no, k.status == "reserved"))
        .values(status="available", order_no=None))


async def add_supplier_stock(conn: AsyncConnection, product_id: str, quantity: int) -> None:
    await conn.execute(update(db.products).where(p.id == product_id)
                       .values(supplier_stock=p.supplier_stock + quantity))


async def add_keys(conn: AsyncConnection, product_id: str, secrets: Sequence[str], *,
                   status: str = "available", order_no: str | None = None,
                   source: str = "local") -> None:
    """Add keys to stock (restock, the demo catalog), or reserved for an order (a supplier's)."""
    if secrets:
        await conn.execute(insert(db.card_keys), [
            {"product_id": product_id, "secret": s, "status": status, "order_no": order_no,
             "source": source} for s in secrets])


async def reserved_count(conn: AsyncConnection, order_no: str) -> int:
    found = await conn.execute(select(func.count()).select_from(db.card_keys).where(and_(
        k.order_no == order_no, k.status == "reserved")))
    return int(found.scalar_one())


async def sell_reserved(conn: AsyncConnection, order_no: str, at: float) -> None:
    """The order's reserved keys become sold (inside the delivery transaction)."""
    await conn.execute(
        update(db.card_keys).where(and_(k.order_no == order_no, k.status == "reserved"))
        .values(status="sold", sold_at=at))


async def sold_keys(conn: AsyncConnection, order_no: str) -> list[str]:
    """The secrets delivered to the order, in the order they were stocked."""
    rows = await conn.execute(select(k.secret).where(and_(
        k.order_no == order_no, k.status == "sold")).order_by(k.id))
    return [r[0] for r in rows]


async def available_counts(conn: AsyncConnection) -> dict[str, int]:
    """Available keys per product."""
    rows = await conn.execute(select(k.product_id, func.count())
                              .where(k.status == "available").group_by(k.product_id))
    return {r[0]: int(r[1]) for r in rows}


async def all_keys(conn: AsyncConnection) -> list[KeyRow]:
    rows = await conn.execute(select(db.card_keys).order_by(k.id))
    return [row(KeyRow, r) for r in rows.mappings()]
