"""Card-key stock: reserving keys for an order (atomically), releasing them, selling them, and
the counts the catalog shows. Supplier products keep a count instead of keys."""

from __future__ import annotations

from collections.abc import Sequence

from fakalab.reference_shop.storage.rows import KeyRow, columns
from fakalab.reference_shop.storage.writer import Cursor

__all__ = ["add_keys", "add_supplier_stock", "all_keys", "available_counts", "release",
           "reserve", "reserved_keys", "sell_reserved", "sold_keys"]

_COLS = columns(KeyRow)


def reserve(c: Cursor, product_id: str, kind: str, order_no: str, quantity: int) -> bool:
    """Reserve ``quantity`` keys for the order, all or none; False when too few are left."""
    if kind == "supplier":
        return c.count("UPDATE products SET supplier_stock = supplier_stock - ? "
                     "WHERE id = ? AND supplier_stock >= ?", quantity, product_id,
                     quantity) == 1
    ids = [r[0] for r in c.all("SELECT id FROM card_keys WHERE product_id = ? AND status = ? "
                               "ORDER BY id LIMIT ?", product_id, "available", quantity)]
    if len(ids) < quantity:
        return False
    c.many("UPDATE card_keys SET status = ?, order_no = ? WHERE id = ?",
           [("reserved", order_no, key_id) for key_id in ids])
    return True


def release(c: Cursor, order_no: str, product_id: str, kind: str, quantity: int) -> None:
    """Give an order's reserved (unsold) keys back to stock."""
    if kind == "supplier":
        add_supplier_stock(c, product_id, quantity)
        return
    c.run("UPDATE card_keys SET status = ?, order_no = NULL WHERE order_no = ? AND status = ?",
          "available", order_no, "reserved")


def add_supplier_stock(c: Cursor, product_id: str, quantity: int) -> None:
    c.run("UPDATE products SET supplier_stock = supplier_stock + ? WHERE id = ?", quantity,
          product_id)


def add_keys(c: Cursor, product_id: str, secrets: Sequence[str], *, status: str = "available",
             order_no: str | None = None, source: str = "local") -> None:
    """Add keys to stock (restock, the demo catalog), or reserved for an order (a supplier's)."""
    c.many("INSERT INTO card_keys (product_id, secret, status, order_no, source) "
           "VALUES (?, ?, ?, ?, ?)",
           [(product_id, s, status, order_no, source) for s in secrets])


def reserved_keys(c: Cursor, order_no: str) -> list[str]:
    """The secrets reserved for the order, in the order they were stocked: what its delivery
    sells (one read, where a count and then the sold keys were two round trips)."""
    return [r[0] for r in c.all("SELECT secret FROM card_keys WHERE order_no = ? AND status = ? "
                                "ORDER BY id", order_no, "reserved")]


def sell_reserved(c: Cursor, order_no: str, at: float) -> None:
    """The order's reserved keys become sold (inside the delivery unit)."""
    c.run("UPDATE card_keys SET status = ?, sold_at = ? WHERE order_no = ? AND status = ?",
          "sold", at, order_no, "reserved")


def sold_keys(c: Cursor, order_no: str) -> list[str]:
    """The secrets delivered to the order, in the order they were stocked."""
    return [r[0] for r in c.all("SELECT secret FROM card_keys WHERE order_no = ? AND status = ? "
                                "ORDER BY id", order_no, "sold")]


def available_counts(c: Cursor) -> dict[str, int]:
    """Available keys per product."""
    return {r[0]: int(r[1]) for r in c.all(
        "SELECT product_id, COUNT(*) FROM card_keys WHERE status = ? GROUP BY product_id",
        "available")}


def all_keys(c: Cursor) -> list[KeyRow]:
    return [KeyRow(*r) for r in c.all(f"SELECT {_COLS} FROM card_keys ORDER BY id")]
