"""Tables and the database handle (SQLAlchemy 2, asyncio; SQLite in WAL mode by default).

The statements over these tables live in ``storage/``, one module per concept."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

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
    event,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from fakalab.reference_shop.dburl import (
    DatabaseUnavailable,
    database_url,
    is_memory,
    sqlite_path,
    unreachable,
)

__all__ = ["Database", "metadata"]

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
    Index("ix_keys_product_status", "product_id", "status"),
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


class Database:
    """The engine plus a write lock: SQLite has one writer, so writes are serialised here
    instead of failing with "database is locked". An in-memory SQLite database is one
    connection, so its reads take the lock too.

    ``url`` may be any form :func:`~fakalab.reference_shop.dburl.database_url` accepts."""

    def __init__(self, url: str) -> None:
        self.url = url = database_url(url)
        self.is_sqlite = url.startswith("sqlite")
        self.in_memory = is_memory(url)
        kwargs: dict[str, object] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._write_lock = asyncio.Lock()
        # Seconds spent waiting for, and holding, the write lock (for metrics and benchmarks).
        self.write_wait_s = 0.0
        self.write_hold_s = 0.0
        self.writes = 0

    async def create_all(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def open(self) -> None:
        """Connect and create the missing tables; DatabaseUnavailable (one line) if it can't."""
        path = sqlite_path(self.url)
        if path is not None and not path.resolve().parent.is_dir():
            raise DatabaseUnavailable(f"cannot open the database {path}: the directory "
                                      f"{path.parent} does not exist")
        try:
            await self.create_all()
        except Exception as exc:  # whatever the driver raises, the person gets one line
            raise unreachable(self.url, exc) from None

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction; serialised for SQLite, row-locked (FOR UPDATE) elsewhere."""
        if self.is_sqlite:
            asked = time.perf_counter()
            async with self._write_lock:
                got = time.perf_counter()
                try:
                    async with self.engine.begin() as conn:
                        yield conn
                finally:
                    self.writes += 1
                    self.write_wait_s += got - asked
                    self.write_hold_s += time.perf_counter() - got
        else:  # PostgreSQL: no lock of ours; "wait" is the wait for a pooled connection
            asked = time.perf_counter()
            async with self.engine.begin() as conn:
                got = time.perf_counter()
                try:
                    yield conn
                finally:
                    self.writes += 1
                    self.write_wait_s += got - asked
                    self.write_hold_s += time.perf_counter() - got

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        if self.in_memory:
            async with self._write_lock, self.engine.connect() as conn:
                yield conn
        else:
            async with self.engine.connect() as conn:
                yield conn

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
