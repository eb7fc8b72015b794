"""A drill's own database on a PostgreSQL server: made fresh for the run, copied into the run
directory when the shop has stopped (so the run stays self-contained and its audit needs no
server), then dropped.

    url = create_run_database("postgresql://user@host:5432/postgres", "fakalab_20261202_flash")
    ...                                   # the shop runs on `url`
    copy_to_sqlite(url, run_dir / "shop.db")
    drop_run_database("postgresql://user@host:5432/postgres", "fakalab_20261202_flash")
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from fakalab.reference_shop import db
from fakalab.reference_shop.dburl import (
    DatabaseProblem,
    database_url,
    sqlite_path,
    unreachable,
)
from fakalab.reference_shop.storage.connect import sqlite_connection

__all__ = ["copy_to_sqlite", "create_run_database", "drop_run_database", "run_database_name"]


def run_database_name(run_id: str) -> str:
    """A PostgreSQL database name for a run: lower case, `[a-z0-9_]`, at most 63 characters."""
    return ("fakalab_" + re.sub(r"[^a-z0-9]+", "_", run_id.lower()).strip("_"))[:63]


def _server(url: str) -> str:
    normalised = database_url(url)
    if sqlite_path(normalised) is not None or normalised.startswith("sqlite"):
        raise DatabaseProblem("a drill keeps a SQLite database in its run directory "
                              "(RUN_DIR/shop.db); shop.db_url is for a PostgreSQL server")
    return normalised


def _connect(url: str, *, autocommit: bool = False) -> Any:
    import psycopg  # the postgres extra; dburl.database_url has checked it is installed

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        return psycopg.connect(conninfo, connect_timeout=10, autocommit=autocommit)
    except psycopg.Error as exc:  # the driver's error, told in one line
        raise unreachable(url, exc) from None


def _admin(url: str, statement: str) -> None:
    import psycopg

    with _connect(url, autocommit=True) as conn:
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            raise DatabaseProblem(f"{statement.split(' (')[0]}: "
                                  f"{str(exc).strip().splitlines()[0]}") from None


def create_run_database(server_url: str, name: str) -> str:
    """Create database `name` on the server of `server_url` (dropping a leftover of that name);
    its URL."""
    server = _server(server_url)
    _admin(server, f'DROP DATABASE IF EXISTS "{name}"')
    _admin(server, f'CREATE DATABASE "{name}"')
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def drop_run_database(server_url: str, name: str) -> None:
    _admin(_server(server_url), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def copy_to_sqlite(url: str, path: Path) -> int:
    """Copy every table of the shop database at `url` into a new SQLite file; rows copied.
    A failure leaves no half-written file behind (the source database is kept)."""
    import psycopg

    if path.exists():
        raise DatabaseProblem(f"{path}: already exists")
    copied = 0
    out = sqlite_connection(path)
    try:
        with _connect(database_url(url)) as src:
            for statement in db.schema("sqlite"):
                out.execute(statement)
            for table in db.metadata.sorted_tables:
                columns = [c.name for c in table.columns]
                names = ", ".join(f'"{c}"' for c in columns)
                rows = src.execute(f'SELECT {names} FROM "{table.name}"').fetchall()
                out.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES '
                                f'({", ".join("?" * len(columns))})', rows)
                copied += len(rows)
        out.commit()
    except (psycopg.Error, OSError, ValueError) as exc:
        out.close()
        with contextlib.suppress(OSError):
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)
        raise DatabaseProblem(f"copying the run's database into {path}: "
                              f"{str(exc).strip().splitlines()[0]}") from None
    except BaseException:
        out.close()
        raise
    out.close()
    return copied
