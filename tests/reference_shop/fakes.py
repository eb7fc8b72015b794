"""In-process stand-ins for the shop's edges: the six upstreams as one ``httpx.MockTransport``
handler, a clock moved by hand, side tasks collected for the test to run, and the services of
one shop built from them over a SQLite file (no process, no socket)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from fakalab.contract.services import SERVICES
from fakalab.contract.shop_settings import ShopSettings
from fakalab.reference_shop import signing
from fakalab.reference_shop.composition import fulfilment_upstreams, upstream_clients
from fakalab.reference_shop.db import Database
from fakalab.reference_shop.demo import Product, load_catalog
from fakalab.reference_shop.eta import Promises
from fakalab.reference_shop.fulfilment import Fulfilment
from fakalab.reference_shop.http_transport import HttpxTransport
from fakalab.reference_shop.ordering import Ordering
from fakalab.reference_shop.payments import CHANNELS, Payments
from fakalab.reference_shop.state import ShopState
from fakalab.reference_shop.storage import events, orders, stock
from fakalab.reference_shop.storage.rows import EventRow, OrderRow
from fakalab.reference_shop.transitions import Transitions
from fakalab.reference_shop.upstream import Upstream

SECRETS = {"payment-a": "fakalab-secret-a", "payment-b": "fakalab-secret-b"}
CATALOG = (Product("steam-50", "Steam gift card 50", 5000, 1, "local", keys=5),
           Product("vip-month", "VIP month (supplier)", 990, 0, "supplier", supplier_stock=50))


class FakeUpstreams:
    """Payment A/B, supplier A/B, risk and notify, answering like the real services
    (docs/upstreams.md) unless ``status[name]`` makes one answer that HTTP status instead
    (503: an outage the shop retries and holds for; 409: a refusal)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []  # (upstream, method, path)
        self.status: dict[str, int] = {}
        self.payments: dict[str, dict[str, Any]] = {}  # trade_no -> the channel's record

    def __call__(self, request: httpx.Request) -> httpx.Response:
        name, path = request.url.host, request.url.path
        self.calls.append((name, request.method, path))
        if name in self.status:
            return httpx.Response(self.status[name], json={"error": "told to fail"})
        body: dict[str, Any] = json.loads(request.content) if request.content else {}
        if name in CHANNELS:
            return self._channel(name, request.method, path, body)
        if name == "risk":
            return httpx.Response(200, json={"order_no": body["order_no"], "decision": "pass"})
        if name.startswith("supplier-"):
            prefix = "SUP" + name[-1].upper()
            keys = [f"{prefix}-{body['order_no']}-{i}" for i in range(body["quantity"])]
            return httpx.Response(200, json={"order_no": body["order_no"], "keys": keys})
        return httpx.Response(202, json={"queued": True})  # notify

    def _channel(self, name: str, method: str, path: str, body: dict[str, Any]
                 ) -> httpx.Response:
        if method == "POST":
            payment_id = f"P{name[-1].upper()}{len(self.payments) + 1}"
            self.payments[body["trade_no"]] = {"channel": name, "payment_id": payment_id,
                                               "amount": body["amount"], "status": "pending"}
            return httpx.Response(201, json={"payment_id": payment_id,
                                             "pay_url": f"http://{name}/pay/{payment_id}"})
        record = self.payments.get(path.rsplit("/", 1)[-1])
        if record is None:
            return httpx.Response(404, json={"error": "unknown payment"})
        return httpx.Response(200, json=self.notice(path.rsplit("/", 1)[-1]))

    def pay(self, trade_no: str) -> None:
        """The buyer pays at the channel (its callback is then the test's to send)."""
        self.payments[trade_no]["status"] = "paid"

    def notice(self, trade_no: str) -> dict[str, Any]:
        """The signed notice the channel sends (callback) or answers (query)."""
        record = self.payments[trade_no]
        fields = {"trade_no": trade_no, "payment_id": record["payment_id"],
                  "amount": record["amount"], "status": record["status"], "nonce": "n"}
        return {**fields, "sign": signing.sign(fields, SECRETS[record["channel"]])}

    def called(self, name: str) -> int:
        return sum(1 for upstream, _, _ in self.calls if upstream == name)


@dataclass
class HandClock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class SideTasks:
    """Side tasks are collected; the test runs them when it wants (``await run()``)."""

    pending: list[Coroutine[Any, Any, Any]] = field(default_factory=list)

    def __call__(self, coro: Coroutine[Any, Any, Any], /) -> None:
        self.pending.append(coro)

    async def run(self) -> None:
        batch, self.pending = self.pending, []
        await asyncio.gather(*batch)

    def close(self) -> None:
        for coro in self.pending:
            coro.close()


def settings_for(tmp_path: Path, **overrides: Any) -> ShopSettings:
    values: dict[str, Any] = dict(
        db_url=f"sqlite:///{tmp_path / 'shop.db'}",
        upstreams={name: f"http://{name}" for name in SERVICES}, payment_secrets=SECRETS,
        retries=2, backoff_base_s=0.0, backoff_max_s=0.0, hold_s=60.0, hold_retry_s=0.01)
    values.update(overrides)
    return ShopSettings(**values)


@dataclass
class Parts:
    """One shop's services over fakes, each built from the narrow parts it depends on."""

    settings: ShopSettings
    db: Database
    state: ShopState
    upstreams: dict[str, Upstream]
    fake: FakeUpstreams
    clock: HandClock
    spawned: SideTasks
    transitions: Transitions
    fulfilment: Fulfilment
    payments: Payments
    ordering: Ordering
    queued: list[tuple[str, int]]

    async def order(self, product_id: str = "steam-50", quantity: int = 1) -> OrderRow:
        placed = await self.ordering.place_order(product_id, quantity, "unit@example.com",
                                                 None, "test")
        return await self.load(placed.order_no)

    async def paid_order(self, product_id: str = "steam-50", quantity: int = 1) -> OrderRow:
        order = await self.order(product_id, quantity)
        self.fake.pay(order.order_no)
        channel = self.fake.payments[order.order_no]["channel"]
        assert await self.payments.apply_payment(channel, self.fake.notice(order.order_no),
                                                 "callback") == "accepted"
        return await self.load(order.order_no)

    async def load(self, order_no: str) -> OrderRow:
        found = await self.db.run(lambda c: orders.load(c, order_no))
        assert found is not None
        return found

    async def chain(self, order_no: str) -> list[EventRow]:
        return await self.db.run(lambda c: events.for_order(c, order_no))

    async def keys(self, order_no: str) -> list[str]:
        return await self.db.run(lambda c: stock.sold_keys(c, order_no))


async def build_parts(tmp_path: Path, **overrides: Any) -> Parts:
    settings = settings_for(tmp_path, **overrides)
    fake, clock, spawned = FakeUpstreams(), HandClock(), SideTasks()
    queued: list[tuple[str, int]] = []
    database = Database(settings.db_url)
    await database.open()
    await load_catalog(database, CATALOG)
    state = ShopState.fresh(settings)
    http = HttpxTransport(httpx.AsyncClient(transport=httpx.MockTransport(fake)))
    upstreams = upstream_clients(settings, http, state.status, state.metrics, random.Random(1))
    promises = Promises(state.queue, state.stage_clock, state.throughput, state.status.health,
                        settings.workers, settings.eta_floor_s)
    transitions = Transitions(database, state.views, promises, state.counts, state.metrics,
                              state.throughput, state.mode)
    fulfilment = Fulfilment(database, transitions, fulfilment_upstreams(upstreams),
                            state.queue, state.active, state.stage_clock, state.metrics,
                            settings, spawned, clock, random.Random(2))
    payments = Payments(database, transitions, {c: upstreams[c] for c in CHANNELS}, settings,
                        state.metrics, lambda n, p: queued.append((n, p)), spawned, clock)
    ordering = Ordering(database, transitions, payments, settings, state.metrics, clock)
    return Parts(settings, database, state, upstreams, fake, clock, spawned, transitions,
                 fulfilment, payments, ordering, queued)
