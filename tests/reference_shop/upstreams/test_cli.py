"""``fakalab upstreams`` as a real process on loopback, with a real callback receiver."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from fakalab.contract.services import SERVICES, default_urls
from fakalab.reference_shop.signing import verify
from fakalab.reference_shop.upstreams.cli import upstreams
from fakalab.reference_shop.upstreams.process import UpstreamsProcess, find_port_base
from fakalab.reference_shop.upstreams.risk import decide

from .conftest import Receiver

FAKALAB = (sys.executable, "-m", "fakalab", "upstreams")
SECRETS = {"payment-a": "live-secret-a", "payment-b": "live-secret-b"}
SEED = 11
FAST = {"callback_delay": {"dist": "fixed", "mean_s": 0.01}, "retry_scale": 0.01}


@pytest.fixture(scope="module")
def live() -> Iterator[UpstreamsProcess]:
    with UpstreamsProcess(
        seed=SEED,
        secret_a=SECRETS["payment-a"],
        secret_b=SECRETS["payment-b"],
        command=FAKALAB,
        startup_timeout_s=60,
    ) as process:
        yield process
        assert process.stop() == 0


@pytest.fixture
def http(live: UpstreamsProcess) -> Iterator[httpx.Client]:
    """A client; every service's faults reset, payment callbacks fast."""
    with httpx.Client(timeout=10, trust_env=False) as client:
        for url in live.urls.values():
            assert client.delete(f"{url}/admin/faults").status_code == 204
        for name in ("payment-a", "payment-b"):
            client.patch(f"{live.urls[name]}/admin/faults", json=FAST).raise_for_status()
        yield client


def pay(http: httpx.Client, url: str, trade_no: str, notify_url: str) -> dict[str, Any]:
    body = {"trade_no": trade_no, "amount": "25.00", "notify_url": notify_url}
    created = http.post(f"{url}/api/payments", json=body)
    assert created.status_code == 201, created.text
    payment: dict[str, Any] = created.json()
    assert http.post(payment["pay_url"]).json()["status"] == "paid"
    return payment


def stats(http: httpx.Client, url: str) -> dict[str, int]:
    result: dict[str, int] = http.get(f"{url}/admin/stats").json()
    return result


def test_prints_one_line_per_service(live: UpstreamsProcess) -> None:
    assert live.port_base is not None
    assert live.urls == default_urls(live.port_base)


def test_callback_arrives_signed(
    live: UpstreamsProcess, http: httpx.Client, receiver: Receiver
) -> None:
    url = live.urls["payment-a"]
    payment = pay(http, url, "LIVE-1", receiver.url)
    assert payment["pay_url"] == f"{url}/pay/{payment['payment_id']}"
    (call,) = receiver.wait_for("LIVE-1", 1)
    assert verify(call, SECRETS["payment-a"])
    assert (call["payment_id"], call["amount"], call["status"]) == (
        payment["payment_id"],
        "25.00",
        "paid",
    )
    queried = http.get(f"{url}/api/payments/LIVE-1").json()
    assert verify(queried, SECRETS["payment-a"])
    assert (queried["status"], queried["paid_at"]) == ("paid", call["paid_at"])


def test_retries_when_the_shop_answers_fail(
    live: UpstreamsProcess, http: httpx.Client, receiver: Receiver
) -> None:
    url = live.urls["payment-a"]
    before = stats(http, url)
    receiver.replies["LIVE-2"] = ["fail", "fail"]
    pay(http, url, "LIVE-2", receiver.url)
    calls = receiver.wait_for("LIVE-2", 3)
    assert len(calls) == 3
    assert all(verify(call, SECRETS["payment-a"]) for call in calls)
    deadline = time.monotonic() + 10
    while (
        stats(http, url)["acknowledged"] == before["acknowledged"] and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    after = stats(http, url)
    assert after["callback_attempts"] - before["callback_attempts"] == 3
    assert after["acknowledged"] - before["acknowledged"] == 1


def test_dropped_callbacks_never_arrive_but_the_query_says_paid(
    live: UpstreamsProcess, http: httpx.Client, receiver: Receiver
) -> None:
    url = live.urls["payment-a"]
    http.patch(f"{url}/admin/faults", json={"callback_drop_pct": 100}).raise_for_status()
    pay(http, url, "LIVE-3", receiver.url)
    pay(http, url, "LIVE-3b", receiver.url)
    time.sleep(0.5)  # fifty times the callback delay
    assert receiver.received("LIVE-3") == receiver.received("LIVE-3b") == []
    queried = http.get(f"{url}/api/payments/LIVE-3").json()
    assert verify(queried, SECRETS["payment-a"]) and queried["status"] == "paid"
    assert stats(http, url)["dropped"] >= 2


def test_duplicates_arrive_twice(
    live: UpstreamsProcess, http: httpx.Client, receiver: Receiver
) -> None:
    url = live.urls["payment-b"]
    http.patch(f"{url}/admin/faults", json={"duplicate_pct": 100}).raise_for_status()
    pay(http, url, "LIVE-4", receiver.url)
    calls = receiver.wait_for("LIVE-4", 2)
    assert len(calls) == 2
    assert all(verify(call, SECRETS["payment-b"]) for call in calls)
    assert calls[0]["payment_id"] == calls[1]["payment_id"]


def test_wrong_amount_is_signed_but_differs(
    live: UpstreamsProcess, http: httpx.Client, receiver: Receiver
) -> None:
    url = live.urls["payment-b"]
    http.patch(f"{url}/admin/faults", json={"wrong_amount_pct": 100}).raise_for_status()
    pay(http, url, "LIVE-5", receiver.url)
    call = receiver.wait_for("LIVE-5", 1)[0]
    assert verify(call, SECRETS["payment-b"]) and not verify(call, SECRETS["payment-a"])
    assert call["amount"] != "25.00"
    assert http.get(f"{url}/api/payments/LIVE-5").json()["amount"] == "25.00"


def test_supplier_is_idempotent(live: UpstreamsProcess, http: httpx.Client) -> None:
    url = f"{live.urls['supplier-a']}/api/keys"
    body = {"order_no": "LIVE-6", "sku": "gift-50", "quantity": 2}
    first = http.post(url, json=body).json()
    assert len(first["keys"]) == 2 and all(key.startswith("SUPA-") for key in first["keys"])
    assert http.post(url, json=body).json() == first
    other = http.post(url, json={**body, "order_no": "LIVE-7"}).json()
    assert not set(other["keys"]) & set(first["keys"])


def test_risk_is_deterministic(live: UpstreamsProcess, http: httpx.Client) -> None:
    url = live.urls["risk"]
    http.patch(f"{url}/admin/faults", json={"false_positive_pct": 50}).raise_for_status()
    orders = [f"LIVE-R{i}" for i in range(40)]
    body = {"email": "a@b.c", "amount": "1.00", "product_id": 1}
    answers = [http.post(f"{url}/api/check", json={**body, "order_no": o}).json() for o in orders]
    assert answers == [decide(SEED, order_no, 50) for order_no in orders]
    assert {answer["decision"] for answer in answers} == {"pass", "review"}
    again = http.post(f"{url}/api/check", json={**body, "order_no": orders[0]}).json()
    assert again == answers[0]


def test_notifier_failures(live: UpstreamsProcess, http: httpx.Client) -> None:
    url = live.urls["notify"]
    body = {"order_no": "LIVE-8", "email": "a@b.c", "message": "key"}
    http.patch(f"{url}/admin/faults", json={"failure_pct": 100}).raise_for_status()
    assert http.post(f"{url}/api/notify", json=body).status_code == 503
    http.delete(f"{url}/admin/faults")
    assert http.post(f"{url}/api/notify", json=body).status_code == 202
    recent = http.get(f"{url}/admin/notifications").json()["recent"]
    assert recent[-1]["order_no"] == "LIVE-8"


def test_port_in_use_is_a_one_line_error() -> None:
    base = find_port_base()
    taken = base + SERVICES["supplier-a"]
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", taken))
        blocker.listen()
        run = subprocess.run(
            [*FAKALAB, "--port-base", str(base)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.strip().splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{taken} for supplier-a: port already in use"
    ]
    for offset in SERVICES.values():  # nothing was left listening
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", base + offset))


def test_sigterm_exits_cleanly_with_callbacks_pending(receiver: Receiver) -> None:
    process = UpstreamsProcess(only=["payment-a", "notify"], command=FAKALAB, startup_timeout_s=60)
    with process, httpx.Client(timeout=10, trust_env=False) as http:
        assert set(process.urls) == {"payment-a", "notify"}
        url = process.urls["payment-a"]
        slow = {"callback_delay": {"mean_s": 120}}
        http.patch(f"{url}/admin/faults", json=slow).raise_for_status()
        pay(http, url, "LIVE-9", receiver.url)
        assert stats(http, url)["callbacks_in_flight"] == 1
        assert process.proc is not None
        process.proc.send_signal(signal.SIGTERM)
        assert process.proc.wait(timeout=30) == 0
        assert "Traceback" not in process.stderr()


def test_unknown_service_in_only() -> None:
    result = CliRunner().invoke(upstreams, ["--only", "risk,payment-c"])
    assert result.exit_code == 2
    assert "unknown service payment-c" in result.output
