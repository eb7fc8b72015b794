"""Products: the catalog's rows."""

from __future__ import annotations

from fakalab.reference_shop.storage.rows import ProductRow, columns, has_nul
from fakalab.reference_shop.storage.writer import Cursor

__all__ = ["add_product", "all_products", "product"]

_COLS = columns(ProductRow)


def product(c: Cursor, product_id: str) -> ProductRow | None:
    """The product's row, read once per writer (Cursor.memo; forgotten at a rollback): a
    product's name, price, priority and kind change only by `add_product`. Its
    `supplier_stock` is the one read then — stock is changed and checked only by the atomic
    UPDATEs of storage/stock.py, never from this row."""
    if has_nul(product_id):
        return None
    key = ("product", product_id)
    row: ProductRow | None = c.memo.get(key)
    if row is None:
        found = c.one(f"SELECT {_COLS} FROM products WHERE id = ?", product_id)
        if found is None:
            return None
        row = c.memo[key] = ProductRow(*found)
    return row


def all_products(c: Cursor) -> list[ProductRow]:
    return [ProductRow(*r) for r in c.all(f"SELECT {_COLS} FROM products ORDER BY id")]


def add_product(c: Cursor, p: ProductRow) -> None:
    c.run(f"INSERT INTO products ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)", p.id, p.name,
          p.price_cents, p.priority, p.kind, p.sku, p.supplier_stock)
    c.memo.pop(("product", p.id), None)
