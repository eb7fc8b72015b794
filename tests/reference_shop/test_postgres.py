"""The shop on PostgreSQL answers exactly as on SQLite — hostile input included — and reports
its database writes. (A private cluster per session: tests/reference_shop/conftest.py.)

Regression: PostgreSQL cannot store a NUL character, and every request carrying one answered
500 (asyncpg's CharacterNotInRepertoireError), while SQLite answered 404/400; the forged
callback was then not recorded at all.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from fakalab.reference_shop.process import ShopProcess
from tests.conftest import create_database

ADMIN = {"Authorization": "Bearer pg"}


@pytest.fixture(scope="module")
def shops(tmp_path_factory: pytest.TempPathFactory, postgres: str,
          upstream_urls: dict[str, str]) -> Iterator[dict[str, ShopProcess]]:
    tmp = tmp_path_factory.mktemp("backends")
    urls = {"sqlite": f"sqlite:///{tmp / 'shop.db'}",
            "postgres": create_database(postgres, "nul")}
    started = {name: ShopProcess(url, upstream_urls, admin_token="pg",
                                 log_path=tmp / f"{name}.log") for name, url in urls.items()}
    try:
        for proc in started.values():
            proc.start()
        yield started
    finally:
        for proc in started.values():
            proc.stop()


CASES = [
    ("GET", "/api/orders/%00", {}, None),
    ("GET", "/api/orders/%00", {"X-Order-Token": "x"}, None),
    ("POST", "/api/orders/%00/paid", {"X-Order-Token": "x"}, None),
    ("GET", "/api/orders/%00/events", {"X-Order-Token": "x"}, None),
    ("POST", "/api/orders", {}, {"product_id": "\u0000", "quantity": 1,
                                 "email": "b@example.com"}),
    ("POST", "/api/payments/callback/payment-a", {},
     {"trade_no": "\u0000", "payment_id": "P", "amount": "1.00", "status": "paid",
      "sign": "x"}),
    ("POST", "/api/payments/callback/%00", {}, {"trade_no": "T", "sign": "x"}),
    ("POST", "/api/orders/lookup", {}, {"email": "a\u0000@example.com",
                                        "query_password": "pw-pw-pw"}),
]


@pytest.mark.parametrize(("method", "path", "headers", "body"), CASES)
def test_a_nul_byte_gets_the_same_answer_on_both_backends(
        shops: dict[str, ShopProcess], method: str, path: str, headers: dict[str, str],
        body: object) -> None:
    answers = {}
    for name, shop in shops.items():
        r = httpx.request(method, shop.url + path, headers=headers, json=body, timeout=30)
        answers[name] = (r.status_code, r.text)
    assert answers["postgres"][0] < 500, answers
    assert answers["postgres"] == answers["sqlite"]


def test_a_forged_callback_with_a_nul_is_recorded_on_postgres(
        shops: dict[str, ShopProcess]) -> None:
    httpx.post(shops["postgres"].url + "/api/payments/callback/payment-a",
               json={"trade_no": "nul\u0000here", "sign": "forged"}, timeout=30)
    csv = httpx.get(shops["postgres"].url + "/api/admin/export/callbacks.csv", headers=ADMIN,
                    timeout=30).text
    assert "nul\\x00here" in csv


def test_database_writes_are_counted_on_postgres(shops: dict[str, ShopProcess]) -> None:
    shop = shops["postgres"]
    r = httpx.post(shop.url + "/api/orders", timeout=30,
                   json={"product_id": "steam-50", "quantity": 1, "email": "w@example.com"})
    assert r.status_code == 201
    metrics = httpx.get(shop.url + "/metrics", timeout=30).text
    writes = [line for line in metrics.splitlines() if line.startswith("fakalab_db_writes ")]
    assert writes and float(writes[0].split()[1]) > 0
