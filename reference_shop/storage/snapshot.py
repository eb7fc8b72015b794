"""A shop database at rest, read whole: what the run directory's export and the audit need.

    snapshot = read_snapshot(run_dir / "shop.db")      # or any URL the shop accepts

SQLite files are opened read-only (nothing is created where there is no database); a
PostgreSQL URL is read with psycopg — both through the same storage functions the shop runs.
Every problem is a DatabaseProblem whose message is one line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fakalab.reference_shop.dburl import (
    DatabaseProblem,
    DatabaseUnavailable,
    database_url,
    is_memory,
    sqlite_path,
    unreachable,
)
from fakalab.reference_shop.storage import events, incidents, orders, products, stock
from fakalab.reference_shop.storage.connect import connector, dialect_of, sqlite_connection
from fakalab.reference_shop.storage.rows import EventRow, IncidentRow, KeyRow, OrderRow, ProductRow
from fakalab.reference_shop.storage.writer import Cursor

__all__ = ["Snapshot", "read", "read_snapshot"]

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
    return read(where, _snapshot)


def _snapshot(c: Cursor) -> Snapshot:
    return Snapshot(tuple(orders.all_orders(c)), tuple(events.all_events(c)),
                    tuple(incidents.all_updates(c)), tuple(stock.all_keys(c)),
                    tuple(products.all_products(c)))


def read(where: str | Path, unit: Callable[[Cursor], T]) -> T:
    """Run the read-only ``unit`` on the database at ``where`` (a SQLite path, or a URL);
    DatabaseProblem (one line) if it can't."""
    url = database_url(str(where))
    if is_memory(url):
        raise DatabaseUnavailable("an in-memory database is gone once its shop stops; "
                                  "give the file or the server it was kept in")
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        raise DatabaseUnavailable(f"{path}: no shop database there")
    try:
        conn: Any = (sqlite_connection(path, read_only=True) if path is not None
                     else connector(url)())
    except Exception as exc:  # the driver's error, told in one line
        raise unreachable(url, exc) from None
    try:
        return unit(Cursor(conn.cursor(), dialect_of(url)))
    except Exception as exc:  # sqlite3.DatabaseError, psycopg's errors: not a shop database
        detail = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise DatabaseProblem(f"{path or 'the database'}: not a shop database ({detail})"
                              ) from None
    finally:
        conn.close()
