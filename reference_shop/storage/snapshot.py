"""A shop database at rest, read whole: what the run directory's export and the audit need.

    snapshot = read_snapshot(run_dir / "shop.db")      # or any URL the shop accepts

SQLite files are opened read-only (nothing is created where there is no database); a
PostgreSQL URL is read with the same async engine the shop uses. Every problem is a
DatabaseProblem whose message is one line.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from fakalab.reference_shop.dburl import (
    SQLITE,
    DatabaseProblem,
    DatabaseUnavailable,
    database_url,
    is_memory,
    sqlite_path,
    unreachable,
)
from fakalab.reference_shop.storage import events, incidents, orders, products, stock
from fakalab.reference_shop.storage.rows import EventRow, IncidentRow, KeyRow, OrderRow, ProductRow

__all__ = ["Snapshot", "read_snapshot"]

T = TypeVar("T")


@dataclass(frozen=True)
class Snapshot:
    orders: tuple[OrderRow, ...]  # oldest first
    events: tuple[EventRow, ...]  # by order_no, seq
    incidents: tuple[IncidentRow, ...]  # as stored
    keys: tuple[KeyRow, ...]
    products: tuple[ProductRow, ...]


def read_snapshot(where: str | Path) -> Snapshot:
    """Read the database at ``where`` (a SQLite path, or a URL); DatabaseProblem if it can't."""
    url = database_url(str(where))
    if is_memory(url):
        raise DatabaseUnavailable("an in-memory database is gone once its shop stops; "
                                  "give the file or the server it was kept in")
    path = sqlite_path(url)
    if path is not None:
        if not path.is_file():
            raise DatabaseUnavailable(f"{path}: no shop database there")
        return _run(_read(_read_only(path), f"{path}"))
    return _run(_read(url, None))


def _read_only(path: Path) -> str:
    return URL.create(SQLITE, database=f"file:{quote(str(path))}",
                      query={"mode": "ro", "uri": "true"}).render_as_string()


async def _read(url: str, path: str | None) -> Snapshot:
    engine = create_async_engine(url)
    try:
        try:
            conn = await engine.connect()
        except Exception as exc:  # the driver's error, told in one line
            raise unreachable(url, exc) from None
        try:
            return Snapshot(tuple(await orders.all_orders(conn)),
                            tuple(await events.all_events(conn)),
                            tuple(await incidents.all_updates(conn)),
                            tuple(await stock.all_keys(conn)),
                            tuple(await products.all_products(conn)))
        except SQLAlchemyError as exc:
            what = path or "the database"
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise DatabaseProblem(f"{what}: not a shop database ({detail})") from None
        finally:
            await conn.close()
    finally:
        await engine.dispose()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run to completion, also when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
