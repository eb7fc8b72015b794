"""The shop's receipt log on a real database (a SQLite file, the shop's own writer): events are
logged behind the order path and signed heads published; a receipt verifies offline; a database
tampered with after a head was published — an event edited or deleted, or the whole history
rewritten and re-signed with the shop's own key — is caught by the receipt and by the audit."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fakalab.contract.merkle import MerkleLog
from fakalab.contract.receipt import (
    ReceiptError,
    TreeHead,
    public_key_hex,
    sign_head,
    verify_receipt,
)
from fakalab.reference_shop.db import Database
from fakalab.reference_shop.receipts import (
    NotLogged,
    Receipts,
    StoredLog,
    audit_log,
    stored_log,
)
from fakalab.reference_shop.storage import events
from fakalab.reference_shop.storage.snapshot import read

STATES = ["pending_payment", "paid", "risk_check", "delivered"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'shop.db'}")
    await database.open()
    yield database
    await database.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """The same on both backends (PostgreSQL: skipped without its server binaries)."""
    url = (f"sqlite:///{tmp_path / 'shop.db'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_database"))
    database = Database(url)
    await database.open()
    yield database
    await database.close()


async def write(db: Database, order: str, *states: str) -> None:
    def unit(c: Any) -> None:
        for state in states:
            events.append(c, order, at=Clock().now + 0.123456789, state=state,
                          message=f"{state} for {order}", eta_at=None, visible=True)

    await db.run(unit)


async def receipts(db: Database, **kwargs: Any) -> Receipts:
    r = Receipts(db, clock=Clock(), **kwargs)
    await r.open()
    return r


def sql(tmp_path: Path, statement: str, *params: Any) -> None:
    con = sqlite3.connect(tmp_path / "shop.db")
    con.execute(statement, params)
    con.commit()
    con.close()


async def test_events_are_logged_and_a_receipt_verifies(any_db: Database) -> None:
    db = any_db
    r = await receipts(db)
    with pytest.raises(NotLogged, match="no head signed yet"):
        await r.receipt("A")
    for order in "ABC":
        await write(db, order, *STATES[:2])
    head = await r.tick()
    assert head is not None and head.size == 6
    assert await r.tick() is None  # nothing new: no new head
    receipt = await r.receipt("B")
    assert [e["state"] for e in receipt["events"]] == STATES[:2] and receipt["pending"] == []
    assert verify_receipt(receipt, r.public_key) == [
        f"order B: 2 events, last paid, in the log of 6 entries signed at {head.at}"]


async def test_events_after_the_head_are_pending_until_the_next_tick(db: Database) -> None:
    r = await receipts(db)
    await write(db, "A", *STATES[:2])
    await r.tick()
    await write(db, "A", *STATES[2:])
    receipt = await r.receipt("A")
    assert [e["state"] for e in receipt["pending"]] == STATES[2:]
    verify_receipt(receipt, r.public_key)
    await r.tick()
    assert len((await r.receipt("A"))["events"]) == 4
    with pytest.raises(NotLogged, match="not in a signed head"):
        await r.receipt("nobody")


async def test_a_later_head_extends_an_earlier_one(any_db: Database) -> None:
    db = any_db
    r = await receipts(db)
    await write(db, "A", *STATES[:3])
    first = await r.tick()
    await write(db, "B", *STATES)
    await write(db, "A", "delivered")
    assert first is not None and await r.tick() is not None
    receipt = await r.receipt("A", since=[first.size])
    (proof,) = receipt["consistency"]
    earlier = [(first, [bytes.fromhex(p) for p in proof["proof"]])]
    assert verify_receipt(receipt, r.public_key, earlier)[1] == (
        f"it extends the log of 3 entries signed at {first.at}")
    with pytest.raises(NotLogged, match="rolled back"):
        r.consistency(99)


async def test_a_restart_keeps_the_key_and_the_log(any_db: Database) -> None:
    db = any_db
    r = await receipts(db)
    await write(db, "A", *STATES[:2])
    await r.tick()
    again = await receipts(db)
    assert again.public_key == r.public_key and again.head == r.head
    await write(db, "A", *STATES[2:])
    head = await again.tick()
    assert head is not None and head.size == 4
    verify_receipt(await again.receipt("A"), r.public_key)


async def test_a_key_file_is_created_private_and_reused(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "receipt-key.pem"
    r = await receipts(db, key_path=str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (await receipts(db, key_path=str(path))).public_key == r.public_key
    path.write_text("not a key")
    with pytest.raises(ValueError, match="not a PEM private key"):
        await receipts(db, key_path=str(path))


async def test_a_failed_store_leaves_the_log_as_it_was(db: Database) -> None:
    r = await receipts(db)
    await write(db, "A", *STATES[:2])
    await r.tick()
    await write(db, "B", "pending_payment")
    sql_db = r.db

    class Failing:
        calls = 0

        async def run(self, unit: Any) -> Any:
            Failing.calls += 1
            if Failing.calls == 2:
                raise RuntimeError("disk full")
            return await sql_db.run(unit)

    r.db = Failing()  # type: ignore[assignment]
    with pytest.raises(RuntimeError):
        await r.tick()
    assert len(r.log) == 2
    r.db = sql_db
    head = await r.tick()
    assert head is not None and head.size == 3


# -- tampering --------------------------------------------------------------------------------

async def logged(db: Database, tmp_path: Path) -> tuple[Receipts, TreeHead]:
    r = await receipts(db)
    for order in "ABC":
        await write(db, order, *STATES)
    head = await r.tick()
    assert head is not None
    assert audit_log(read(tmp_path / "shop.db", stored_log)) == []
    return r, head


async def test_an_event_edited_after_its_head_is_caught(db: Database, tmp_path: Path) -> None:
    r, _ = await logged(db, tmp_path)
    sql(tmp_path, "UPDATE order_events SET state = 'refunded' WHERE order_no = 'B' AND seq = 4")
    with pytest.raises(ReceiptError, match="event 4 \\(refunded\\) is not in the log"):
        verify_receipt(await r.receipt("B"), r.public_key)
    (row,) = audit_log(read(tmp_path / "shop.db", stored_log))
    assert row["order_no"] == "B" and row["problem"] == "its event was edited after it was logged"


async def test_a_deleted_event_is_caught(db: Database, tmp_path: Path) -> None:
    r, _ = await logged(db, tmp_path)
    sql(tmp_path, "DELETE FROM order_events WHERE order_no = 'C' AND seq = 2")
    with pytest.raises(ReceiptError, match="removed or reordered"):
        verify_receipt(await r.receipt("C"), r.public_key)
    assert [p["problem"] for p in audit_log(read(tmp_path / "shop.db", stored_log))] == [
        "its event was deleted after it was logged"]


async def test_a_rewritten_and_re_signed_history_is_caught(db: Database, tmp_path: Path) -> None:
    """The worst case: whoever holds the database edits an event, rebuilds the whole log and
    re-signs every head with the shop's own key. Each receipt verifies on its own; the head
    the buyer (or the drill) kept earlier proves the rewrite."""
    r, kept = await logged(db, tmp_path)
    sql(tmp_path, "UPDATE order_events SET state = 'refunded' WHERE order_no = 'B' AND seq = 4")
    sql(tmp_path, "DELETE FROM receipt_log")
    sql(tmp_path, "DELETE FROM receipt_heads")
    await write(db, "D", "pending_payment")
    forger = await receipts(db)
    await forger.tick()
    receipt = await forger.receipt("B", since=[kept.size])
    assert forger.public_key == r.public_key
    assert verify_receipt(receipt, r.public_key)[0].startswith("order B: 4 events, last "
                                                               "refunded")
    earlier = [(kept, [bytes.fromhex(p) for p in receipt["consistency"][0]["proof"]])]
    with pytest.raises(ReceiptError, match="history was rewritten"):
        verify_receipt(receipt, r.public_key, earlier)
    assert audit_log(read(tmp_path / "shop.db", stored_log)) == []  # alone it looks fine
    (row,) = audit_log(read(tmp_path / "shop.db", lambda c: stored_log(c, [kept])))
    assert "recorded by the drill" in row["problem"] and "rewritten" in row["problem"]


def test_the_audit_catches_a_gap_and_a_forged_head() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    leaves = [bytes([i]) * 32 for i in range(3)]
    good = sign_head(key, 3, MerkleLog(leaves).root(), 1.0)
    forged = sign_head(other, 3, MerkleLog(leaves).root(), 2.0)
    entries = [(0, leaves[0].hex(), None), (2, leaves[2].hex(), None)]
    rows = audit_log(StoredLog(entries, [good, forged], public_key_hex(key)))
    problems = [r["problem"] for r in rows]
    assert problems[0] == "its event was deleted after it was logged"
    assert problems[1] == "log entry missing (found 2)"
    assert "no longer produces" in problems[2]  # the gap cut the log at one entry
    assert "not the shop's" in problems[3]


async def test_a_backlog_is_logged_in_batches_without_waiting(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from fakalab.reference_shop import receipts as module

    monkeypatch.setattr(module, "BATCH", 2)
    await write(db, "A", *STATES)
    await write(db, "B", "pending_payment")
    r = await receipts(db, interval_s=3600.0)  # only a backlog makes the loop go on at once
    await r.tick()
    assert r.head is not None and r.head.size == 2
    task = asyncio.create_task(r.loop())
    try:
        for _ in range(1000):  # up to 10 s on a busy machine; it takes milliseconds
            await asyncio.sleep(0.01)
            if r.head.size == 5:
                break
    finally:
        task.cancel()
    assert r.head.size == 5
    verify_receipt(await r.receipt("A"), r.public_key)
