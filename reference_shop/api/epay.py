"""The 易支付 (epay) gateway's notify URL: ``GET /api/payments/epay/notify?…`` (the protocol's
GET, its fields in the query).

Answers the plain text ``success`` only when the payment was applied now or before (the gateway
then stops); anything else — a bad signature, another merchant's pid, a wrong amount, an
unknown order, an error — answers ``fail`` with a non-2xx status, so the gateway retries.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from fakalab.reference_shop.api.deps import get_shop
from fakalab.reference_shop.composition import Shop
from fakalab.reference_shop.epay_channel import CHANNEL, NOTIFY_PATH
from fakalab.reference_shop.payments import ACCEPTING

router = APIRouter()
log = logging.getLogger("fakalab.callbacks")
MAX_FIELD = 2048


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def notify_fields(request: Request) -> dict[str, str]:
    """The query's fields as text (each cut short)."""
    return {k: v[:MAX_FIELD] for k, v in request.query_params.items()}


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: _text("`success`: applied now or before; the gateway stops"),
    400: _text("`fail`: forged, another merchant's, or not matching the order; the gateway "
               "retries"),
    500: _text("`fail`: the shop could not record it; the gateway retries")}


@router.get(NOTIFY_PATH, response_class=PlainTextResponse, responses=_RESPONSES)
async def epay_notify(request: Request,
                      shop: Annotated[Shop, Depends(get_shop)]) -> PlainTextResponse:
    """The gateway's notification, its fields in the query (how 易支付 sends it)."""
    try:
        fields = notify_fields(request)
        outcome = await shop.payments.apply_payment(CHANNEL, fields, "callback")
    except Exception:  # the gateway must retry rather than lose the payment
        log.exception("epay notify failed")
        return PlainTextResponse("fail", status_code=500)
    if outcome in ACCEPTING:
        return PlainTextResponse("success")
    return PlainTextResponse("fail", status_code=400)
