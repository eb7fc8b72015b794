"""Receipts end to end, as real processes (the shop, its upstreams, `fakalab receipt verify` and
`fakalab audit`): a delivered order's receipt verifies offline against the published key; after
the database is tampered with — an event edited once its head was published, or the history
rewritten and re-signed — the receipt fails, saying why, and so does the audit."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from fakalab.reference_shop.process import ShopProcess
from tests.reference_shop.conftest import Buyer


def fakalab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fakalab", *args], capture_output=True,
                          text=True, timeout=60)


async def receipt(client: httpx.AsyncClient, order: dict[str, Any], *since: int
                  ) -> dict[str, Any]:
    """The order's receipt once every event of it is in a signed head (a second or so)."""
    deadline = time.monotonic() + 15
    while True:
        r = await client.get(f"/api/orders/{order['order_no']}/receipt",
                             params=[("since", s) for s in since],
                             headers={"X-Order-Token": order["token"]})
        if r.status_code == 200 and not r.json()["pending"]:
            found: dict[str, Any] = r.json()
            return found
        assert r.status_code in (200, 409), r.text
        assert time.monotonic() < deadline, r.text
        await asyncio.sleep(0.2)


def tamper(db: Path, *statements: str) -> None:
    con = sqlite3.connect(db)
    for statement in statements:
        con.execute(statement)
    con.commit()
    con.close()


async def test_receipts_verify_and_tampering_is_caught(tmp_path: Path,
                                                       upstream_urls: dict[str, str]) -> None:
    db = tmp_path / "shop.db"
    with ShopProcess(f"sqlite:///{db}", upstream_urls, log_path=tmp_path / "shop.log") as shop:
        async with httpx.AsyncClient(base_url=shop.url, timeout=10) as client:
            b = Buyer(client)
            order = await b.order()
            await b.pay(order)
            await b.wait_state(order, "delivered")
            mine = await receipt(client, order)
            r = await client.get(f"/api/orders/{order['order_no']}/receipt",
                                 headers={"X-Order-Token": "wrong"})
            assert r.status_code == 404
            key = (await client.get("/api/receipts/key")).json()
            assert (await client.get("/api/receipts/head")).json()["public_key"] == key[
                "public_key"]
    (tmp_path / "receipt.json").write_text(json.dumps(mine))
    (tmp_path / "key.json").write_text(json.dumps(key))
    ok = fakalab("receipt", "verify", str(tmp_path / "receipt.json"),
                 "--key", str(tmp_path / "key.json"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"ok   order {order['order_no']}: " in ok.stdout and "last delivered" in ok.stdout
    assert fakalab("audit", "--db", str(db)).stdout.count("ok   receipts_verify") == 1

    # The shop's operator says the order was never delivered: the event is edited.
    tamper(db, f"UPDATE order_events SET state = 'refunded' WHERE order_no = "
               f"'{order['order_no']}' AND state = 'delivered'")
    audit = fakalab("audit", "--db", str(db))
    assert audit.returncode == 1 and "FAIL receipts_verify (1 violations)" in audit.stdout
    with ShopProcess(f"sqlite:///{db}", upstream_urls, log_path=tmp_path / "shop.log") as shop:
        async with httpx.AsyncClient(base_url=shop.url, timeout=10) as client:
            edited = await receipt(client, order)
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    bad = fakalab("receipt", "verify", str(tmp_path / "edited.json"), "--key",
                  key["public_key"])
    assert bad.returncode == 1 and "Traceback" not in bad.stdout + bad.stderr
    assert bad.stdout.count("\n") == 1 and "(refunded) is not in the log the shop signed" \
        in bad.stdout

    # Then the whole log is rebuilt and re-signed with the shop's key (kept in the database).
    tamper(db, "DELETE FROM receipt_log", "DELETE FROM receipt_heads")
    with ShopProcess(f"sqlite:///{db}", upstream_urls, log_path=tmp_path / "shop.log") as shop:
        async with httpx.AsyncClient(base_url=shop.url, timeout=10) as client:
            rewritten = await receipt(client, order, mine["tree_head"]["size"])
    (tmp_path / "rewritten.json").write_text(json.dumps(rewritten))
    alone = fakalab("receipt", "verify", str(tmp_path / "rewritten.json"), "--key",
                    key["public_key"])
    assert alone.returncode == 0, alone.stdout  # on its own, a rewritten receipt verifies
    held = fakalab("receipt", "verify", str(tmp_path / "rewritten.json"), "--key",
                   key["public_key"], "--previous", str(tmp_path / "receipt.json"))
    assert held.returncode == 1 and "history was rewritten" in held.stdout, held.stdout


async def test_receipts_can_be_switched_off(tmp_path: Path, upstream_urls: dict[str, str]
                                            ) -> None:
    with ShopProcess(f"sqlite:///{tmp_path / 'off.db'}", upstream_urls,
                     options=["--set", "receipts=false"]) as shop:
        async with httpx.AsyncClient(base_url=shop.url, timeout=10) as client:
            r = await client.get("/api/receipts/key")
    assert r.status_code == 404 and r.json()["error"] == "receipts are off in this shop"
