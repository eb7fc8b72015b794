"""The catalog buyers browse: products with their available stock, cached briefly (browsing
must stay cheap while buyers storm the shop)."""

from __future__ import annotations

import time
from typing import Any

from fakalab.contract.rundir import money
from fakalab.reference_shop.interfaces import Clock, Storage
from fakalab.reference_shop.storage import products, stock

__all__ = ["Catalog"]


class Catalog:
    def __init__(self, db: Storage, clock: Clock = time.time) -> None:
        self.db = db
        self.clock = clock
        self._cached: tuple[float, list[dict[str, Any]]] = (0.0, [])

    async def listing(self, max_age_s: float = 1.0) -> list[dict[str, Any]]:
        """``GET /api/products``: every product with the stock a buyer can order now."""
        now = self.clock()
        if now - self._cached[0] < max_age_s:
            return self._cached[1]
        available, rows = await self.db.run(
            lambda c: (stock.available_counts(c), products.all_products(c)))
        items = [{"id": p.id, "name": p.name, "price": money(p.price_cents),
                  "priority": p.priority, "kind": p.kind,
                  "stock": p.supplier_stock if p.kind == "supplier"
                  else available.get(p.id, 0)} for p in rows]
        self._cached = (now, items)
        return items
