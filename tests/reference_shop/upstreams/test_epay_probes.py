"""The epay gateway's test notifications (POST /admin/probe): what each kind sends, that it is
sent once to the trade's notify_url, and that the journal lists it with the shop's reply."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from fakalab.contract import epay
from fakalab.reference_shop.upstreams.epay import create_app
from fakalab.reference_shop.upstreams.faults import PaymentFaults
from tests.reference_shop.upstreams.conftest import asgi_client
from tests.reference_shop.upstreams.test_epay import KEY, PID, Shop, order_fields


async def _probe(tmp_path: Path, kind: str, shop: Shop, pay: bool = True
                 ) -> tuple[httpx.Response, list[dict[str, object]]]:
    journal = tmp_path / "epay.jsonl"
    app = create_app(PID, KEY, "http://gateway.test", seed=1,
                     faults=PaymentFaults(retry_scale=0.001),
                     transport=httpx.MockTransport(shop.handle), journal=journal)
    async with asgi_client(app) as client:
        created = (await client.post("/mapi.php", data=order_fields())).json()
        if pay:
            await client.post(f"/pay/{created['trade_no']}")
            async with asyncio.timeout(5):
                while not shop.calls:
                    await asyncio.sleep(0.01)
        answer = await client.post("/admin/probe", json={"kind": kind, "out_trade_no": "T100"})
    return answer, [json.loads(line) for line in journal.read_text().splitlines()]


@pytest.mark.parametrize("kind", ["forged_sign", "wrong_amount", "other_pid", "replay"])
async def test_a_probe_is_sent_once_and_journaled(tmp_path: Path, kind: str) -> None:
    shop = Shop()
    shop.replies = ["success", "fail"]  # the real notify is taken; the probe refused
    answer, journal = await _probe(tmp_path, kind, shop)
    assert answer.status_code == 200, answer.text
    sent = shop.calls[-1]
    assert len(shop.calls) == 2 and answer.json()["acknowledged"] is False
    genuine = shop.calls[0]
    if kind == "forged_sign":
        assert not epay.verify(sent, KEY) and sent["money"] == genuine["money"]
    elif kind == "wrong_amount":
        assert epay.verify(sent, KEY) and sent["money"] == "49.99"
    elif kind == "other_pid":
        assert epay.verify(sent, KEY) and sent["pid"] != PID
    else:
        assert sent == genuine
    probes = [e for e in journal if e["op"] == "probe"]
    assert [(p["kind"], p["out_trade_no"], p["reply"], p["acknowledged"]) for p in probes] == [
        (kind, "T100", "fail", False)]


async def test_nothing_to_replay_before_the_shop_took_a_notification(tmp_path: Path) -> None:
    answer, _ = await _probe(tmp_path, "replay", Shop(), pay=False)
    assert answer.status_code == 409


async def test_an_unknown_kind_or_trade_is_refused(tmp_path: Path) -> None:
    app = create_app(PID, KEY, "http://gateway.test", journal=tmp_path / "epay.jsonl")
    async with asgi_client(app) as client:
        bad_kind = await client.post("/admin/probe", json={"kind": "nope", "trade_no": "x"})
        no_trade = await client.post("/admin/probe", json={"kind": "replay", "trade_no": "x"})
    assert (bad_kind.status_code, no_trade.status_code) == (400, 404)
