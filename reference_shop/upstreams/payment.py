"""A payment provider (one channel): payments, a pay page, signed callbacks, a signed query API."""

from __future__ import annotations

import random
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, Field

from fakalab.reference_shop.signing import sign
from fakalab.reference_shop.upstreams.admin import admin_router
from fakalab.reference_shop.upstreams.callbacks import ATTEMPT_TIMEOUT_S, CallbackSender
from fakalab.reference_shop.upstreams.faults import FaultSwitch, PaymentFaults, hits, sample_delay
from fakalab.reference_shop.upstreams.paybook import Payment, PaymentBook
from fakalab.reference_shop.upstreams.service import Stats, error_response, new_app, sleep_ms

__all__ = ["Payment", "PaymentBook", "create_app", "parse_amount", "signed", "wrong_amount"]

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("100000000")
STATS = (
    "payments",
    "paid",
    "callbacks_sent",
    "callback_attempts",
    "callback_failures",
    "acknowledged",
    "callbacks_exhausted",
    "dropped",
    "duplicated",
    "wrong_amount",
    "queries",
)


def parse_amount(value: Any) -> str:
    """A positive amount with at most two decimals, rendered with exactly two (``"12.00"``)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("must be a decimal string such as 12.00")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("must be a decimal string such as 12.00") from None
    if not amount.is_finite() or amount <= 0 or amount > MAX_AMOUNT:
        raise ValueError("must be a positive amount")
    if amount != amount.quantize(CENT):
        raise ValueError("must have at most two decimal places")
    return str(amount.quantize(CENT))


def wrong_amount(amount: str) -> str:
    """An amount one cent off: what an exact comparison catches and a tolerant one misses."""
    value = Decimal(amount)
    return str(value - CENT if value > CENT else value + CENT)


def signed(fields: dict[str, Any], secret: str) -> dict[str, Any]:
    """``fields`` with a fresh ``nonce`` and the ``sign`` over everything."""
    message = {**fields, "nonce": secrets.token_hex(8)}
    message["sign"] = sign(message, secret)
    return message


class CreatePayment(BaseModel):
    trade_no: str = Field(min_length=1, max_length=128)
    amount: Annotated[str, BeforeValidator(parse_amount)]
    notify_url: str = Field(pattern=r"^https?://\S+$", max_length=2048)


def create_app(
    channel: str = "A",
    secret: str = "fakalab-secret-a",
    public_url: str = "http://127.0.0.1:9101",
    seed: int = 0,
    faults: PaymentFaults | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    callback_timeout_s: float = ATTEMPT_TIMEOUT_S,
    journal: Path | None = None,
) -> FastAPI:
    """The provider of one channel; ``transport`` replaces the network for callbacks in tests;
    ``journal`` keeps its payments across a restart (``paybook.PaymentBook``)."""
    name = f"payment-{channel.lower()}"
    switch = FaultSwitch(faults or PaymentFaults())
    stats = Stats(STATS)
    book = PaymentBook(channel, journal)
    sender = CallbackSender(stats, transport, callback_timeout_s)
    rng = random.Random(seed)
    base_url = public_url.rstrip("/")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await sender.start()
        for payment in book.owed():  # a restart: notifications still owed are sent again
            callback(payment)
        try:
            yield
        finally:
            await sender.close()
            book.close()

    app = new_app(f"fakalab {name}", lifespan)
    app.include_router(
        admin_router(name, switch, stats, lambda: {"callbacks_in_flight": sender.in_flight})
    )
    app.state.book, app.state.stats, app.state.faults = book, stats, switch
    app.state.sender = sender

    def callback(payment: Payment) -> None:
        """Decide this payment's callback faults and schedule its deliveries."""
        faults = switch.current
        if hits(rng, faults.callback_drop_pct):
            stats.inc("dropped")
            book.notified(payment)  # sent, and lost on the way
            return
        copies = 2 if hits(rng, faults.duplicate_pct) else 1
        amount = payment.amount
        if hits(rng, faults.wrong_amount_pct):
            stats.inc("wrong_amount")
            amount = wrong_amount(payment.amount)
        stats.inc("duplicated", copies - 1)
        delay = sample_delay(faults.callback_delay, rng)

        def body() -> dict[str, Any]:
            return signed(payment.fields(amount), secret)

        for _ in range(copies):
            sender.schedule(payment.notify_url, body, delay, faults.retry_scale,
                            on_done=lambda: book.notified(payment))

    @app.post("/api/payments", response_model=None)
    async def create_payment(request: CreatePayment) -> JSONResponse:
        stats.inc("requests")
        faults = switch.current
        await sleep_ms(faults.latency_ms)
        if hits(rng, faults.error_pct):
            stats.inc("injected_errors")
            return error_response(503, "payment provider error")
        payment, created = book.create(request.trade_no, request.amount, request.notify_url)
        stats.inc("payments", int(created))
        body = {
            "payment_id": payment.payment_id,
            "trade_no": payment.trade_no,
            "amount": payment.amount,
            "pay_url": f"{base_url}/pay/{payment.payment_id}",
            "channel": channel,
        }
        return JSONResponse(body, status_code=201 if created else 200)

    @app.get("/pay/{payment_id}", response_model=None)
    async def pay_page(payment_id: str) -> dict[str, Any] | JSONResponse:
        stats.inc("requests")
        payment = book.by_id.get(payment_id)
        return error_response(404, "unknown payment") if payment is None else payment.page()

    @app.post("/pay/{payment_id}", response_model=None)
    async def pay(payment_id: str) -> dict[str, Any] | JSONResponse:
        stats.inc("requests")
        payment = book.by_id.get(payment_id)
        if payment is None:
            return error_response(404, "unknown payment")
        if not book.pay(payment):
            return {"payment_id": payment_id, "status": "paid", "already": True}
        stats.inc("paid")
        callback(payment)
        return {"payment_id": payment_id, "status": "paid", "already": False}

    @app.get("/api/payments/{trade_no}", response_model=None)
    async def query(trade_no: str) -> dict[str, Any] | JSONResponse:
        stats.inc("requests")
        stats.inc("queries")
        await sleep_ms(switch.current.query_latency_ms)
        payment = book.by_trade_no.get(trade_no)
        if payment is None:
            return error_response(404, "unknown trade_no")
        return signed(payment.fields(), secret)

    return app
