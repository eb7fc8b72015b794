"""Database URLs: the forms a person types, normalised to the drivers the shop runs on
(``sqlite3``, psycopg 3), and connection failures told in one line.

=============================================  ==========================================
given                                          used
=============================================  ==========================================
``shop.db``, ``./runs/x/shop.db`` (a path)     ``sqlite:///shop.db``
``sqlite+aiosqlite:///shop.db``, ``…:////abs.db``  ``sqlite:///shop.db``, ``sqlite:////abs.db``
``sqlite:///:memory:``, ``sqlite://``          ``sqlite:///:memory:``
``postgresql://…``, ``postgres://…``           ``postgresql+psycopg://…`` (psycopg 3)
``postgresql+asyncpg://…`` and other drivers    ``postgresql+psycopg://…``
=============================================  ==========================================
"""

from __future__ import annotations

import importlib
import socket
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = [
    "FORMS",
    "POSTGRES",
    "SQLITE",
    "BadDatabaseUrl",
    "DatabaseProblem",
    "DatabaseUnavailable",
    "database_url",
    "is_memory",
    "shown",
    "sqlite_path",
    "unreachable",
]

FORMS = ("PATH", "sqlite:///PATH", "sqlite:///:memory:",
         "postgresql://USER:PASSWORD@HOST:PORT/DATABASE (or postgres://…)")
SQLITE = "sqlite"
POSTGRES = "postgresql+psycopg"
_SQLITE_NAMES = {"sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"}
_POSTGRES_NAMES = {"postgres", "postgresql", "postgresql+asyncpg", "postgres+asyncpg",
                   "postgresql+psycopg2", "postgresql+psycopg", "postgresql+pg8000"}


class DatabaseProblem(ValueError):
    """The database cannot be used; the message is one line naming the problem."""


class BadDatabaseUrl(DatabaseProblem):
    """A URL of a form the shop cannot use (or whose driver is not installed)."""


class DatabaseUnavailable(DatabaseProblem):
    """The database does not answer, or is not there."""


def database_url(text: str) -> str:
    """The canonical URL for ``text`` (a URL or a SQLite path); BadDatabaseUrl if none."""
    text = text.strip()
    if not text:
        raise _unusable("an empty database URL")
    if "://" not in text:
        return URL.create(SQLITE, database=str(Path(text).expanduser())).render_as_string(
            hide_password=False)
    try:
        url = make_url(text)
    except ArgumentError:
        raise _unusable(f"the database URL {text!r}") from None
    name = url.drivername.lower()
    if name in _SQLITE_NAMES:
        if url.database in (None, "", ":memory:"):
            return f"{SQLITE}:///:memory:"
        return url.set(drivername=SQLITE).render_as_string(hide_password=False)
    if name in _POSTGRES_NAMES:
        _need_psycopg()
        query = dict(url.query)
        if "ssl" in query:  # asyncpg's name; libpq (psycopg) calls it sslmode
            query.setdefault("sslmode", query.pop("ssl"))
        return url.set(drivername=POSTGRES, query=query).render_as_string(hide_password=False)
    raise _unusable(f"the database URL {shown(text)}")


def _unusable(what: str) -> BadDatabaseUrl:
    return BadDatabaseUrl(f"cannot use {what}; the forms that work: {', '.join(FORMS)}")


def _need_psycopg() -> None:
    try:
        importlib.import_module("psycopg")
    except ImportError:
        raise BadDatabaseUrl("PostgreSQL needs the psycopg driver, which is not installed: "
                             "pip install 'fakalab[postgres]'") from None


def shown(url: str) -> str:
    """The URL as it may be printed: the password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def is_memory(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and (
        parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory")


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for an in-memory or a non-SQLite database."""
    if is_memory(url):
        return None
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database is None:
        return None
    return Path(parsed.database)


def unreachable(url: str, exc: BaseException) -> DatabaseUnavailable:
    """A connection failure as one line: where, and why."""
    path = sqlite_path(url)
    where = f"open the database {path}" if path else f"connect to the database at {shown(url)}"
    return DatabaseUnavailable(f"cannot {where}: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    lines = str(orig if orig is not None else exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    # libpq (psycopg) says 'connection failed: connection to server at "h", port 5432
    # failed: Connection refused': the reason is what comes after the last "failed: "
    reason = lines[0].rsplit("failed: ", 1)[-1].strip()
    reason = reason.removeprefix("FATAL:").strip()  # the server's severity, not the reason
    return reason[:1].lower() + reason[1:]
