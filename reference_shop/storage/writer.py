"""The shop's one writer: a thread with its own database connection that runs units of work in
order and commits them in groups.

A *unit* is a plain function of a `Cursor` — every statement of one business step (place an
order, apply a payment, move an order on), no `await` inside. `Writer.run(unit)` queues it and
returns its result once it is **committed**. The thread takes everything queued while the last
group ran, runs it in one transaction and commits once: under load a commit carries dozens of
units, with no lock handed around and no thread hop per statement (the cost that dominated:
about 0.5 ms of CPU per statement through SQLAlchemy's asyncio layer and aiosqlite, against
2 µs for a statement on the connection itself).

A unit must have no effect outside the database, and signal expected outcomes by its result,
not by raising: when a unit raises, its group is rolled back and each of its units is run
again on its own, so the others still commit and only the failing one gets its exception.

SQL is written once with `?` placeholders; PostgreSQL (psycopg) gets `%s`.

On PostgreSQL a group runs in psycopg's **pipeline mode**: a statement whose result the unit
does not read (`Cursor.run`: the inserts and updates) is sent without waiting for the server,
and only a read (`one`, `all`, `count`) waits — for everything sent before it. Each round trip
to the server cost the writer about 120 µs of waiting on a two-core machine (its process woken,
the server's woken), and an order made about 35 statements: the writer was latency-bound at
about 730 µs a unit, 150 orders a second. An error of a sent statement surfaces at the next
read or at the group's end; the group is then rolled back and each unit run again on its own,
outside the pipeline, so the failing unit gets its own exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

__all__ = ["Cursor", "Unit", "Writer", "WriterStats"]

log = logging.getLogger("fakalab.storage")
T = TypeVar("T")
Dialect = Literal["sqlite", "postgresql"]


class DbApiConnection(Protocol):
    def cursor(self) -> Any: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...


class Cursor:
    """Statements of one unit, on the writer's connection (`?` placeholders)."""

    def __init__(self, raw: Any, dialect: Dialect) -> None:
        self._raw = raw
        self.dialect = dialect
        self._sql: dict[str, str] = {}
        self.pipeline: Any = None  # psycopg's Pipeline while a group runs in pipeline mode
        # What the writer's own statements wrote and will read again (an order's row, the end
        # of its event chain), so that a unit need not ask the database: the writer is the only
        # one writing, so this is the database's state — forgotten at every rollback.
        self.memo: dict[Any, Any] = {}

    def forget(self) -> None:
        """After a rollback: what the memo holds may never have been committed."""
        self.memo.clear()

    def _text(self, sql: str) -> str:
        if self.dialect == "sqlite":
            return sql
        found = self._sql.get(sql)
        if found is None:
            found = self._sql[sql] = sql.replace("?", "%s")
        return found

    def one(self, sql: str, *params: Any) -> tuple[Any, ...] | None:
        self._raw.execute(self._text(sql), params)
        found: tuple[Any, ...] | None = self._raw.fetchone()
        return found

    def all(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        self._raw.execute(self._text(sql), params)
        return list(self._raw.fetchall())

    def run(self, sql: str, *params: Any) -> None:
        """Execute a statement whose result the unit does not need (in a pipeline: sent, not
        waited for)."""
        self._raw.execute(self._text(sql), params)

    def count(self, sql: str, *params: Any) -> int:
        """Execute; the number of rows it changed (waits for the server)."""
        self._raw.execute(self._text(sql), params)
        if self.pipeline is not None:
            self.pipeline.sync()
        return int(self._raw.rowcount)

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._raw.executemany(self._text(sql), rows)


Unit = Callable[[Cursor], T]


@dataclass
class WriterStats:
    """What the writer did, for the metrics and the benchmark's bottleneck line."""

    units: int = 0
    groups: int = 0
    retried_groups: int = 0
    busy_s: float = 0.0  # in transactions (statements and commits)
    commit_s: float = 0.0
    wait_s: float = 0.0  # units waiting in the queue before their group started
    largest_group: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@dataclass
class _Job:
    unit: Callable[[Cursor], Any]
    future: asyncio.Future[Any]
    queued: float


_STOP = object()


class Writer:
    def __init__(self, connect: Callable[[], DbApiConnection], dialect: Dialect,
                 max_group: int = 512) -> None:
        self._connect = connect
        self.dialect: Dialect = dialect
        self.max_group = max_group
        self.stats = WriterStats()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None

    def start(self) -> None:
        """Open the connection in the writer's thread (errors are raised here)."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._main, name="fakalab-writer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failed is not None:
            failed, self._thread = self._failed, None
            raise failed

    async def close(self) -> None:
        if self._thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    async def run(self, unit: Callable[[Cursor], T]) -> T:
        """Run `unit` in the writer's next group; its result, once committed."""
        if self._thread is None or self._loop is None:
            raise RuntimeError("the database writer is not running")
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put(_Job(unit, future, time.perf_counter()))
        return await future

    # -- the writer's thread -----------------------------------------------------------------
    def _main(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # told to the caller of start()
            self._failed = exc
            self._ready.set()
            return
        self._ready.set()
        cursor = Cursor(conn.cursor(), self.dialect)
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                group = [first]
                while len(group) < self.max_group:
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if job is _STOP:
                        self._queue.put(_STOP)  # stop after this group
                        break
                    group.append(job)
                self._run_group(conn, cursor, group)
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def _run_group(self, conn: DbApiConnection, cursor: Cursor, group: list[_Job]) -> None:
        started = time.perf_counter()
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        try:
            if self.dialect == "postgresql":
                with conn.pipeline() as pipeline:  # type: ignore[attr-defined]
                    cursor.pipeline = pipeline
                    try:
                        results = [job.unit(cursor) for job in group]
                    finally:
                        cursor.pipeline = None
            else:
                results = [job.unit(cursor) for job in group]
            committing = time.perf_counter()
            conn.commit()
            commit_s = time.perf_counter() - committing
            outcomes = [(job, result, None) for job, result in zip(group, results, strict=True)]
        except Exception:
            cursor.forget()
            with contextlib.suppress(Exception):
                conn.rollback()
            commit_s = 0.0
            outcomes = [self._alone(conn, cursor, job) for job in group]
            with self.stats._lock:
                self.stats.retried_groups += 1
        busy = time.perf_counter() - started
        with self.stats._lock:
            s = self.stats
            s.units += len(group)
            s.groups += 1
            s.busy_s += busy
            s.commit_s += commit_s
            s.wait_s += sum(started - job.queued for job in group)
            s.largest_group = max(s.largest_group, len(group))
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            self._loop.call_soon_threadsafe(_resolve, outcomes)

    @staticmethod
    def _alone(conn: DbApiConnection, cursor: Cursor, job: _Job
               ) -> tuple[_Job, Any, BaseException | None]:
        try:
            result = job.unit(cursor)
            conn.commit()
            return job, result, None
        except Exception as exc:
            cursor.forget()
            with contextlib.suppress(Exception):
                conn.rollback()
            return job, None, exc


def _resolve(outcomes: list[tuple[_Job, Any, BaseException | None]]) -> None:
    for job, result, exc in outcomes:
        if job.future.done():  # the caller was cancelled; the unit committed all the same
            continue
        if exc is not None:
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)
