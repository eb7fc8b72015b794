"""Schemathesis against the shop's own OpenAPI document, over real HTTP.

The shop runs as a child process (``ShopProcess``) on 127.0.0.1 with real upstreams.
Schemathesis sends every operation generated requests — its examples, boundary values
(coverage phase) and random valid and invalid ones (fuzzing) — with ``requests``. Each answer
must be no server error, a documented status code with a documented content type, and a body
matching the declared model. Generation is bounded and seeded: a run takes well under a minute
and repeats exactly. Bugs found this way have a focused regression test in
``test_bad_requests.py``.

The tests are parametrized at collection time from ``create_app().openapi()``, the document the
shop serves (``test_the_live_shop_serves_this_document`` holds the running shop to it): pytest 9
broke ``schemathesis.pytest.from_fixture`` (it sets ``Function._nodeid``), and no server runs
while pytest collects.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from fakalab.contract.shop_settings import ShopSettings
from fakalab.reference_shop import signing
from fakalab.reference_shop.app import create_app
from fakalab.reference_shop.process import ShopProcess
from tests.reference_shop.conftest import reset_faults

ADMIN = "fuzz-admin-token"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
CALLBACK = "/api/payments/callback/{channel}"
SECRETS = ShopSettings.model_fields["payment_secrets"].get_default(call_default_factory=True)
MAX_EXAMPLES = 50
SEED = 20240607
# Hypothesis's health checks judge the generator, not the shop; a real server is slow for them.
HYPOTHESIS = settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))

CONFIG: dict[str, Any] = {
    "seed": SEED,
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
               "fuzzing": {"enabled": True}},
    "request-timeout": 10,
    "max-stream-events": 1,
    "checks": {
        # schemathesis's defaults plus 413: a body over max_body_bytes is refused before it is
        # parsed, valid or not (restock's schema allows far more keys than 16 KiB can carry).
        "positive_data_acceptance": {"expected-statuses": [
            "2xx", "3xx", "401", "403", "404", "409", "413", "429", "5xx"]},
        "negative_data_rejection": {"expected-statuses": [
            400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]},
    },
    "operations": [{
        # A schema-valid notice is still forged: no generator can sign it, so 400 is right.
        # test_signed_callbacks below signs them.
        "include-path": CALLBACK,
        "checks": {"positive_data_acceptance": {"enabled": False}},
    }, {
        # The same for the epay gateway's notify URL (tests/reference_shop/test_epay_channel.py
        # signs them).
        "include-path": "/api/payments/epay/notify",
        "checks": {"positive_data_acceptance": {"enabled": False}},
    }],
}


@pytest.fixture(scope="module")
def live_shop(upstream_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[ShopProcess]:
    reset_faults(upstream_urls)
    run: Path = tmp_path_factory.mktemp("schemathesis")
    # Rate limits high enough that generated requests reach the logic behind them (the 429s
    # are tested in test_privacy.py).
    with ShopProcess(f"sqlite:///{run / 'shop.db'}", upstream_urls,
                     admin_token=ADMIN, log_path=run / "shop.log",
                     options=["--set", "lookup_rate_per_min=10000"]) as shop:
        yield shop
    # Every 5xx the shop answered is also logged with its traceback.
    assert "Traceback" not in (run / "shop.log").read_text()


DOCUMENT = create_app(ShopSettings(db_url="sqlite://")).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.Config.from_dict(
    {**CONFIG, "auth": {"openapi": {"HTTPBearer": {"bearer": ADMIN}}}}))
unauthenticated = schemathesis.openapi.from_dict(DOCUMENT,
                                                 config=schemathesis.Config.from_dict(CONFIG))


def test_the_live_shop_serves_this_document(live_shop: ShopProcess) -> None:
    live = schemathesis.openapi.from_url(f"{live_shop.url}/openapi.json")
    assert live.raw_schema == DOCUMENT


@schema.parametrize()
@HYPOTHESIS
def test_every_operation_conforms(case: schemathesis.Case, live_shop: ShopProcess) -> None:
    """Generated requests to every operation, admin ones with the token (``auth`` in the
    config): no 5xx, the status code, content type and body as documented. Among
    schemathesis's checks, ``ignored_auth`` replays admin requests without the token."""
    response = case.call(live_shop.url, timeout=10)
    case.validate_response(response)


# (``include`` would be OR-ed with the operation-level config's own filter, so: exclude the rest.)
@unauthenticated.exclude(path_regex="^(?!/api/admin/)").parametrize()
@HYPOTHESIS
def test_admin_without_the_token(case: schemathesis.Case, live_shop: ShopProcess) -> None:
    """Generated admin requests with no token, a generated one, a wrong one or the right one
    without its scheme: always 401 — but 405 for the undocumented methods the coverage phase
    tries, and 413 for a body over max_body_bytes (refused before anything else)."""
    expected = {401, 413} if case.method.upper() == case.operation.method.upper() else {405}
    for headers in (None, {"Authorization": "Bearer not-the-token"},
                    {"Authorization": ADMIN}):
        response = case.call(live_shop.url, headers=headers, timeout=10)
        assert response.status_code in expected, (headers, response.status_code, response.text)
        case.validate_response(response, headers=headers,
                               excluded_checks=[schemathesis.checks.positive_data_acceptance])


@pytest.fixture(scope="module")
def orders(live_shop: ShopProcess) -> list[dict[str, Any]]:
    """Real orders with the payment ids the channels gave them (from the admin export)."""
    with httpx.Client(base_url=live_shop.url, timeout=10) as http:
        placed = [http.post("/api/orders", json={
            "product_id": product, "email": "fuzz@example.com"}).json()
            for product in ("steam-50", "vip-month", "game-cdk")]
        export = http.get("/api/admin/export/orders.csv", headers=AUTH).text
    payment_ids = {r["order_no"]: r["payment_id"] for r in csv.DictReader(io.StringIO(export))}
    return [{**o, "payment_id": payment_ids[o["order_no"]]} for o in placed]


def test_signed_callbacks(live_shop: ShopProcess, orders: list[dict[str, Any]]) -> None:
    """Generated notices signed with the channel's real secret, about real orders or not: the
    shop answers ``success`` (200) or ``fail: …`` (400), never a server error."""
    operation = schema[CALLBACK]["POST"]
    notices = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                        operation.as_strategy(GenerationMode.NEGATIVE))

    @HYPOTHESIS
    @seed(SEED)
    @given(case=notices, order=st.sampled_from([None, *orders]), exact=st.booleans(),
           channel=st.sampled_from([None, *sorted(SECRETS)]))
    def run(case: schemathesis.Case, order: dict[str, Any] | None, exact: bool,
            channel: str | None) -> None:
        if channel is None:  # the generated one, signed as if it were channel A
            channel = case.path_parameters["channel"]
        if isinstance(case.body, dict):
            body = dict(case.body)
            if order is not None:
                body["trade_no"] = order["order_no"]
                if exact:
                    body.update(payment_id=order["payment_id"], amount=order["amount"],
                                status="paid")
                    channel = order["channel"]
            with contextlib.suppress(UnicodeEncodeError):  # a lone surrogate cannot be signed
                body["sign"] = signing.sign(body, SECRETS.get(channel, SECRETS["payment-a"]))
            case.body = body
        case.path_parameters = {"channel": channel}
        response = case.call(live_shop.url, timeout=10)
        assert response.status_code in (200, 400), (response.status_code, response.text)
        assert response.text == "success" if response.status_code == 200 else (
            response.text.startswith("fail: ")), response.text
        case.validate_response(response, excluded_checks=[
            schemathesis.checks.positive_data_acceptance,
            schemathesis.checks.negative_data_rejection])

    run()


def test_documented_answers_for_real_orders(live_shop: ShopProcess) -> None:
    """The 2xx answers a generator cannot reach (they need a real order and its token), each
    validated against the document: status, events, "I have paid", lookup, admin actions."""
    with httpx.Client(base_url=live_shop.url, timeout=10) as http:
        order = http.post("/api/orders", json={"product_id": "win-pro", "email": "doc@example.com",
                                               "query_password": "secret-pw"}).json()
    token = {"X-Order-Token": order["token"]}
    no = {"order_no": order["order_no"]}
    calls: list[tuple[str, str, dict[str, Any], int]] = [
        ("/api/orders/{order_no}", "GET", {"path_parameters": no, "headers": token}, 200),
        ("/api/orders/{order_no}/events", "GET",
         {"path_parameters": no, "query": {"token": order["token"]}}, 200),
        ("/api/orders/{order_no}/paid", "POST", {"path_parameters": no, "headers": token}, 202),
        ("/api/orders/lookup", "POST",
         {"body": {"email": "doc@example.com", "query_password": "secret-pw"}}, 200),
        ("/api/admin/orders/{order_no}/refund", "POST", {"path_parameters": no}, 409),
        ("/api/admin/orders/stuck", "GET", {"query": {"older_than_s": 0}}, 200),
        ("/api/admin/export/{table}.csv", "GET", {"path_parameters": {"table": "orders"}}, 200),
        ("/api/admin/restock", "POST",
         {"body": {"product_id": "win-pro", "keys": ["FUZZ-KEY-1"]}}, 200),
    ]
    for path, method, parts, status in calls:
        case = schema[path][method].Case(**parts)
        headers = AUTH if path.startswith("/api/admin/") else None
        response = case.call(live_shop.url, headers=headers, timeout=10)
        assert response.status_code == status, (path, response.status_code, response.text)
        case.validate_response(response, headers=headers)
    lookup = schema["/api/orders/lookup"]["POST"].Case(
        body={"email": "doc@example.com", "query_password": "secret-pw"}).call(live_shop.url)
    assert [o["order_no"] for o in lookup.json()["orders"]] == [order["order_no"]]
