import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from fakalab.reference_shop.signing import verify
from fakalab.reference_shop.upstreams import payment
from fakalab.reference_shop.upstreams.faults import PaymentFaults
from fakalab.reference_shop.upstreams.payment import parse_amount, wrong_amount

from .conftest import asgi_client

SECRET = "test-secret"
NOTIFY = "http://shop.test/api/payments/notify"
FAST = PaymentFaults.model_validate({"callback_delay": {"mean_s": 0}, "retry_scale": 0.001})


@dataclass
class Shop:
    """The shop side of callbacks, behind an httpx.MockTransport: replies in order, then success."""

    replies: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(httpx.Response(200, content=request.content).json())
        self.arrived.set()
        return httpx.Response(200, text=self.replies.pop(0) if self.replies else "success")

    async def wait(self, count: int, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout_s):
            while len(self.calls) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.calls


Client = tuple[httpx.AsyncClient, Any, Shop]


@pytest.fixture
async def provider() -> AsyncIterator[Client]:
    shop = Shop()
    app = payment.create_app(
        "A",
        SECRET,
        "http://127.0.0.1:9101",
        faults=FAST,
        transport=httpx.MockTransport(shop.handle),
    )
    async with asgi_client(app) as client:
        yield client, app, shop


async def create(client: httpx.AsyncClient, trade_no: str = "T1", amount: str = "12.00") -> Any:
    body = {"trade_no": trade_no, "amount": amount, "notify_url": NOTIFY}
    return await client.post("/api/payments", json=body)


async def until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():
            await asyncio.sleep(0.005)


def test_parse_amount() -> None:
    assert parse_amount("12") == "12.00"
    assert parse_amount(12.5) == "12.50"
    for bad in ("abc", "-1", "0", "1.001", "NaN", True, None):
        with pytest.raises(ValueError):
            parse_amount(bad)


def test_wrong_amount_is_a_cent_off() -> None:
    assert wrong_amount("12.00") == "11.99"
    assert wrong_amount("0.01") == "0.02"


async def test_create_and_create_again(provider: Client) -> None:
    client, _, _ = provider
    first = await create(client)
    assert first.status_code == 201
    body = first.json()
    assert body["pay_url"] == f"http://127.0.0.1:9101/pay/{body['payment_id']}"
    assert (body["trade_no"], body["amount"], body["channel"]) == ("T1", "12.00", "A")
    again = await create(client)
    assert again.status_code == 200
    assert again.json() == body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "1.00", "notify_url": NOTIFY}, "trade_no"),
        ({"trade_no": "T", "amount": "1.005", "notify_url": NOTIFY}, "amount"),
        ({"trade_no": "T", "amount": "-3", "notify_url": NOTIFY}, "amount"),
        ({"trade_no": "T", "amount": "1.00", "notify_url": "ftp://x"}, "notify_url"),
    ],
)
async def test_create_rejects_bad_input(provider: Client, body: dict[str, str], field: str) -> None:
    client, _, _ = provider
    response = await client.post("/api/payments", json=body)
    assert response.status_code == 400
    assert response.json()["field"] == field


async def test_pay_sends_a_signed_callback(provider: Client) -> None:
    client, app, shop = provider
    payment_id = (await create(client)).json()["payment_id"]
    assert (await client.get(f"/pay/{payment_id}")).json()["status"] == "pending"
    paid = await client.post(f"/pay/{payment_id}")
    assert paid.json() == {"payment_id": payment_id, "status": "paid", "already": False}
    (call,) = await shop.wait(1)
    assert verify(call, SECRET)
    assert set(call) == {"payment_id", "trade_no", "amount", "status", "paid_at", "nonce", "sign"}
    assert (call["trade_no"], call["amount"], call["status"]) == ("T1", "12.00", "paid")
    await until(lambda: app.state.stats["acknowledged"] == 1)
    again = await client.post(f"/pay/{payment_id}")
    assert again.json()["already"] is True
    assert app.state.stats["paid"] == 1


async def test_unknown_payment_is_404(provider: Client) -> None:
    client, _, _ = provider
    assert (await client.get("/pay/nope")).status_code == 404
    assert (await client.post("/pay/nope")).status_code == 404
    assert (await client.get("/api/payments/nope")).status_code == 404


async def test_query_api_is_signed(provider: Client) -> None:
    client, _, _ = provider
    payment_id = (await create(client, "T9", "3.50")).json()["payment_id"]
    pending = (await client.get("/api/payments/T9")).json()
    assert verify(pending, SECRET)
    assert (pending["status"], pending["paid_at"]) == ("pending", None)
    await client.post(f"/pay/{payment_id}")
    paid = (await client.get("/api/payments/T9")).json()
    assert verify(paid, SECRET) and not verify(paid, "other-secret")
    assert (paid["status"], paid["amount"]) == ("paid", "3.50")
    assert paid["paid_at"]


async def test_retries_until_success(provider: Client) -> None:
    client, app, shop = provider
    shop.replies = ["fail", "error", "fail"]
    await client.post(f"/pay/{(await create(client)).json()['payment_id']}")
    calls = await shop.wait(4)
    assert all(verify(call, SECRET) for call in calls)
    assert len({call["nonce"] for call in calls}) == 4
    await until(lambda: app.state.stats["acknowledged"] == 1)
    stats = app.state.stats.snapshot()
    assert (stats["callback_attempts"], stats["callback_failures"], stats["callbacks_sent"]) == (
        4,
        3,
        1,
    )


async def test_gives_up_after_six_attempts(provider: Client) -> None:
    client, app, shop = provider
    shop.replies = ["fail"] * 10
    await client.post(f"/pay/{(await create(client)).json()['payment_id']}")
    await until(lambda: app.state.stats["callbacks_exhausted"] == 1)
    assert len(shop.calls) == 6
    assert app.state.stats["acknowledged"] == 0


async def test_drop_duplicate_and_wrong_amount(provider: Client) -> None:
    client, app, shop = provider
    await client.patch("/admin/faults", json={"callback_drop_pct": 100})
    await client.post(f"/pay/{(await create(client, 'DROP')).json()['payment_id']}")
    await client.patch("/admin/faults", json={"callback_drop_pct": 0, "duplicate_pct": 100})
    await client.post(f"/pay/{(await create(client, 'DUP')).json()['payment_id']}")
    await client.patch("/admin/faults", json={"duplicate_pct": 0, "wrong_amount_pct": 100})
    await client.post(f"/pay/{(await create(client, 'WRONG')).json()['payment_id']}")
    calls = await shop.wait(3)
    await asyncio.sleep(0.05)
    assert sorted(call["trade_no"] for call in calls) == ["DUP", "DUP", "WRONG"]
    wrong = next(call for call in calls if call["trade_no"] == "WRONG")
    assert verify(wrong, SECRET) and wrong["amount"] == "11.99"
    assert (await client.get("/api/payments/WRONG")).json()["amount"] == "12.00"
    assert (await client.get("/api/payments/DROP")).json()["status"] == "paid"
    stats = app.state.stats.snapshot()
    assert (stats["dropped"], stats["duplicated"], stats["wrong_amount"]) == (1, 1, 1)


async def test_injected_error_and_latency(provider: Client) -> None:
    client, app, _ = provider
    await client.patch("/admin/faults", json={"error_pct": 100, "latency_ms": 30})
    started = asyncio.get_running_loop().time()
    response = await create(client)
    assert response.status_code == 503
    assert asyncio.get_running_loop().time() - started >= 0.03
    assert app.state.stats["injected_errors"] == 1


async def test_admin_faults_routes(provider: Client) -> None:
    client, _, _ = provider
    health = (await client.get("/healthz")).json()
    assert (health["ok"], health["service"], len(health["instance"])) == (True, "payment-a", 16)
    patched = await client.patch("/admin/faults", json={"callback_delay": {"dist": "exponential"}})
    assert patched.json()["callback_delay"]["dist"] == "exponential"
    bad = await client.patch("/admin/faults", json={"duplicate_pct": 150})
    assert bad.status_code == 400
    assert bad.json()["field"] == "duplicate_pct"
    assert "duplicate_pct" in bad.json()["error"]
    not_json = await client.patch("/admin/faults", content=b"{")
    assert not_json.status_code == 400
    assert (await client.delete("/admin/faults")).status_code == 204
    assert (await client.get("/admin/faults")).json() == PaymentFaults().model_dump()


async def test_callback_timeout_counts_as_failure() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(1)
        return httpx.Response(200, text="success")

    transport = httpx.MockTransport(slow)
    app = payment.create_app(faults=FAST, transport=transport, callback_timeout_s=0.05)
    async with asgi_client(app) as client:
        await client.post(f"/pay/{(await create(client)).json()['payment_id']}")
        await until(lambda: app.state.stats["callbacks_exhausted"] == 1)
    assert app.state.stats["callback_attempts"] == 6


async def test_shutdown_cancels_pending_callbacks() -> None:
    slow_first = PaymentFaults.model_validate({"callback_delay": {"mean_s": 60}})
    calls: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, text="success")

    app = payment.create_app(faults=slow_first, transport=httpx.MockTransport(handler))
    async with asgi_client(app) as client:
        await client.post(f"/pay/{(await create(client)).json()['payment_id']}")
        assert (await client.get("/admin/stats")).json()["callbacks_in_flight"] == 1
    assert app.state.sender.in_flight == 0
    assert calls == []
