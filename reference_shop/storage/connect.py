"""Plain DB-API connections to a shop database — the writer's, and a snapshot's: sqlite3 (WAL)
or psycopg 3, from the URLs `dburl.database_url` normalises."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy.engine import make_url

from fakalab.reference_shop.dburl import is_memory, sqlite_path
from fakalab.reference_shop.storage.writer import DbApiConnection, Dialect

__all__ = ["connector", "dialect_of", "memory_uri", "sqlite_connection"]


def dialect_of(url: str) -> Dialect:
    return "sqlite" if make_url(url).get_backend_name() == "sqlite" else "postgresql"


def memory_uri(name: str) -> str:
    """A named in-memory SQLite database every connection of this process shares."""
    return f"file:{name}?mode=memory&cache=shared"


def sqlite_connection(target: str | Path, *, read_only: bool = False, uri: bool = False
                      ) -> sqlite3.Connection:
    """A connection for the shop's use: WAL, synchronous NORMAL, a 30 s busy timeout."""
    if read_only:
        conn = sqlite3.connect(f"file:{quote(str(target))}?mode=ro", uri=True, timeout=30,
                               check_same_thread=False)
    else:
        conn = sqlite3.connect(str(target), uri=uri, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _postgres(url: str) -> Any:
    import psycopg  # the postgres extra; dburl.database_url has checked it is installed

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(conninfo, connect_timeout=10)


def connector(url: str, *, memory_name: str | None = None) -> Callable[[], DbApiConnection]:
    """A function opening a new connection to the (normalised) `url`."""
    if dialect_of(url) == "postgresql":
        return lambda: _postgres(url)  # type: ignore[no-any-return]
    if is_memory(url):
        name = memory_uri(memory_name or "fakalab")
        return lambda: sqlite_connection(name, uri=True)
    path = sqlite_path(url)
    assert path is not None
    return lambda: sqlite_connection(path)
