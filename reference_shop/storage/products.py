"""Products: the catalog's rows."""

from __future__ import annotations

from fakalab.reference_shop.storage.rows import ProductRow, columns, has_nul
from fakalab.reference_shop.storage.writer import Cursor

__all__ = ["add_product", "all_products", "product"]

_COLS = columns(ProductRow)


def product(c: Cursor, product_id: str) -> ProductRow | None:
    if has_nul(product_id):
        return None
    found = c.one(f"SELECT {_COLS} FROM products WHERE id = ?", product_id)
    return None if found is None else ProductRow(*found)


def all_products(c: Cursor) -> list[ProductRow]:
    return [ProductRow(*r) for r in c.all(f"SELECT {_COLS} FROM products ORDER BY id")]


def add_product(c: Cursor, p: ProductRow) -> None:
    c.run(f"INSERT INTO products ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)", p.id, p.name,
          p.price_cents, p.priority, p.kind, p.sku, p.supplier_stock)
