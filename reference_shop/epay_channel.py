"""The reference shop's 易支付 (epay) channel: the payment path most 发卡 shops use.

`Payments` calls it through three small hooks: creating the trade (`create`: `mapi.php`,
server-side, signed), reading a notification (`check`: MD5 signature, the shop's `pid`,
`TRADE_SUCCESS`, a well-formed `money`) and asking the gateway (`query`: `api.php`). Each turns
the gateway's fields into the shop's own notice — `trade_no` (the shop's order number),
`payment_id` (the gateway's trade number), `amount` (two decimals), `status` — which
`Payments.apply_payment` then applies exactly as a channel's callback: under the order's row
unit of work, idempotent, the exact amount compared. The notify route is `api/epay.py`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fakalab.contract import epay
from fakalab.contract.shop_settings import ShopSettings
from fakalab.reference_shop.interfaces import UpstreamClient
from fakalab.reference_shop.upstream import UpstreamError

__all__ = ["CHANNEL", "NOTIFY_PATH", "EpayChannel"]

CHANNEL = "epay"
NOTIFY_PATH = "/api/payments/epay/notify"
Checked = tuple[str, dict[str, Any]]  # outcome ("accepted" to go on), the shop's notice


class EpayChannel:
    """One merchant account (`epay_pid`, `epay_key`) at one gateway (`upstream`)."""

    name = CHANNEL

    def __init__(self, upstream: UpstreamClient, settings: ShopSettings) -> None:
        self.upstream = upstream
        self.pid, self.key, self.type = settings.epay_pid, settings.epay_key, settings.epay_type
        self.notify_url = settings.callback_base() + NOTIFY_PATH
        self.return_url = settings.callback_base() + "/"

    def order_fields(self, order_no: str, amount: str) -> dict[str, str]:
        """What the shop sends to mapi.php, signed."""
        return epay.signed({"pid": self.pid, "type": self.type, "out_trade_no": order_no,
                            "notify_url": self.notify_url, "return_url": self.return_url,
                            "name": f"order {order_no}", "money": amount}, self.key)

    async def create(self, order_no: str, amount: str) -> tuple[str, str, str]:
        """The trade at the gateway: (channel, the gateway's trade_no, the cashier URL).
        Creating it again returns the same trade (the gateway keys it by out_trade_no), so the
        client's retries are safe."""
        query = urlencode(self.order_fields(order_no, amount))
        response = await self.upstream.call("GET", f"/mapi.php?{query}")
        try:
            data = response.json()
            if data.get("code") != 1:
                raise UpstreamError(CHANNEL, f"refused: {data.get('msg')}", response,
                                    transient=False)
            return CHANNEL, str(data["trade_no"]), str(data["payurl"])
        except (ValueError, KeyError, AttributeError) as exc:
            raise UpstreamError(CHANNEL, f"bad answer: {exc}", response) from None

    def check(self, fields: dict[str, Any], source: str) -> Checked:
        """A notification (`source` "callback") or a query answer ("query") as the shop's
        notice, or why it is refused."""
        if source == "query":
            return self._answer(fields)
        if not epay.verify(fields, self.key):
            return "bad_signature", {}
        if str(fields.get("pid", "")) != self.pid:
            return "wrong_merchant", {}
        if fields.get("trade_status") != epay.TRADE_SUCCESS:
            return "not_paid", {}
        return self._notice(fields)

    def _answer(self, data: dict[str, Any]) -> Checked:
        if data.get("code") != 1 or str(data.get("pid", self.pid)) != self.pid:
            return "not_paid", {}
        if str(data.get("status")) != "1":
            return "not_paid", {}
        return self._notice(data)

    @staticmethod
    def _notice(fields: dict[str, Any]) -> Checked:
        money = epay.money(fields.get("money"))
        if money is None:
            return "bad_amount", {}
        return "accepted", {"trade_no": str(fields.get("out_trade_no", "")),
                            "payment_id": str(fields.get("trade_no", "")),
                            "amount": f"{money:.2f}", "status": "paid"}

    async def query(self, order_no: str) -> dict[str, Any] | None:
        """The gateway's answer about an order (api.php), or None when it gave none."""
        query = urlencode({"act": "order", "pid": self.pid, "key": self.key,
                           "out_trade_no": order_no})
        try:
            response = await self.upstream.call("GET", f"/api.php?{query}")
            data = response.json()
        except (UpstreamError, ValueError):
            return None
        return data if isinstance(data, dict) and response.status_code == 200 else None
