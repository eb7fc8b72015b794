"""The payment provider's asynchronous callback (notify URL), one per channel.

Answers the plain body ``success`` only when the payment was applied or had been applied
before; any problem (bad signature, unknown order, wrong amount, malformed body, a database
error) answers ``fail`` with a non-2xx status, so the provider retries.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from fakalab.reference_shop.api.deps import get_shop
from fakalab.reference_shop.api.models import PaymentNotice, errors
from fakalab.reference_shop.composition import Shop
from fakalab.reference_shop.payments import ACCEPTING

router = APIRouter(prefix="/api/payments")
log = logging.getLogger("fakalab.callbacks")


SCALARS = (str, int, float, bool, type(None))


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def parse_notice(raw: bytes) -> dict[str, Any] | None:
    """The notice's fields, or None when the body is not a flat JSON object of text-safe values
    (too deeply nested to parse, a nested value, a lone surrogate such as ``"\\ud800"``, which
    no signature can be computed over)."""
    try:
        fields = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(fields, dict) or not all(isinstance(v, SCALARS) for v in fields.values()):
        return None
    try:
        json.dumps(fields, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return None
    return fields


@router.post("/callback/{channel}", response_class=PlainTextResponse, responses={
    200: _text("`success`: applied now or before; the channel stops retrying"),
    400: _text("`fail: <reason>`: malformed, forged or not matching the order"),
    **errors(413),
    500: _text("`fail: internal error`: the shop could not record it; the channel retries")},
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": PaymentNotice.model_json_schema()}}}})
async def payment_callback(channel: str, request: Request,
                           shop: Annotated[Shop, Depends(get_shop)]) -> PlainTextResponse:
    fields = parse_notice(await request.body())
    if fields is None:
        return PlainTextResponse("fail: malformed body", status_code=400)
    try:
        outcome = await shop.payments.apply_payment(channel, fields, "callback")
    except Exception:  # the provider must retry rather than lose the payment
        log.exception("callback for %s failed", fields.get("trade_no"))
        return PlainTextResponse("fail: internal error", status_code=500)
    if outcome in ACCEPTING:
        return PlainTextResponse("success")
    return PlainTextResponse(f"fail: {outcome}", status_code=400)
