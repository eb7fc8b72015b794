"""Bad input, one regression test per bug found by fuzzing the API (test_schemathesis.py):
each request here once got a 500, an undocumented answer, or an answer its OpenAPI document
contradicted. The shop is real, on loopback, with real upstreams."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx

from fakalab.reference_shop.server import RunningShop
from tests.reference_shop.conftest import ADMIN

CALLBACK = "/api/payments/callback/payment-a"
JSON = {"Content-Type": "application/json"}


# -- the payment callback: a forged notice gets a clean 400 "fail: …", never a 500 ----------

async def test_callback_with_a_lone_surrogate_is_refused_not_a_crash(
        client: httpx.AsyncClient) -> None:
    """``"\\ud800"`` is valid JSON but no UTF-8 text: signing or storing it raised (500)."""
    for raw in ('{"sign": "\\ud800", "trade_no": "x"}',        # in the signature
                '{"sign": "abc", "trade_no": "\\ud800"}',       # in a signed field
                '{"sign": "abc", "\\udfff": "x"}'):             # in a key
        r = await client.post(CALLBACK, content=raw, headers=JSON)
        assert (r.status_code, r.text) == (400, "fail: malformed body"), raw


async def test_callback_nested_too_deep_is_refused_not_a_crash(
        client: httpx.AsyncClient) -> None:
    """5000 nested arrays fit in 16 KiB; json.loads raised RecursionError (500)."""
    for raw in ("[" * 5000 + "]" * 5000, '{"a": ' + "[" * 5000 + "]" * 5000 + "}"):
        r = await client.post(CALLBACK, content=raw, headers=JSON)
        assert (r.status_code, r.text) == (400, "fail: malformed body")


async def test_callback_refuses_nested_values(client: httpx.AsyncClient) -> None:
    r = await client.post(CALLBACK, json={"trade_no": {"$ne": None}, "sign": "abc"})
    assert (r.status_code, r.text) == (400, "fail: malformed body")


# -- numbers and strings the way the document says ------------------------------------------

async def _order(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/api/orders", json={
        "product_id": "steam-50", "email": "buyer@example.com", **body})


async def test_numbers_must_be_json_numbers(client: httpx.AsyncClient) -> None:
    """Pydantic's lax mode took ``"2"`` and ``true`` as a quantity and ``false`` as seconds
    waited; the document says integer and number."""
    for quantity in ("2", True, 2.5):
        assert (await _order(client, quantity=quantity)).status_code == 422, quantity
    assert (await _order(client, quantity=2.0)).status_code == 201  # JSON Schema: an integer
    for waited in (False, "5"):
        r = await client.post("/api/support/tickets", json={"waited_s": waited})
        assert r.status_code == 422, waited
    assert (await client.post("/api/support/tickets", json={"waited_s": 5})).status_code == 201
    r = await client.post("/api/admin/restock", headers={"Authorization": f"Bearer {ADMIN}"},
                          json={"product_id": "steam-50", "supplier_stock": True})
    assert r.status_code == 422


async def test_email_pattern_means_the_same_to_the_shop_and_to_the_document(
        client: httpx.AsyncClient) -> None:
    """``[^@\\s]`` differs between the shop's regex engine (Rust: \\x85 is white space) and
    JSON Schema's (ECMA-262: \\ufeff is, \\x85 is not): the shop refused addresses its
    document allowed. The pattern now spells its ranges out."""
    document = (await client.get("/openapi.json")).json()
    pattern = document["components"]["schemas"]["OrderIn"]["properties"]["email"]["pattern"]
    assert "\\s" not in pattern
    ecma = pattern.removesuffix("$") + r"\Z"  # ECMA-262's $ is the end; Python's allows a \n
    for email in ("a@b", "é@ü.example", "a\x85b@c", "a\ufeff@b", "a\x1c@b", "a\u3000@b",
                  "a\xa0@b", "a b@c", "a@b@c", "\x00@b", "a@b\n"):
        documented = re.search(ecma, email) is not None
        r = await client.post("/api/orders", json={"product_id": "no-such", "email": email})
        assert r.status_code == (404 if documented else 422), (email, r.text)


async def test_nul_is_not_text(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/support/tickets", json={"message": "a\x00b"})
    assert r.status_code == 422


# -- query parameters ----------------------------------------------------------------------

async def test_stuck_orders_age_is_a_finite_non_negative_number_given_once(
        client: httpx.AsyncClient) -> None:
    """``nan`` and ``-inf`` were taken (and compared in SQL); a repeated parameter silently
    became its last value."""
    auth = {"Authorization": f"Bearer {ADMIN}"}
    for query in ("older_than_s=nan", "older_than_s=inf", "older_than_s=-1",
                  "older_than_s=1&older_than_s=2"):
        r = await client.get(f"/api/admin/orders/stuck?{query}", headers=auth)
        assert r.status_code == 422, query
    assert (await client.get("/api/admin/orders/stuck?older_than_s=1.5",
                             headers=auth)).status_code == 200
    r = await client.get("/api/orders/X/events?token=a&token=b")
    assert r.status_code == 422


# -- bodies and framework errors -----------------------------------------------------------

async def _chunks(size: int) -> AsyncIterator[bytes]:
    for _ in range(size // 1000):
        yield b" " * 1000


async def test_a_chunked_body_over_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    """Without a Content-Length the limit was never checked: the body was read whole."""
    for path in ("/api/support/tickets", CALLBACK):
        r = await client.post(path, content=_chunks(40_000), headers=JSON)
        assert r.status_code == 413, path
        assert r.json() == {"error": "body over 16384 bytes", "status": 413}
    r = await client.post("/api/support/tickets", content=_chunks(2000), headers=JSON)
    assert r.status_code == 422  # under the limit: read, and refused as the blank it is


async def test_framework_errors_have_the_shops_error_shape(client: httpx.AsyncClient) -> None:
    """401 was ``{"detail": …}`` while every documented error is ``{"error", "status"}``."""
    r = await client.get("/api/admin/orders/stuck")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json() == {"error": "admin token required", "status": 401}
    assert (await client.get("/nowhere")).json() == {"error": "Not Found", "status": 404}
    r = await client.delete("/api/products")
    assert r.json() == {"error": "Method Not Allowed", "status": 405}


async def test_options_on_lookup_allows_post(client: httpx.AsyncClient) -> None:
    """``/api/orders/lookup`` also matched ``/api/orders/{order_no}``, declared first: a 405
    there said ``Allow: GET``."""
    r = await client.options("/api/orders/lookup")
    assert r.status_code == 405 and r.headers["allow"] == "POST"


async def test_admin_token_is_a_bearer_token(client: httpx.AsyncClient) -> None:
    for value in (ADMIN, f"Basic {ADMIN}", f"Bearer {ADMIN}x", "Bearer"):
        r = await client.get("/api/admin/orders/stuck", headers={"Authorization": value})
        assert r.status_code == 401, value
    # The token is checked before the body or the query is: a stranger learns nothing of them
    # (FastAPI reads the body before dependencies run: a malformed one answered 422).
    for method, path, extra in (
            ("POST", "/api/admin/restock", {"content": b"\x00", "headers": JSON}),
            ("POST", "/api/admin/restock", {"json": {"product_id": ""}}),
            ("GET", "/api/admin/orders/stuck?older_than_s=nan", {})):
        r = await client.request(method, path, **extra)
        assert r.status_code == 401 and r.json()["error"] == "admin token required", path
    r = await client.get("/api/admin/orders/stuck", headers={"Authorization": f"bearer {ADMIN}"})
    assert r.status_code == 200  # the scheme is case-insensitive (RFC 9110)


# -- the document promises what the shop answers -------------------------------------------

async def test_every_answer_the_shop_gives_is_documented(shop: RunningShop) -> None:
    """Before, the document listed 200 and 422 only; these are the statuses each route really
    answers (each is exercised above, in test_privacy.py or test_payments.py)."""
    paths = shop.app.openapi()["paths"]

    def codes(path: str, method: str) -> set[str]:
        return set(paths[path][method]["responses"])

    assert {"201", "404", "409", "413", "422", "503"} <= codes("/api/orders", "post")
    assert {"200", "404", "429"} <= codes("/api/orders/{order_no}", "get")
    assert {"200", "404", "429", "422"} <= codes("/api/orders/{order_no}/events", "get")
    assert {"202", "404", "429"} <= codes("/api/orders/{order_no}/paid", "post")
    assert {"200", "413", "422", "429"} <= codes("/api/orders/lookup", "post")
    assert {"201", "413", "422"} <= codes("/api/support/tickets", "post")
    callback = paths["/api/payments/callback/{channel}"]["post"]
    assert {"200", "400", "413", "500"} <= set(callback["responses"])
    assert "requestBody" in callback
    admin = [op for path, item in paths.items() if path.startswith("/api/admin/")
             for op in item.values()]
    assert len(admin) == 5
    for operation in admin:
        assert operation["security"] == [{"HTTPBearer": []}], operation["operationId"]
        assert "401" in operation["responses"], operation["operationId"]
    events = paths["/api/orders/{order_no}/events"]["get"]["responses"]["200"]["content"]
    assert list(events) == ["text/event-stream"]
    export = paths["/api/admin/export/{table}.csv"]["get"]["responses"]
    assert list(export["200"]["content"]) == ["text/csv"]
    assert list(export["401"]["content"]) == ["application/json"]


# -- found by the security review (docs/security.md) -------------------------------------------

async def test_a_token_that_is_not_utf8_is_a_wrong_token_for_any_order(
        client: httpx.AsyncClient, buyer: Any) -> None:
    """The status fast path decoded the header as UTF-8: a 500 for a cached order and a 404 for
    an unknown one told anyone which order numbers exist."""
    order = await buyer.order()
    bad = {"X-Order-Token": b"\xff\xfe"}
    known = await client.get(f"/api/orders/{order['order_no']}", headers=bad)
    unknown = await client.get("/api/orders/0000000000000000", headers=bad)
    assert known.status_code == unknown.status_code == 404
    assert known.json() == unknown.json()


async def test_admin_csv_cells_never_start_a_formula(client: httpx.AsyncClient) -> None:
    """Buyers' text went into the admin CSV as is: `=HYPERLINK(...)` ran when opened."""
    formula = '=HYPERLINK("http://evil.example","x")'
    r = await client.post("/api/support/tickets", json={
        "order_no": "@SUM(1)", "reason": "other", "waited_s": 1, "message": formula})
    assert r.status_code == 201, r.text
    csv = await client.get("/api/admin/export/tickets.csv",
                           headers={"Authorization": f"Bearer {ADMIN}"})
    assert csv.status_code == 200
    assert "'" + formula.replace('"', '""') in csv.text and "'@SUM(1)" in csv.text
    assert not any(cell.startswith(("=", "@", "+")) for line in csv.text.splitlines()
                   for cell in line.split(","))
