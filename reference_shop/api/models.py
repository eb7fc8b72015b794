"""The HTTP API's request and response models: what the OpenAPI document (``/openapi.json``)
promises, and what ``tests/reference_shop/test_schemathesis.py`` holds the shop to.

Request models take numbers the way JSON Schema defines them (``"2"`` and ``true`` are not
integers, ``2.0`` is; ``false`` is not a number of seconds), and their patterns use explicit
character ranges only, so the server's regex engine and a client's (JSON Schema patterns are
ECMA-262) agree on every string.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict

__all__ = [
    "EMAIL", "NO_NUL", "Error", "Health", "JSONFloat", "JSONInt", "LookupIn", "LookupOut",
    "OrderCreated", "OrderIn", "OrderStatus", "PaidNoted", "PaymentNotice", "Product",
    "RestockIn", "Restocked", "StatusPage", "StuckOrders", "TicketIn", "TicketOut",
    "Transitioned", "errors",
]

# No control characters (C0, DEL, C1), no '@' and no white space of any kind in either part.
_ADDR = r"[^@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
EMAIL = rf"^{_ADDR}{{1,64}}@{_ADDR}{{1,190}}$"
NO_NUL = r"^[^\x00]*$"  # NUL is not text (and PostgreSQL refuses it)


def _json_number(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON number")  # pydantic would take true or "2"
    return value


JSONInt = Annotated[int, BeforeValidator(_json_number)]  # 2 and 2.0; not 2.5, "2" or true
JSONFloat = Annotated[float, Strict()]  # a JSON number; not "1.5" or false


class OrderIn(BaseModel):
    product_id: str = Field(min_length=1, max_length=64)
    quantity: JSONInt = Field(1, ge=1, le=10)
    email: str = Field(pattern=EMAIL, max_length=254)
    query_password: str | None = Field(None, min_length=4, max_length=64)


class LookupIn(BaseModel):
    email: str = Field(pattern=EMAIL, max_length=254)
    query_password: str = Field(min_length=4, max_length=64)


class TicketIn(BaseModel):
    order_no: str | None = Field(None, max_length=32, pattern=NO_NUL)
    reason: str = Field("other", pattern=r"^(stale_status|eta_passed|gave_up|other)$")
    message: str = Field("", max_length=2000, pattern=NO_NUL)
    waited_s: JSONFloat | None = Field(None, ge=0, le=86_400)


class RestockIn(BaseModel):
    product_id: str = Field(min_length=1, max_length=64)
    keys: list[Annotated[str, Field(min_length=1, max_length=500, pattern=NO_NUL)]] = Field(
        default_factory=list, max_length=10_000)
    supplier_stock: JSONInt = Field(0, ge=0, le=10_000_000)


class PaymentNotice(BaseModel):
    """The body a payment channel posts (documentation only: the callback reads the raw JSON
    itself, because the signature covers every field as sent)."""

    model_config = ConfigDict(extra="allow")

    trade_no: str
    payment_id: str
    amount: str = Field(description='Decimal string, e.g. "12.00"; compared exactly.')
    status: str = Field(description='"paid", or anything else for "not paid yet".')
    paid_at: str | None = None
    nonce: str | None = None
    sign: str = Field(description="Hex HMAC-SHA256 of the other fields (signing.py).")


# -- responses -----------------------------------------------------------------------------

class Error(BaseModel):
    """Every error but 422: ``{"error": message, "status": code}``."""

    model_config = ConfigDict(extra="allow")

    error: str
    status: int


_ERRORS = {400: "Malformed request", 401: "Admin token missing or wrong", 404: "Not found",
           409: "Conflict with the current state", 413: "Body over max_body_bytes",
           429: "Too many requests from this address", 503: "No payment channel available"}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the error codes it really answers, all with :class:`Error`
    as JSON (spelt out: ``"model"`` would take the route's media type, e.g. text/csv)."""
    content = {"application/json": {"schema": Error.model_json_schema()}}
    return {code: {"description": _ERRORS.get(code, "Error"), "content": content}
            for code in codes}


class Product(BaseModel):
    id: str
    name: str
    price: str
    priority: int
    kind: str
    stock: int


class OrderCreated(BaseModel):
    order_no: str
    token: str
    amount: str
    pay_url: str
    channel: str
    expires_at: float
    state: str
    delivery_risk: float | None = None
    warning: str | None = None
    eta_at: float | None = None


class TimelineEntry(BaseModel):
    state: str
    at: float
    message: str
    eta_at: float | None


class OrderIncident(BaseModel):
    incident_id: str
    component: str
    state: str
    message: str
    updated_at: float


class OrderStatus(BaseModel):
    """An order as its buyer sees it. The fields with defaults are present in transparent mode
    only (``transparency``); an opaque shop shows the rest."""

    order_no: str
    state: str
    message: str
    eta_at: float | None
    created_at: float
    amount: str
    pay_url: str | None
    product_id: str
    quantity: int
    timeline: list[TimelineEntry]
    keys: list[str]
    transparency: str
    server_time: float
    queue_ahead: int | None = None
    expires_at: float | None = None
    paid_at: float | None = None
    delivered_at: float | None = None
    channel: str | None = None
    incidents: list[OrderIncident] = []
    since_paid_s: float | None = None


class PaidNoted(BaseModel):
    order_no: str
    noted: bool


class LookupOrder(BaseModel):
    order_no: str
    state: str
    created_at: float


class LookupOut(BaseModel):
    orders: list[LookupOrder]


class TicketOut(BaseModel):
    ticket_id: int


class Incident(BaseModel):
    incident_id: str
    component: str
    state: str
    message: str
    opened_at: float
    updated_at: float


class IncidentUpdate(BaseModel):
    id: int
    incident_id: str
    component: str
    state: str
    at: float
    message: str


class ProviderIncident(BaseModel):
    incident_id: str
    component: str
    state: str
    impact: str
    message: str
    reported_by: str
    provider_status: str
    updated_at: str
    received_at: float


class StatusPage(BaseModel):
    components: dict[str, str]
    incidents: list[Incident]
    provider_incidents: list[ProviderIncident] = []
    history: list[IncidentUpdate]
    queue_depth: int


class Health(BaseModel):
    ok: bool
    workers: int
    queue_depth: int


class Restocked(BaseModel):
    product_id: str
    added_keys: int
    added_supplier_stock: int


class StuckOrder(BaseModel):
    order_no: str
    state: str
    paid_at: float | None
    updated_at: float
    last_error: str | None


class StuckOrders(BaseModel):
    orders: list[StuckOrder]


class Transitioned(BaseModel):
    order_no: str
    state: str
