"""The stored records as frozen values: what storage functions take and return (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple, TypeVar

from fakalab.contract.rundir import money

__all__ = [
    "EventRow",
    "IncidentRow",
    "KeyRow",
    "LookupRow",
    "Moved",
    "OrderRow",
    "ProductRow",
    "StuckRow",
    "WorkItem",
    "row",
]

T = TypeVar("T")


def has_nul(text: str) -> bool:
    """PostgreSQL cannot hold a NUL character in text (SQLite can): no key the shop stored
    contains one, so a lookup by such a key finds nothing — on either database."""
    return "\x00" in text


def storable(text: str) -> str:
    """Text as it can be stored on every backend: a NUL character written as ``\\x00``."""
    return text.replace("\x00", "\\x00")


def row(cls: type[T], mapping: Mapping[Any, Any]) -> T:
    """A row of ``cls`` from a result mapping holding (at least) its fields."""
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    return cls(**{name: mapping[name] for name in names})


_NAMES: dict[type, tuple[str, ...]] = {}


@dataclass(frozen=True)
class ProductRow:
    id: str
    name: str
    price_cents: int
    priority: int
    kind: str  # local | supplier
    sku: str | None = None
    supplier_stock: int = 0


@dataclass(frozen=True)
class OrderRow:
    order_no: str
    product_id: str
    quantity: int
    amount_cents: int
    priority: int
    kind: str
    email: str
    query_password_hash: str | None
    token_hash: str
    persona: str | None
    channel: str | None
    payment_id: str | None
    pay_url: str | None
    state: str
    created_at: float
    expires_at: float
    buyer_paid_at: float | None
    paid_at: float | None
    delivered_at: float | None
    last_query_at: float | None
    updated_at: float
    last_error: str | None

    @property
    def amount(self) -> str:
        """The amount as the decimal string the channels exchange: ``"12.05"``."""
        return money(self.amount_cents)

    def values(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EventRow:
    order_no: str
    seq: int
    at: float
    state: str
    message: str
    eta_at: float | None
    visible: bool
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Moved:
    """One transition, as written: the order after it, its ledger event, the state before."""

    order: OrderRow
    event: EventRow
    previous: str


@dataclass(frozen=True)
class KeyRow:
    id: int
    product_id: str
    secret: str
    status: str  # available | reserved | sold
    order_no: str | None
    source: str  # local | supplier
    sold_at: float | None


@dataclass(frozen=True)
class IncidentRow:
    id: int
    incident_id: str
    component: str
    state: str
    at: float
    message: str


@dataclass(frozen=True)
class StuckRow:
    order_no: str
    state: str
    paid_at: float | None
    updated_at: float
    last_error: str | None


@dataclass(frozen=True)
class LookupRow:
    order_no: str
    state: str
    created_at: float
    query_password_hash: str | None


class WorkItem(NamedTuple):
    """An order to (re)queue for fulfilment."""

    order_no: str
    priority: int
