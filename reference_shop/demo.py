"""The demo catalog: a few products with card keys, loaded by ``fakalab shop --demo``."""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import func, insert, select

from fakalab.reference_shop import db

__all__ = ["DEMO_PRODUCTS", "Product", "load_catalog"]


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
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    blocks = ("".join(rng.choice(alphabet) for _ in range(5)) for _ in range(4))
    return prefix + "-" + "-".join(blocks)


async def load_catalog(database: db.Database, products: tuple[Product, ...] = DEMO_PRODUCTS,
                       seed: int = 7) -> int:
    """Insert the products that are missing and their keys; returns keys added."""
    rng = random.Random(seed)
    added = 0
    async with database.write() as conn:
        have = {r[0] for r in await conn.execute(select(db.products.c.id))}
        for p in products:
            if p.id in have:
                continue
            await conn.execute(insert(db.products).values(
                id=p.id, name=p.name, price_cents=p.price_cents, priority=p.priority,
                kind=p.kind, sku=p.id, supplier_stock=p.supplier_stock))
            if p.keys:
                prefix = p.id.split("-")[0].upper()[:4]
                await conn.execute(insert(db.card_keys), [
                    {"product_id": p.id, "secret": card_key(rng, prefix), "status": "available",
                     "source": "local"} for _ in range(p.keys)])
                added += p.keys
        total = (await conn.execute(select(func.count()).select_from(db.card_keys))).scalar()
    return added if total is not None else 0
