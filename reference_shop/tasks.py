"""The shop's background tasks: its loops, and the side tasks (notifications, reconciliation
queries, hold timers) that callers start without waiting for them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterable
from typing import Any

__all__ = ["Tasks"]


class Tasks:
    def __init__(self) -> None:
        self._loops: list[asyncio.Task[Any]] = []
        self._side: set[asyncio.Task[Any]] = set()

    def start(self, loops: Iterable[Coroutine[Any, Any, Any]]) -> None:
        self._loops += [asyncio.create_task(c) for c in loops]

    def spawn(self, coro: Coroutine[Any, Any, Any], /) -> None:
        """Run a side task that must not block the caller."""
        task = asyncio.create_task(coro)
        self._side.add(task)
        task.add_done_callback(self._side.discard)

    async def stop(self) -> None:
        """Cancel every task and wait for each to finish."""
        tasks = [*self._loops, *self._side]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loops.clear()
