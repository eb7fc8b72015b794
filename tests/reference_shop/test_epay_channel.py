"""The reference shop's epay channel in-process: the gateway answers through httpx's
MockTransport (mapi.php, api.php), the database is a SQLite file in tmp_path, the clock is
moved by hand; the notify route over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from fastapi import FastAPI

from fakalab.contract import epay
from fakalab.reference_shop.api import epay as epay_route
from fakalab.reference_shop.epay_channel import NOTIFY_PATH, EpayChannel
from tests.reference_shop import fakes
from tests.reference_shop.fakes import Parts, build_parts

KEY, PID = "unit-key", "2001"


class GatewayFakes(fakes.FakeUpstreams):
    """The six upstreams, and an epay gateway at host `epay` that keeps what it was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.trades: dict[str, dict[str, str]] = {}  # out_trade_no -> the fields sent
        self.paid: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != "epay":
            return super().__call__(request)
        fields = dict(parse_qsl(request.url.query.decode()))
        if request.url.path == "/mapi.php":
            if not epay.verify(fields, KEY):
                return httpx.Response(200, json={"code": -1, "msg": "签名校验失败"})
            self.trades[fields["out_trade_no"]] = fields
            trade_no = "T" + fields["out_trade_no"]
            return httpx.Response(200, json={"code": 1, "trade_no": trade_no,
                                             "payurl": f"http://epay/pay/{trade_no}"})
        sent = self.trades[fields["out_trade_no"]]
        return httpx.Response(200, json={
            "code": 1, "pid": PID, "trade_no": "T" + fields["out_trade_no"],
            "out_trade_no": fields["out_trade_no"], "money": sent["money"],
            "status": int(fields["out_trade_no"] in self.paid)})

    def notification(self, order_no: str, **change: str) -> dict[str, str]:
        sent = self.trades[order_no]
        fields = {"pid": PID, "trade_no": "T" + order_no, "out_trade_no": order_no,
                  "type": sent["type"], "name": sent["name"], "money": sent["money"],
                  "trade_status": epay.TRADE_SUCCESS, **change}
        return epay.signed(fields, KEY)


@pytest.fixture
async def parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Parts]:
    monkeypatch.setattr(fakes, "FakeUpstreams", GatewayFakes)
    built = await build_parts(tmp_path, payment_channel="epay", epay_url="http://epay",
                              epay_pid=PID, epay_key=KEY, public_url="http://shop.test")
    built.payments.epay = EpayChannel(built.upstreams["epay"], built.settings)
    yield built
    built.spawned.close()
    await built.db.close()


def gateway(parts: Parts) -> GatewayFakes:
    assert isinstance(parts.fake, GatewayFakes)
    return parts.fake


async def test_the_order_is_created_at_the_gateway_with_signed_fields(parts: Parts) -> None:
    order = await parts.order()
    sent = gateway(parts).trades[order.order_no]
    assert order.channel == "epay" and order.payment_id == "T" + order.order_no
    assert order.pay_url == f"http://epay/pay/T{order.order_no}"
    assert epay.verify(sent, KEY) and sent["pid"] == PID and sent["money"] == order.amount
    assert sent["notify_url"] == "http://shop.test" + NOTIFY_PATH


async def test_a_genuine_notify_pays_the_order_once(parts: Parts) -> None:
    order = await parts.order()
    notice = gateway(parts).notification(order.order_no)
    assert await parts.payments.apply_payment("epay", notice, "callback") == "accepted"
    assert await parts.payments.apply_payment("epay", notice, "callback") == "duplicate"
    assert (await parts.load(order.order_no)).state == "paid"
    assert parts.queued == [(order.order_no, order.priority)]


async def test_money_written_without_decimals_is_the_same_amount(parts: Parts) -> None:
    order = await parts.order()
    whole = order.amount.removesuffix(".00")
    notice = gateway(parts).notification(order.order_no, money=whole)
    assert await parts.payments.apply_payment("epay", notice, "callback") == "accepted"


@pytest.mark.parametrize(("change", "outcome"), [
    ({"sign": "0" * 32}, "bad_signature"),
    ({"pid": "9999"}, "wrong_merchant"),  # signed with this merchant's key, for another pid
    ({"money": "0.01"}, "amount_mismatch"),
    ({"money": "ten"}, "bad_amount"),
    ({"trade_no": "T-someone-else"}, "wrong_payment_id"),
    ({"trade_status": "WAIT_BUYER_PAY"}, "not_paid"),
])
async def test_a_notify_that_does_not_match_changes_nothing(parts: Parts, change: dict[str, str],
                                                            outcome: str) -> None:
    order = await parts.order()
    notice = gateway(parts).notification(order.order_no, **{k: v for k, v in change.items()
                                                            if k != "sign"})
    notice.update({k: v for k, v in change.items() if k == "sign"})
    assert await parts.payments.apply_payment("epay", notice, "callback") == outcome
    assert (await parts.load(order.order_no)).state == "pending_payment"
    assert parts.queued == []


async def test_reconciliation_asks_api_php(parts: Parts) -> None:
    order = await parts.order()
    parts.clock.now += parts.settings.reconcile_after_created_s + 1
    assert await parts.payments.reconcile_due(parts.clock.now) == 1
    await parts.spawned.run()  # the gateway says: not paid
    assert (await parts.load(order.order_no)).state == "pending_payment"
    gateway(parts).paid.add(order.order_no)
    parts.clock.now += 10
    assert await parts.payments.reconcile_due(parts.clock.now) == 1
    await parts.spawned.run()
    assert (await parts.load(order.order_no)).state == "paid"


def notify_app(outcome: str | Exception) -> tuple[FastAPI, list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    async def apply_payment(channel: str, fields: dict[str, Any], source: str) -> str:
        received.append({"channel": channel, "source": source, **fields})
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    app = FastAPI()
    app.include_router(epay_route.router)
    app.state.shop = SimpleNamespace(payments=SimpleNamespace(apply_payment=apply_payment))
    return app, received


@pytest.mark.parametrize(("outcome", "status", "body"), [
    ("accepted", 200, "success"), ("duplicate", 200, "success"),
    ("bad_signature", 400, "fail"), (RuntimeError("db gone"), 500, "fail")])
async def test_the_notify_route_says_success_only_when_applied(
        outcome: str | Exception, status: int, body: str) -> None:
    app, received = notify_app(outcome)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                 base_url="http://shop") as client:
        answer = await client.get(NOTIFY_PATH, params={"out_trade_no": "X1", "money": "1.00"})
    assert (answer.status_code, answer.text) == (status, body)
    assert received == [{"channel": "epay", "source": "callback", "out_trade_no": "X1",
                         "money": "1.00"}]
