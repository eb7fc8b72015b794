"""A key supplier: sells card keys per order, idempotently (asking again returns the same keys)."""

from __future__ import annotations

import random
import secrets

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from fakalab.reference_shop.upstreams.admin import admin_router
from fakalab.reference_shop.upstreams.faults import FaultSwitch, SupplierFaults, hits
from fakalab.reference_shop.upstreams.service import Stats, error_response, new_app, sleep_ms

__all__ = ["KeyStore", "create_app"]

# No 0/O/1/I: keys are read and typed by people.
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
STATS = ("orders", "keys_issued", "repeats", "out_of_stock")


class KeyRequest(BaseModel):
    order_no: str = Field(min_length=1, max_length=128)
    sku: str = Field(min_length=1, max_length=128)
    quantity: int = Field(ge=1, le=1000)


class KeyStore:
    """Issued keys by order number; every key unique within the process.

    Keys come from ``secrets``, not the seeded generator, so a restarted supplier never issues a
    key it issued before.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.by_order: dict[str, list[str]] = {}
        self._issued: set[str] = set()

    def new_key(self) -> str:
        while True:
            groups = ("".join(secrets.choice(ALPHABET) for _ in range(4)) for _ in range(3))
            key = "-".join((self.prefix, *groups))
            if key not in self._issued:
                self._issued.add(key)
                return key

    def issue(self, order_no: str, quantity: int) -> list[str]:
        keys = [self.new_key() for _ in range(quantity)]
        self.by_order[order_no] = keys
        return keys


def create_app(channel: str = "A", seed: int = 0, faults: SupplierFaults | None = None) -> FastAPI:
    """Supplier ``channel`` (keys look like ``SUPA-XXXX-XXXX-XXXX``)."""
    name = f"supplier-{channel.lower()}"
    switch = FaultSwitch(faults or SupplierFaults())
    stats = Stats(STATS)
    store = KeyStore(f"SUP{channel.upper()}")
    rng = random.Random(seed)

    app = new_app(f"fakalab {name}")
    app.include_router(admin_router(name, switch, stats))
    app.state.store, app.state.stats, app.state.faults = store, stats, switch

    @app.post("/api/keys", response_model=None)
    async def keys(request: KeyRequest) -> dict[str, object] | JSONResponse:
        stats.inc("requests")
        faults = switch.current
        await sleep_ms(faults.latency_ms)
        if hits(rng, faults.error_pct):
            stats.inc("injected_errors")
            return error_response(503, "supplier error")
        issued = store.by_order.get(request.order_no)
        if issued is not None:
            stats.inc("repeats")
            return {"order_no": request.order_no, "keys": issued}
        if hits(rng, faults.out_of_stock_pct):
            stats.inc("out_of_stock")
            return error_response(409, "out_of_stock")
        stats.inc("orders")
        stats.inc("keys_issued", request.quantity)
        issued = store.issue(request.order_no, request.quantity)
        return {"order_no": request.order_no, "keys": issued}

    return app
