"""A payment channel's journal: payments and owed notifications survive a kill."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx

from fakalab.reference_shop.upstreams import payment
from fakalab.reference_shop.upstreams.faults import PaymentFaults
from fakalab.reference_shop.upstreams.paybook import PaymentBook
from fakalab.reference_shop.upstreams.process import UpstreamsProcess

from .conftest import asgi_client
from .test_payment import NOTIFY, SECRET, Shop


def test_the_journal_replays_payments_and_skips_a_torn_line(tmp_path: Path) -> None:
    journal = tmp_path / "payment-a.jsonl"
    book = PaymentBook("A", journal)
    paid, _ = book.create("T1", "12.00", NOTIFY)
    pending, _ = book.create("T2", "3.00", NOTIFY)
    settled, _ = book.create("T3", "1.00", NOTIFY)
    book.pay(paid)
    book.pay(settled)
    book.notified(settled)
    book.close()
    with journal.open("a") as handle:
        handle.write('{"op": "pay", "payment_id": "' + pending.payment_id[:5])  # torn by a kill
    again = PaymentBook("A", journal)
    assert again.by_trade_no["T1"].status == "paid"
    assert again.by_trade_no["T1"].paid_at == paid.paid_at
    assert again.by_trade_no["T2"].status == "pending"
    assert again.by_id[settled.payment_id].notified
    assert [p.trade_no for p in again.owed()] == ["T1"]
    assert again.create("T1", "12.00", NOTIFY) == (again.by_trade_no["T1"], False)


async def test_a_restarted_channel_sends_the_notifications_it_still_owed(tmp_path: Path) -> None:
    journal = tmp_path / "payment-a.jsonl"
    slow = PaymentFaults.model_validate({"callback_delay": {"mean_s": 3600}})
    first = payment.create_app("A", SECRET, faults=slow, journal=journal,
                               transport=httpx.MockTransport(Shop().handle))
    async with asgi_client(first) as client:
        created = (await client.post("/api/payments", json={
            "trade_no": "T1", "amount": "12.00", "notify_url": NOTIFY})).json()
        assert (await client.post(f"/pay/{created['payment_id']}")).status_code == 200
    # the process is gone with its callback still waiting; a new one reads the journal
    shop = Shop()
    fast = PaymentFaults.model_validate({"callback_delay": {"mean_s": 0}})
    second = payment.create_app("A", SECRET, faults=fast, journal=journal,
                                transport=httpx.MockTransport(shop.handle))
    async with asgi_client(second) as client:
        (call,) = await shop.wait(1)
        assert (call["trade_no"], call["status"], call["amount"]) == ("T1", "paid", "12.00")
        answer = (await client.get("/api/payments/T1")).json()
        assert answer["status"] == "paid" and answer["payment_id"] == created["payment_id"]
        for _ in range(100):  # the acknowledgement is journaled once the delivery task ends
            if second.state.book.by_trade_no["T1"].notified:
                break
            await asyncio.sleep(0.01)
    third = payment.create_app("A", SECRET, faults=fast, journal=journal,
                               transport=httpx.MockTransport(Shop().handle))
    assert third.state.book.owed() == []  # acknowledged: not sent a third time


def _free_base() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1]) - 1  # payment-a listens on base + 1


def test_a_sigkilled_channel_keeps_its_payments(tmp_path: Path) -> None:
    base = _free_base()
    with UpstreamsProcess(base, only=["payment-a"], state_dir=tmp_path) as first:
        url = first.urls["payment-a"]
        created = httpx.post(url + "/api/payments", json={
            "trade_no": "T9", "amount": "5.00", "notify_url": "http://127.0.0.1:9/none"}).json()
        assert httpx.post(created["pay_url"]).json()["status"] == "paid"
        assert first.proc is not None
        first.proc.kill()
        first.proc.wait()
    with UpstreamsProcess(base, only=["payment-a"], state_dir=tmp_path) as second:
        deadline = time.monotonic() + 10
        answer = httpx.get(second.urls["payment-a"] + "/api/payments/T9").json()
        assert answer["status"] == "paid" and answer["payment_id"] == created["payment_id"]
        while httpx.get(second.urls["payment-a"] + "/admin/stats").json()["callbacks_sent"] < 1:
            assert time.monotonic() < deadline, "the owed notification was not sent again"
            time.sleep(0.05)
