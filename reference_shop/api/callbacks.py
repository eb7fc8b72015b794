"""The payment provider's asynchronous callback (notify URL), one per channel.

Answers the plain body ``success`` only when the payment was applied or had been applied
before; any problem (bad signature, unknown order, wrong amount, malformed body, a database
error) answers ``fail`` with a non-2xx status, so the provider retries.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from reference_shop.api.deps import get_shop
from reference_shop.payments import ACCEPTING, apply_payment
from reference_shop.shop import Shop

router = APIRouter(prefix="/api/payments")
log = logging.getLogger("fakalab.callbacks")


@router.post("/callback/{channel}", response_class=PlainTextResponse)
async def payment_callback(channel: str, request: Request,
                           shop: Annotated[Shop, Depends(get_shop)]) -> PlainTextResponse:
    try:
        fields = json.loads(await request.body())
        if not isinstance(fields, dict):
            raise ValueError("not a JSON object")
    except ValueError:
        return PlainTextResponse("fail: malformed body", status_code=400)
    try:
        outcome = await apply_payment(shop, channel, fields, "callback")
    except Exception:  # the provider must retry rather than lose the payment
        log.exception("callback for %s failed", fields.get("trade_no"))
        return PlainTextResponse("fail: internal error", status_code=500)
    if outcome in ACCEPTING:
        return PlainTextResponse("success")
    return PlainTextResponse(f"fail: {outcome}", status_code=400)
