"""The demo catalog: a few products with card keys, loaded by ``fakalab shop --demo``."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from fakalab.reference_shop import db
from fakalab.reference_shop.storage import products, stock
from fakalab.reference_shop.storage.rows import ProductRow
from fakalab.reference_shop.storage.writer import Cursor

__all__ = ["DEMO_PRODUCTS", "Product", "demo_catalog", "load_catalog"]


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    price_cents: int
    priority: int
    kind: str
    keys: int = 0
    supplier_stock: int = 0


DEMO_PRODUCTS = (
    Product("steam-50", "Steam gift card 50", 5000, 1, "local", keys=2000),
    Product("win-pro", "Windows 11 Pro licence key", 1990, 1, "local", keys=2000),
    Product("vip-month", "VIP membership, one month (from supplier)", 990, 0, "supplier",
            supplier_stock=100_000),
    Product("game-cdk", "Game CD key, bulk tier", 300, 2, "local", keys=2000),
)


def card_key(rng: random.Random, prefix: str) -> str:
    chars = "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", k=20))
    return f"{prefix}-{chars[:5]}-{chars[5:10]}-{chars[10:15]}-{chars[15:]}"


def demo_catalog(keys: int) -> tuple[Product, ...]:
    """The demo products with `keys` card keys for each local product."""
    return tuple(replace(p, keys=keys) if p.keys else p for p in DEMO_PRODUCTS)


async def load_catalog(database: db.Database, catalog: tuple[Product, ...] = DEMO_PRODUCTS,
                       seed: int = 7) -> int:
    """Insert the products that are missing and their keys; returns keys added."""
    rng = random.Random(seed)

    def load(c: Cursor) -> int:
        added = 0
        have = {p.id for p in products.all_products(c)}
        for p in catalog:
            if p.id in have:
                continue
            products.add_product(c, ProductRow(p.id, p.name, p.price_cents, p.priority, p.kind,
                                               sku=p.id, supplier_stock=p.supplier_stock))
            if p.keys:
                prefix = p.id.split("-")[0].upper()[:4]
                stock.add_keys(c, p.id, [card_key(rng, prefix) for _ in range(p.keys)])
                added += p.keys
        return added

    return await database.run(load)
