"""The shop's products as the pipeline sees them: priority lane and kind (pure data).

A copy of ``reference_shop/demo.py`` ``DEMO_PRODUCTS`` (the catalog every drill loads), which
``simulate`` may not import (docs/architecture.md); ``tests/simulate/test_products.py`` keeps
the two in step. Priority 0 is served first; a ``supplier`` product's allocation calls supplier
A (then B), a ``local`` one takes keys the shop holds.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

__all__ = ["PRODUCTS", "Product"]


class Product(NamedTuple):
    priority: int
    kind: Literal["local", "supplier"]


PRODUCTS: dict[str, Product] = {
    "steam-50": Product(1, "local"),
    "win-pro": Product(1, "local"),
    "vip-month": Product(0, "supplier"),
    "game-cdk": Product(2, "local"),
}
