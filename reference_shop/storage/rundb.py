"""A drill's own database on a PostgreSQL server: made fresh for the run, copied into the run
directory when the shop has stopped (so the run stays self-contained and its audit needs no
server), then dropped.

    url = create_run_database("postgresql://user@host:5432/postgres", "fakalab_20261202_flash")
    ...                                   # the shop runs on `url`
    copy_to_sqlite(url, run_dir / "shop.db")
    drop_run_database("postgresql://user@host:5432/postgres", "fakalab_20261202_flash")
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from fakalab.reference_shop import db
from fakalab.reference_shop.dburl import (
    DatabaseProblem,
    database_url,
    sqlite_path,
    unreachable,
)

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


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        try:
            conn = await engine.connect()
        except Exception as exc:  # the driver's error, told in one line
            raise unreachable(url, exc) from None
        try:
            await conn.execute(text(statement))
        finally:
            await conn.close()
    finally:
        await engine.dispose()


def create_run_database(server_url: str, name: str) -> str:
    """Create database `name` on the server of `server_url` (dropping a leftover of that name);
    its URL."""
    server = _server(server_url)
    asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}"'))
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def drop_run_database(server_url: str, name: str) -> None:
    asyncio.run(_admin(_server(server_url), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _copy(source: str, target: str) -> int:
    src, dst = create_async_engine(source), create_async_engine(target)
    copied = 0
    try:
        async with dst.begin() as out:
            await out.run_sync(db.metadata.create_all)
        async with src.connect() as conn, dst.begin() as out:
            for table in db.metadata.sorted_tables:
                rows = [dict(r) for r in (await conn.execute(select(table))).mappings()]
                if rows:
                    await out.execute(insert(table), rows)
                copied += len(rows)
    finally:
        await src.dispose()
        await dst.dispose()
    return copied


def copy_to_sqlite(url: str, path: Path) -> int:
    """Copy every table of the shop database at `url` into a new SQLite file; rows copied."""
    if path.exists():
        raise DatabaseProblem(f"{path}: already exists")
    return asyncio.run(_copy(database_url(url), database_url(str(path))))
