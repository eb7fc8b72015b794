"""A reservation finds the next available key through an index, however many keys were sold
before it: with an index on (product_id, status) alone PostgreSQL scanned the primary key and
filtered out every sold key — a flash sale's reservations slowed down with every sale."""

from __future__ import annotations

import pytest

from fakalab.reference_shop.db import Database
from fakalab.reference_shop.storage import products, stock
from fakalab.reference_shop.storage.rows import ProductRow
from fakalab.reference_shop.storage.writer import Cursor
from tests.reference_shop.conftest import BACKENDS

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

NEXT_KEY = ("SELECT id FROM card_keys WHERE product_id = ? AND status = ? ORDER BY id LIMIT ?")


async def test_the_next_available_key_is_found_by_index_after_many_sales(
        shop_db_url: str, backend: str) -> None:
    db = Database(shop_db_url)
    await db.open()
    try:
        def stocked(c: Cursor) -> None:
            for product_id in ("steam-50", "win-pro"):
                products.add_product(c, ProductRow(product_id, "P", 5000, 1, "local"))
                stock.add_keys(c, product_id, [f"{product_id}-{i}" for i in range(3000)])

        await db.run(stocked)

        def sell(c: Cursor, n: int) -> None:
            for i in range(n):
                assert stock.reserve(c, "steam-50", "local", f"O{i}", 1)
                stock.sell_reserved(c, f"O{i}", 1.0)

        await db.run(lambda c: sell(c, 2500))
        if backend == "postgres":
            await db.run(lambda c: c.run("ANALYZE card_keys"))
            plan = await db.run(lambda c: c.all("EXPLAIN ANALYZE " + NEXT_KEY, "steam-50",
                                                "available", 1))
        else:
            plan = await db.run(lambda c: c.all("EXPLAIN QUERY PLAN " + NEXT_KEY, "steam-50",
                                                "available", 1))
        text = "\n".join(" ".join(str(v) for v in row) for row in plan)
        assert "ix_keys_product_status_id" in text, text
        assert "Rows Removed by Filter" not in text, text
        first = await db.run(lambda c: c.all(NEXT_KEY, "steam-50", "available", 1))
        assert len(first) == 1
    finally:
        await db.close()
