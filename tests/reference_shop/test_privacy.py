"""What a stranger can learn: nothing without the order's token; lookups are rate-limited."""

import httpx

from tests.reference_shop.conftest import Buyer


async def test_status_without_or_with_another_orders_token_leaks_nothing(
        client: httpx.AsyncClient, buyer: Buyer) -> None:
    mine, other = await buyer.order(), await buyer.order()
    path = f"/api/orders/{mine['order_no']}"
    missing = await client.get(path)
    wrong = await client.get(path, headers={"X-Order-Token": other["token"]})
    ghost = await client.get("/api/orders/DOESNOTEXIST", headers={"X-Order-Token": "x"})
    assert missing.status_code == wrong.status_code == ghost.status_code == 404
    assert missing.json() == wrong.json() == ghost.json() == {"error": "order not found",
                                                              "status": 404}
    for r in (await client.get(f"{path}/events"),
              await client.post(f"{path}/paid", headers={"X-Order-Token": "nope"})):
        assert r.status_code == 404 and mine["token"] not in r.text


async def test_failed_token_guesses_are_rate_limited(client: httpx.AsyncClient,
                                                     buyer: Buyer) -> None:
    order = await buyer.order()
    codes = [(await client.get(f"/api/orders/{order['order_no']}",
                               headers={"X-Order-Token": f"guess{i}"})).status_code
             for i in range(40)]
    assert codes[0] == 404 and codes[-1] == 429


async def test_a_forged_forwarded_for_does_not_dodge_the_limit(client: httpx.AsyncClient,
                                                               buyer: Buyer) -> None:
    order = await buyer.order()
    codes = [(await client.get(f"/api/orders/{order['order_no']}", headers={
        "X-Order-Token": f"guess{i}", "X-Forwarded-For": f"10.0.{i}.1"})).status_code
        for i in range(40)]
    assert codes[0] == 404 and codes[-1] == 429


async def test_lookup_needs_the_query_password_and_is_rate_limited(
        client: httpx.AsyncClient, buyer: Buyer) -> None:
    order = await buyer.order(query_password="s3cret-pw")
    ok = await client.post("/api/orders/lookup", json={"email": "buyer@example.com",
                                                       "query_password": "s3cret-pw"})
    assert [o["order_no"] for o in ok.json()["orders"]] == [order["order_no"]]
    assert "token" not in ok.text
    bad = await client.post("/api/orders/lookup", json={"email": "buyer@example.com",
                                                        "query_password": "wrong-pw"})
    assert bad.json() == {"orders": []}
    codes = [(await client.post("/api/orders/lookup", json={
        "email": "buyer@example.com", "query_password": "wrong-pw"})).status_code
        for _ in range(12)]
    assert codes[-1] == 429


async def test_admin_routes_need_the_bearer_token(client: httpx.AsyncClient) -> None:
    for method, path in [("GET", "/api/admin/orders/stuck"), ("POST", "/api/admin/restock"),
                         ("GET", "/api/admin/export/orders.csv"),
                         ("POST", "/api/admin/orders/X/refund")]:
        r = await client.request(method, path)
        assert r.status_code == 401, path
        r = await client.request(method, path, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401, path


async def test_admin_restock_and_export(client: httpx.AsyncClient) -> None:
    auth = {"Authorization": "Bearer test-admin-token"}
    r = await client.post("/api/admin/restock", headers=auth,
                          json={"product_id": "game-cdk", "keys": ["NEW-1", "NEW-2"]})
    assert r.json()["added_keys"] == 2
    r = await client.post("/api/admin/restock", headers=auth, json={"product_id": "nope"})
    assert r.status_code == 404
    csv = (await client.get("/api/admin/export/keys.csv", headers=auth)).text
    assert "NEW-2" in csv and csv.splitlines()[0].startswith("id,product_id,secret")
    assert (await client.get("/api/admin/export/secrets.csv", headers=auth)).status_code == 404


async def test_fast_path_answers_exactly_like_the_route(shop: object, client: httpx.AsyncClient,
                                                        buyer: Buyer) -> None:
    """A cached view with the right token is served by the fast path; evicting it makes the
    regular route answer; both must give the same document."""
    from fakalab.reference_shop.server import RunningShop

    assert isinstance(shop, RunningShop)
    order = await buyer.order()
    fast = await buyer.status(order)
    shop.shop.state.views.drop(order["order_no"])
    slow = await buyer.status(order)
    for doc in (fast, slow):
        doc.pop("server_time")
    assert fast == slow


async def test_a_guesser_does_not_block_other_buyers_lookups(client: httpx.AsyncClient,
                                                             buyer: Buyer) -> None:
    """The lookup limit was keyed by client address alone: on loopback every buyer shares one,
    so one guesser blocked everyone's lookups for a minute. Keyed by the e-mail asked about,
    the guesser slows down only the account it attacks."""
    order = await buyer.order(email="other@example.com", query_password="other-pw")
    codes = [(await client.post("/api/orders/lookup", json={
        "email": "victim@example.com", "query_password": f"guess-{i}"})).status_code
        for i in range(15)]
    assert codes[-1] == 429  # the guesser is stopped
    mine = await client.post("/api/orders/lookup", json={"email": "other@example.com",
                                                         "query_password": "other-pw"})
    assert mine.status_code == 200
    assert [o["order_no"] for o in mine.json()["orders"]] == [order["order_no"]]
