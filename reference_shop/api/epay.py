"""The 易支付 (epay) gateway's notify URL: ``GET /api/payments/epay/notify?…`` (POST with a
form is accepted too, as some gateways send it).

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


async def notify_fields(request: Request) -> dict[str, str]:
    """The query's fields, and a urlencoded form's on a POST, as text (each cut short)."""
    fields = {k: v[:MAX_FIELD] for k, v in request.query_params.items()}
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"):
        form = await request.form()
        fields.update({k: v[:MAX_FIELD] for k, v in form.items() if isinstance(v, str)})
    return fields


@router.api_route(NOTIFY_PATH, methods=["GET", "POST"], response_class=PlainTextResponse,
                  responses={
                      200: _text("`success`: applied now or before; the gateway stops"),
                      400: _text("`fail`: forged, another merchant's, or not matching the "
                                 "order; the gateway retries"),
                      500: _text("`fail`: the shop could not record it; the gateway retries")})
async def epay_notify(request: Request,
                      shop: Annotated[Shop, Depends(get_shop)]) -> PlainTextResponse:
    try:
        fields = await notify_fields(request)
        outcome = await shop.payments.apply_payment(CHANNEL, fields, "callback")
    except Exception:  # the gateway must retry rather than lose the payment
        log.exception("epay notify failed")
        return PlainTextResponse("fail", status_code=500)
    if outcome in ACCEPTING:
        return PlainTextResponse("success")
    return PlainTextResponse("fail", status_code=400)
