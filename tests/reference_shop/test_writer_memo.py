"""The database writer's memo (storage/writer.py: in-flight order rows and the end of each
event chain, so a unit need not read back what the writer wrote) and PostgreSQL's pipeline mode:
a rolled-back unit leaves nothing behind in the memo, an error of a statement sent without
waiting reaches the unit that sent it, and the chain stays intact — on both backends."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from fakalab.reference_shop.db import Database
from fakalab.reference_shop.ledger import verify_chain
from fakalab.reference_shop.states import OrderState
from fakalab.reference_shop.storage import events, orders, products
from fakalab.reference_shop.storage.rows import OrderRow, ProductRow
from fakalab.reference_shop.storage.writer import Cursor
from tests.reference_shop.conftest import BACKENDS

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)
S = OrderState


def _order(order_no: str) -> OrderRow:
    return OrderRow(
        order_no=order_no, product_id="steam-50", quantity=1, amount_cents=5000, priority=1,
        kind="local", email="m@example.com", query_password_hash=None, token_hash="t",
        persona=None, channel=None, payment_id=None, pay_url=None,
        state=S.PENDING_PAYMENT.value, created_at=1.0, expires_at=999.0, buyer_paid_at=None,
        paid_at=None, delivered_at=None, last_query_at=None, updated_at=1.0, last_error=None)


def _place(order_no: str):  # type: ignore[no-untyped-def]
    def unit(c: Cursor) -> None:
        orders.insert_order(c, _order(order_no))
        events.append(c, order_no, at=1.0, state=S.PENDING_PAYMENT.value, message="placed",
                      eta_at=None, visible=True)
    return unit


def _pay(order_no: str, fail: bool = False):  # type: ignore[no-untyped-def]
    def unit(c: Cursor) -> None:
        order = orders.load(c, order_no)
        assert order is not None
        orders.transition(c, order, S.PAID, at=2.0, message="paid", eta_at=None,
                          visible=True, paid_at=2.0)
        if fail:
            raise RuntimeError("the unit fails after its writes")
    return unit


async def _opened(url: str) -> Database:
    db = Database(url)
    await db.open()
    await db.run(lambda c: products.add_product(c, ProductRow("steam-50", "S", 5000, 1, "local")))
    return db


def _chain(c: Cursor, order_no: str) -> list[dict[str, object]]:
    return [dataclasses.asdict(e) for e in events.for_order(c, order_no)]


async def test_a_rolled_back_unit_leaves_nothing_in_the_memo(shop_db_url: str) -> None:
    db = await _opened(shop_db_url)
    try:
        await db.run(_place("M1"))
        with pytest.raises(RuntimeError):
            await db.run(_pay("M1", fail=True))  # wrote a transition and an event, rolled back
        # The memo must not answer with the uncommitted row or chain end.
        order = await db.run(lambda c: orders.load(c, "M1"))
        assert order is not None and order.state == S.PENDING_PAYMENT.value
        await db.run(_pay("M1"))
        chain = await db.run(lambda c: _chain(c, "M1"))
        assert [e["seq"] for e in chain] == [1, 2] and not verify_chain(chain)
        fresh = Database(shop_db_url)  # a second process's view: what was committed
        await fresh.open()
        try:
            stored = await fresh.run(lambda c: orders.load(c, "M1"))
            assert stored is not None and stored.state == S.PAID.value
        finally:
            await fresh.close()
    finally:
        await db.close()


async def test_a_failing_statement_fails_only_its_own_unit(shop_db_url: str) -> None:
    db = await _opened(shop_db_url)
    try:
        await db.run(_place("M2"))
        # Units queued together share a group (on PostgreSQL, one pipeline): a duplicate order
        # number is sent without waiting, and its error comes back with a later statement.
        outcomes = await asyncio.gather(db.run(_place("M3")), db.run(_place("M2")),
                                        db.run(_pay("M3")), return_exceptions=True)
        assert outcomes[0] is None and outcomes[2] is None
        assert isinstance(outcomes[1], Exception)
        states = await db.run(lambda c: [orders.load(c, n) for n in ("M2", "M3")])
        assert [o.state for o in states if o] == [S.PENDING_PAYMENT.value, S.PAID.value]
        for order_no in ("M2", "M3"):
            chain = await db.run(lambda c, n=order_no: _chain(c, n))  # type: ignore[misc]
            assert not verify_chain(chain) and len(chain) == (1 if order_no == "M2" else 2)
    finally:
        await db.close()


async def test_a_product_is_read_once_and_a_rolled_back_one_is_forgotten(
        shop_db_url: str) -> None:
    db = await _opened(shop_db_url)
    try:
        assert await db.run(lambda c: products.product(c, "win-pro")) is None  # not memoised

        def add_then_fail(c: Cursor) -> None:
            products.add_product(c, ProductRow("win-pro", "W", 9000, 2, "local"))
            assert products.product(c, "win-pro") is not None  # read inside the unit
            raise RuntimeError("rolled back after reading the new product")

        with pytest.raises(RuntimeError):
            await db.run(add_then_fail)
        assert await db.run(lambda c: products.product(c, "win-pro")) is None
        await db.run(lambda c: products.add_product(
            c, ProductRow("win-pro", "W", 9000, 2, "local")))
        found = await db.run(lambda c: products.product(c, "win-pro"))
        assert found is not None and found.price_cents == 9000

        def reads(c: Cursor) -> int:  # a second read is answered from the memo
            statements = 0
            real = c.one

            def counted(*args: object) -> object:
                nonlocal statements
                statements += 1
                return real(*args)  # type: ignore[arg-type]

            c.one = counted  # type: ignore[method-assign]
            try:
                products.product(c, "win-pro")
            finally:
                del c.one
            return statements

        assert await db.run(reads) == 0
    finally:
        await db.close()
