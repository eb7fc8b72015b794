"""The edges the shop's services depend on, as Protocols: the database, the upstreams' HTTP
clients, the clock, side tasks, the fulfilment queue and the recorder of transitions.

``composition.py`` passes the real ones; a test passes its own (an ``Upstream`` over httpx's
``MockTransport``, a SQLite file in a temporary directory, a clock it moves by hand).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from fakalab.reference_shop.breaker import Breaker
from fakalab.reference_shop.states import OrderState
from fakalab.reference_shop.statuspage import ComponentHealth
from fakalab.reference_shop.storage.rows import EventRow, Moved, OrderRow
from fakalab.reference_shop.views import OrderView

__all__ = ["Clock", "Connection", "Enqueue", "Recorder", "Spawn", "Storage", "UpstreamClient"]

Connection = AsyncConnection
Clock = Callable[[], float]  # epoch seconds, e.g. time.time


class Storage(Protocol):
    """Transactions on the shop's database (``db.Database``)."""

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]: ...

    def write(self) -> AbstractAsyncContextManager[AsyncConnection]: ...


class UpstreamClient(Protocol):
    """An upstream service over HTTP, with its breaker and health (``upstream.Upstream``)."""

    name: str
    breaker: Breaker
    health: ComponentHealth

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                   retry_statuses: Sequence[int] = ...) -> httpx.Response: ...


class Spawn(Protocol):
    """Start a side task (a notification, a reconciliation query) the caller does not await."""

    def __call__(self, coro: Coroutine[Any, Any, Any], /) -> None: ...


class Enqueue(Protocol):
    """Queue an order for fulfilment."""

    def __call__(self, order_no: str, priority: int, /) -> None: ...


class Recorder(Protocol):
    """Every state change: written inside the caller's transaction, shown after its commit
    (``transitions.Transitions``)."""

    async def move(self, conn: AsyncConnection, order: OrderRow, target: OrderState,
                   now: float, *, paid_at: float | None = None,
                   delivered_at: float | None = None,
                   last_error: str | None = None) -> Moved: ...

    async def publish(self, moved: Moved) -> None: ...

    def opened(self, order: OrderRow, event: EventRow) -> OrderView:
        """A new order, committed with its first event: its view."""
        ...
