"""Tables (SQLAlchemy Core metadata: the schema, compiled to DDL) and the database handle.

The statements over these tables live in ``storage/``, one module per concept, and run on the
shop's one writer (``storage/writer.py``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from fakalab.reference_shop.dburl import (
    DatabaseUnavailable,
    database_url,
    is_memory,
    sqlite_path,
    unreachable,
)
from fakalab.reference_shop.storage.connect import connector, dialect_of
from fakalab.reference_shop.storage.writer import Cursor, Dialect, Writer

__all__ = ["Database", "metadata", "schema"]

T = TypeVar("T")

metadata = MetaData()

products = Table(
    "products", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("price_cents", Integer, nullable=False),
    Column("priority", Integer, nullable=False, default=1),
    Column("kind", String(16), nullable=False),  # local | supplier
    Column("sku", String(64)),
    Column("supplier_stock", Integer, nullable=False, default=0),
)

card_keys = Table(
    "card_keys", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("product_id", String(64), ForeignKey("products.id"), nullable=False),
    Column("secret", Text, nullable=False),
    Column("status", String(16), nullable=False),  # available | reserved | sold
    Column("order_no", String(32)),
    Column("source", String(16), nullable=False, default="local"),
    Column("sold_at", Float),
    # The next available key of a product, in stock order, without passing the sold ones: with
    # (product_id, status) alone PostgreSQL scanned the primary key and filtered out every
    # sold key — a reservation slower with every sale (0.5 ms after 1,500 sold, 0.04 ms so).
    # SQLite orders an index by rowid (= id) anyway.
    Index("ix_keys_product_status_id", "product_id", "status", "id"),
    Index("ix_keys_order", "order_no"),
)

orders = Table(
    "orders", metadata,
    Column("order_no", String(32), primary_key=True),
    Column("product_id", String(64), ForeignKey("products.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("amount_cents", Integer, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("email", String(254), nullable=False),
    Column("query_password_hash", String(128)),
    Column("token_hash", String(64), nullable=False),
    Column("persona", String(32)),
    Column("channel", String(32)),
    Column("payment_id", String(64)),
    Column("pay_url", Text),
    Column("state", String(24), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("buyer_paid_at", Float),
    Column("paid_at", Float),
    Column("delivered_at", Float),
    Column("last_query_at", Float),
    Column("updated_at", Float, nullable=False),
    Column("last_error", Text),
    Index("ix_orders_state", "state"),
    Index("ix_orders_email", "email"),
)

order_events = Table(
    "order_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_no", String(32), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("state", String(24), nullable=False),
    Column("message", Text, nullable=False),
    Column("eta_at", Float),
    Column("visible", Boolean, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("order_no", "seq"),
)

callback_attempts = Table(
    "callback_attempts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("source", String(16), nullable=False),  # callback | query
    Column("channel", String(32)),
    Column("trade_no", String(64)),
    Column("payment_id", String(64)),
    Column("amount", String(32)),
    Column("outcome", String(32), nullable=False),
    Column("detail", Text),
)

tickets = Table(
    "tickets", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_no", String(32)),
    Column("at", Float, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("message", Text),
    Column("waited_s", Float),
)

incident_updates = Table(
    "incident_updates", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(32), nullable=False),
    Column("component", String(32), nullable=False),
    Column("state", String(24), nullable=False),
    Column("at", Float, nullable=False),
    Column("message", Text, nullable=False),
)

notifications = Table(
    "notifications", metadata,
    Column("order_no", String(32), primary_key=True),
    Column("status", String(16), nullable=False),  # sent | failed (after the call's retries)
    Column("at", Float, nullable=False),
)

# Verifiable receipts (reference_shop/receipts.py, docs/receipts.md): the append-only Merkle
# log of order events (leaf idx = position in the log), the signed tree heads published, and
# the signing key when no key file is configured.
receipt_log = Table(
    "receipt_log", metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("event_id", Integer, nullable=False),
    Column("order_no", String(32), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("leaf", String(64), nullable=False),  # hex SHA-256(0x00 || canonical event)
    UniqueConstraint("event_id"),
)

receipt_heads = Table(
    "receipt_heads", metadata,
    Column("size", Integer, primary_key=True, autoincrement=False),
    Column("root", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("signature", String(128), nullable=False),
)

receipt_keys = Table(
    "receipt_keys", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("private_pem", Text, nullable=False),
)


class Database:
    """The shop's database: its one writer (``storage/writer.py``), through which every unit of
    work — reads of the hot path included — runs and commits in groups; the schema is created
    through it too. A second, read-only connection in a thread serves whole-table exports, so
    they never hold up the writer.

    ``url`` may be any form :func:`~fakalab.reference_shop.dburl.database_url` accepts; an
    in-memory SQLite database is shared by both connections and lives as long as the writer."""

    def __init__(self, url: str) -> None:
        self.url = url = database_url(url)
        self.is_sqlite = url.startswith("sqlite")
        self.in_memory = is_memory(url)
        self._memory_name = f"fakalab_{uuid.uuid4().hex}" if self.in_memory else None
        self.dialect = dialect_of(url)
        self.writer = Writer(connector(url, memory_name=self._memory_name), self.dialect)

    @property
    def writes(self) -> int:
        return self.writer.stats.units

    @property
    def write_wait_s(self) -> float:
        return self.writer.stats.wait_s

    @property
    def write_hold_s(self) -> float:
        return self.writer.stats.busy_s

    async def open(self) -> None:
        """Connect and create the missing tables; DatabaseUnavailable (one line) if it can't."""
        path = sqlite_path(self.url)
        if path is not None and not path.resolve().parent.is_dir():
            raise DatabaseUnavailable(f"cannot open the database {path}: the directory "
                                      f"{path.parent} does not exist")
        try:
            self.writer.start()
            await self.create_all()
        except DatabaseUnavailable:
            raise
        except Exception as exc:  # whatever the driver raises, the person gets one line
            raise unreachable(self.url, exc) from None

    async def create_all(self) -> None:
        """The tables and indexes that are missing (CREATE … IF NOT EXISTS)."""
        statements = schema(self.dialect)

        def create(c: Cursor) -> None:
            for sql in statements:
                c.run(sql)

        await self.run(create)

    async def run(self, unit: Callable[[Cursor], T]) -> T:
        """Run a unit of work (``storage/writer.py``); its result once committed."""
        return await self.writer.run(unit)

    async def rows(self, select_sql: str, batch: int = 2000
                   ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """The rows of a whole-table query, in batches, read on a connection of their own."""
        conn = await asyncio.to_thread(self._reader)
        try:
            cursor = conn.cursor()
            await asyncio.to_thread(cursor.execute, select_sql)
            while chunk := await asyncio.to_thread(cursor.fetchmany, batch):
                yield list(chunk)
        finally:
            await asyncio.to_thread(conn.close)

    def _reader(self) -> Any:
        return connector(self.url, memory_name=self._memory_name)()

    async def close(self) -> None:
        await self.writer.close()


def schema(dialect: Dialect) -> list[str]:
    """CREATE TABLE / INDEX IF NOT EXISTS for every table, in dependency order."""
    compiled = sqlite_dialect.dialect() if dialect == "sqlite" else postgresql_dialect.dialect()
    out = []
    for table in metadata.sorted_tables:
        out.append(str(CreateTable(table, if_not_exists=True).compile(dialect=compiled)))
        out += [str(CreateIndex(index, if_not_exists=True).compile(dialect=compiled))
                for index in sorted(table.indexes, key=lambda i: str(i.name))]
    return out
