"""The edges the shop's services depend on, as Protocols: the database, the upstreams' HTTP
clients, the clock, side tasks, the fulfilment queue and the recorder of transitions.

``composition.py`` passes the real ones; a test passes its own (an ``Upstream`` over an
``HttpxTransport`` on httpx's ``MockTransport``, a SQLite file in a temporary directory, a
clock it moves by hand).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any, Protocol, TypeVar

from fakalab.reference_shop.breaker import Breaker
from fakalab.reference_shop.http_transport import Reply
from fakalab.reference_shop.states import OrderState
from fakalab.reference_shop.statuspage import ComponentHealth
from fakalab.reference_shop.storage.rows import EventRow, Moved, OrderRow
from fakalab.reference_shop.storage.writer import Cursor
from fakalab.reference_shop.views import OrderView

__all__ = ["Clock", "Enqueue", "Recorder", "Spawn", "Storage", "UpstreamClient"]

Clock = Callable[[], float]  # epoch seconds, e.g. time.time
T = TypeVar("T")


class Storage(Protocol):
    """Units of work on the shop's database (``db.Database``, ``storage/writer.py``)."""

    async def run(self, unit: Callable[[Cursor], T]) -> T: ...

    def rows(self, select_sql: str, batch: int = ...) -> AsyncIterator[list[tuple[Any, ...]]]:
        """A whole-table query, read on a connection of its own (exports)."""
        ...


class UpstreamClient(Protocol):
    """An upstream service over HTTP, with its breaker and health (``upstream.Upstream``)."""

    name: str
    breaker: Breaker
    health: ComponentHealth

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                   retry_statuses: Sequence[int] = ...) -> Reply: ...


class Spawn(Protocol):
    """Start a side task (a notification, a reconciliation query) the caller does not await."""

    def __call__(self, coro: Coroutine[Any, Any, Any], /) -> None: ...


class Enqueue(Protocol):
    """Queue an order for fulfilment."""

    def __call__(self, order_no: str, priority: int, /) -> None: ...


class Recorder(Protocol):
    """Every state change: written inside the caller's unit of work, shown after its commit
    (``transitions.Transitions``)."""

    def eta(self, order_no: str, target: OrderState, now: float, priority: int
            ) -> float | None: ...

    def eta_of(self, order_no: str, target: OrderState, now: float) -> float | None: ...

    def move(self, c: Cursor, order: OrderRow, target: OrderState, now: float, *,
             eta_at: float | None = None, paid_at: float | None = None,
             delivered_at: float | None = None, last_error: str | None = None) -> Moved: ...

    async def publish(self, moved: Moved) -> None: ...

    def opened(self, order: OrderRow, event: EventRow) -> OrderView:
        """A new order, committed with its first event: its view."""
        ...
