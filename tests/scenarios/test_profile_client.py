"""Running a profile against a shop: templates, extraction, failures — with httpx's
MockTransport standing in for the shop."""

from __future__ import annotations

import json
from typing import Any

import httpx

from fakalab.contract.profile import load_profile
from fakalab.scenarios.profile_client import HttpxHttp, ProfileClient, render


def test_render_keeps_the_type_of_a_whole_placeholder() -> None:
    context = {"quantity": 2, "product": "steam-50", "none": None}
    assert render({"q": "{quantity}", "p": "id-{product}", "n": "{none}", "b": "{{x}}"},
                  context) == {"q": 2, "p": "id-steam-50", "n": None, "b": "{x}"}
    assert render(["{product}", 3], context) == ["steam-50", 3]


def _reference_like(request: httpx.Request) -> httpx.Response:
    if request.method == "POST" and request.url.path == "/api/orders":
        body = json.loads(request.content)
        assert body == {"product_id": "steam-50", "quantity": 1, "email": "b@example.com"}
        assert request.headers["X-Fakalab-Persona"] == "buyer"
        return httpx.Response(201, json={"order_no": "A1", "token": "t", "amount": "50.00",
                                         "pay_url": "http://pay.test/pay/P1",
                                         "channel": "payment-a", "state": "pending_payment"})
    if request.url.path == "/api/orders/A1":
        if request.headers.get("X-Order-Token") != "t":
            return httpx.Response(404, json={"error": "order not found"})
        return httpx.Response(200, json={"state": "completed", "message": "done",
                                         "keys": ["K-1"], "eta_at": None})
    return httpx.Response(404)


def _client(handler: Any) -> ProfileClient:
    http = HttpxHttp(httpx.Client(transport=httpx.MockTransport(handler)))
    return ProfileClient(load_profile("reference"), http, "http://shop.test")


def test_create_order_then_status_through_the_reference_profile() -> None:
    client = _client(_reference_like)
    context: dict[str, Any] = {"product": "steam-50", "quantity": 1, "email": "b@example.com",
                               "persona": "buyer"}
    created = client.run("create_order", context)
    assert created.ok and created.request.url == "http://shop.test/api/orders"
    assert context["order_id"] == "A1" and context["pay_url"] == "http://pay.test/pay/P1"
    status = client.run("status", context)
    assert status.ok and status.extracted["keys"] == ["K-1"]
    assert client.profile.stage(status.extracted["state"]) == "delivered"


def test_a_failing_step_says_why() -> None:
    client = _client(lambda request: httpx.Response(503, text="busy"))
    result = client.run("create_order", {"product": "x", "quantity": 1, "email": "e",
                                         "persona": "buyer"})
    assert not result.ok and result.problem == "HTTP 503"

    def no_id(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={"token": "t", "pay_url": "u"})

    missing = _client(no_id).run("create_order", {"product": "x", "quantity": 1, "email": "e",
                                                  "persona": "buyer"})
    assert not missing.ok and missing.problem == "nothing found for order_id"


def test_a_connection_error_is_an_answer_not_an_exception() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    result = _client(down).run("create_order", {"product": "x", "quantity": 1, "email": "e",
                                                "persona": "buyer"})
    assert result.answer.status == 0 and "ConnectError" in result.problem


def test_a_journey_sends_its_trace_with_every_request() -> None:
    import random

    from fakalab.scenarios.profile_client import TRACEPARENT, journey_trace
    from fakalab.scenarios.trace_sampler import TraceSampler

    rng = random.Random(1)
    assert journey_trace(rng, None) is None
    sampled = journey_trace(rng, TraceSampler(1.0))
    unsampled = journey_trace(rng, TraceSampler(0.0))
    assert sampled is not None and unsampled is not None
    version, trace_id, span_id, flags = sampled.split("-")
    assert (version, len(trace_id), len(span_id), flags) == ("00", 32, 16, "01")
    assert unsampled.endswith("-00") and unsampled.split("-")[1] != trace_id
    client = ProfileClient(load_profile("reference"), HttpxHttp(httpx.Client()), "http://x")
    step = client.profile.create_order
    assert step is not None
    context = {"product": "p", "quantity": 1, "email": "e", "persona": "buyer"}
    assert "traceparent" not in client.request(step, context).headers
    sent = client.request(step, {**context, TRACEPARENT: sampled})
    assert sent.headers["traceparent"] == sampled
