"""The 易支付 gateway: signatures, submit.php / mapi.php / api.php, the cashier, notifications
repeated until `success`, business faults and the journal. In process (ASGI), with the shop's
notify endpoint answered by an httpx MockTransport."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from fakalab.contract import epay
from fakalab.reference_shop.upstreams.epay import create_app
from fakalab.reference_shop.upstreams.faults import CallbackDelay, PaymentFaults
from tests.reference_shop.upstreams.conftest import asgi_client

PID, KEY = "1001", "merchant-key"
NOTIFY = "http://shop.test/epay/notify"


def _reference_sign(params: dict[str, str], key: str) -> str:
    """The documented algorithm written out again, to check contract.epay against."""
    text = "&".join(f"{k}={params[k]}" for k in sorted(params)
                    if params[k] != "" and k not in ("sign", "sign_type"))
    return hashlib.md5((text + key).encode()).hexdigest()


def order_fields(**changes: str) -> dict[str, str]:
    fields = {"pid": PID, "type": "alipay", "out_trade_no": "T100", "notify_url": NOTIFY,
              "return_url": "http://shop.test/return", "name": "Steam ¥50", "money": "50.00",
              "sitename": ""}
    fields.update(changes)
    return epay.signed(fields, KEY)


class Shop:
    """The shop's notify endpoint: records every notification, answers from `replies`."""

    def __init__(self) -> None:
        self.calls: list[dict[str, str]] = []
        self.replies: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(dict(parse_qsl(urlsplit(str(request.url)).query)))
        return httpx.Response(200, text=self.replies.pop(0) if self.replies else "success")


@pytest.fixture
def shop() -> Shop:
    return Shop()


Gateway = Callable[..., AsyncIterator[httpx.AsyncClient]]


@pytest.fixture
def gateway(shop: Shop, tmp_path: Path) -> Callable[..., object]:
    def make(faults: PaymentFaults | None = None, journal: Path | None = None) -> object:
        app = create_app(PID, KEY, "http://gateway.test", seed=1,
                         faults=faults or PaymentFaults(retry_scale=0.001),
                         transport=httpx.MockTransport(shop.handle),
                         journal=journal if journal is not None else tmp_path / "epay.jsonl")
        return asgi_client(app)

    return make


async def _wait_for(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.01)


def test_sign_is_the_documented_md5() -> None:
    params = {"pid": "1001", "type": "wxpay", "out_trade_no": "A1", "money": "1.00",
              "name": "测试商品", "param": "", "sign_type": "MD5"}
    assert epay.sign(params, KEY) == _reference_sign(params, KEY)
    assert epay.signing_string(params) == (
        "money=1.00&name=测试商品&out_trade_no=A1&pid=1001&type=wxpay")
    signed = epay.signed(params, KEY)
    assert epay.verify(signed, KEY)
    assert epay.verify({**signed, "sign": signed["sign"].upper()}, KEY)
    assert not epay.verify({**signed, "money": "1.01"}, KEY)
    assert not epay.verify({**signed, "sign": ""}, KEY) and not epay.verify(signed, "other")


@pytest.mark.parametrize(("text", "amount"), [("10", "10"), ("10.0", "10.00"), ("10.5", "10.50"),
                                              ("0", None), ("-1", None), ("1.005", None),
                                              ("abc", None), ("", None), ("nan", None)])
def test_money_is_read_as_gateways_read_it(text: str, amount: str | None) -> None:
    parsed = epay.money(text)
    assert (None if parsed is None else f"{parsed:.2f}") == (
        None if amount is None else f"{float(amount):.2f}")


async def test_submit_answers_the_redirect_page_get_and_post(gateway: Callable[..., object]
                                                             ) -> None:
    async with gateway() as client:  # type: ignore[attr-defined]
        by_get = await client.get("/submit.php", params=order_fields())
        by_post = await client.post("/submit.php", data=order_fields())
    assert by_get.status_code == by_post.status_code == 200
    found = re.findall(r"window\.location\.href='([^']+)'", by_get.text)
    assert found and found[0].startswith("http://gateway.test/pay/")
    assert re.findall(r"window\.location\.href='([^']+)'", by_post.text) == found  # same trade


@pytest.mark.parametrize(("changes", "reason"), [
    ({"pid": "9999"}, "商户不存在"), ({"money": "50.01"}, "签名校验失败"),
])
async def test_a_forged_or_foreign_order_is_refused_and_recorded(
        gateway: Callable[..., object], tmp_path: Path, changes: dict[str, str],
        reason: str) -> None:
    fields = {**order_fields(), **changes}  # changed after signing
    async with gateway() as client:  # type: ignore[attr-defined]
        page = await client.post("/submit.php", data=fields)
        api = (await client.post("/mapi.php", data=fields)).json()
    assert page.status_code == 400 and reason in page.text
    assert api["code"] == -1 and reason in api["msg"]
    entries = [json.loads(line) for line in (tmp_path / "epay.jsonl").read_text().splitlines()]
    refused = [e for e in entries if e["op"] == "request"]
    assert len(refused) == 2 and all(reason in e["outcome"] for e in refused)
    assert refused[0]["fields"]["money"] == fields["money"]  # what the shop sent, verbatim


async def test_pay_then_notify_until_success_and_journal_every_attempt(
        gateway: Callable[..., object], shop: Shop, tmp_path: Path) -> None:
    shop.replies = ["fail", "<html>error</html>", "success"]
    async with gateway() as client:  # type: ignore[attr-defined]
        created = (await client.post("/mapi.php", data=order_fields(money="50"))).json()
        assert created["code"] == 1 and created["payurl"].endswith(created["trade_no"])
        paid = (await client.post(f"/pay/{created['trade_no']}")).json()
        assert paid["status"] == "paid" and paid["return_url"].startswith(
            "http://shop.test/return?")
        await _wait_for(lambda: len(shop.calls) == 3)
        again = (await client.post(f"/pay/{created['trade_no']}")).json()
        assert again["already"] is True
        query = (await client.get("/api.php", params={
            "act": "order", "pid": PID, "key": KEY, "out_trade_no": "T100"})).json()
    notice = shop.calls[-1]
    assert epay.verify(notice, KEY)
    assert (notice["trade_status"], notice["money"], notice["out_trade_no"], notice["pid"]) == (
        "TRADE_SUCCESS", "50.00", "T100", PID)
    assert query["code"] == 1 and query["status"] == 1 and query["money"] == "50.00"
    entries = [json.loads(line) for line in (tmp_path / "epay.jsonl").read_text().splitlines()]
    attempts = [e for e in entries if e["op"] == "notify"]
    assert [(a["reply"], a["acknowledged"]) for a in attempts] == [
        ("fail", False), ("<html>error</html>", False), ("success", True)]
    assert [e["op"] for e in entries].count("notified") == 1


async def test_the_query_refuses_a_wrong_key(gateway: Callable[..., object]) -> None:
    async with gateway() as client:  # type: ignore[attr-defined]
        await client.post("/mapi.php", data=order_fields())
        wrong = (await client.get("/api.php", params={
            "act": "order", "pid": PID, "key": "guess", "out_trade_no": "T100"})).json()
        unknown = (await client.get("/api.php", params={
            "act": "order", "pid": PID, "key": KEY, "out_trade_no": "nope"})).json()
        pending = (await client.get("/api.php", params={
            "act": "order", "pid": PID, "key": KEY, "out_trade_no": "T100"})).json()
    assert wrong["code"] == -3 and unknown["code"] == -1
    assert pending["status"] == 0 and pending["endtime"] == ""


@pytest.mark.parametrize(("faults", "expected"), [
    (PaymentFaults(callback_drop_pct=100, retry_scale=0.001), 0),
    (PaymentFaults(duplicate_pct=100, retry_scale=0.001), 2),
])
async def test_business_faults_of_the_notification(gateway: Callable[..., object], shop: Shop,
                                                   faults: PaymentFaults, expected: int) -> None:
    async with gateway(faults) as client:  # type: ignore[attr-defined]
        created = (await client.post("/mapi.php", data=order_fields())).json()
        await client.post(f"/pay/{created['trade_no']}")
        await asyncio.sleep(0.3)
    assert len(shop.calls) == expected


async def test_a_wrong_amount_notification_is_still_correctly_signed(
        gateway: Callable[..., object], shop: Shop) -> None:
    faults = PaymentFaults(wrong_amount_pct=100, retry_scale=0.001)
    async with gateway(faults) as client:  # type: ignore[attr-defined]
        created = (await client.post("/mapi.php", data=order_fields())).json()
        await client.post(f"/pay/{created['trade_no']}")
        await _wait_for(lambda: len(shop.calls) == 1)
    assert shop.calls[0]["money"] == "49.99" and epay.verify(shop.calls[0], KEY)


async def test_a_restarted_gateway_sends_what_it_still_owed(gateway: Callable[..., object],
                                                            shop: Shop, tmp_path: Path) -> None:
    slow = PaymentFaults(callback_delay=CallbackDelay(mean_s=60), retry_scale=0.001)
    async with gateway(slow) as client:  # type: ignore[attr-defined]
        created = (await client.post("/mapi.php", data=order_fields())).json()
        await client.post(f"/pay/{created['trade_no']}")
    assert shop.calls == []  # stopped before the notification was due
    async with gateway() as _client:  # same journal
        await _wait_for(lambda: len(shop.calls) == 1)
    assert shop.calls[0]["trade_no"] == created["trade_no"]


async def test_a_multipart_post_is_read_like_a_form(gateway: Callable[..., object]) -> None:
    """PHP's curl with an array body sends multipart/form-data: shops do that too."""
    async with gateway() as client:  # type: ignore[attr-defined]
        answer = await client.post("/mapi.php", data=order_fields(),
                                   files={"upload": ("x.txt", b"ignored")})
    assert answer.json()["code"] == 1
