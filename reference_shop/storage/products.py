"""Products: the catalog's rows."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fakalab.reference_shop import db
from fakalab.reference_shop.storage.rows import ProductRow, has_nul, row

__all__ = ["add_product", "all_products", "product"]

p = db.products.c


async def product(conn: AsyncConnection, product_id: str) -> ProductRow | None:
    if has_nul(product_id):
        return None
    found = (await conn.execute(select(db.products).where(p.id == product_id))).mappings().first()
    return None if found is None else row(ProductRow, found)


async def all_products(conn: AsyncConnection) -> list[ProductRow]:
    rows = await conn.execute(select(db.products).order_by(p.id))
    return [row(ProductRow, r) for r in rows.mappings()]


async def add_product(conn: AsyncConnection, product: ProductRow) -> None:
    await conn.execute(insert(db.products).values(
        id=product.id, name=product.name, price_cents=product.price_cents,
        priority=product.priority, kind=product.kind, sku=product.sku,
        supplier_stock=product.supplier_stock))
