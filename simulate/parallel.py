"""Independent simulation runs spread over all cores, results in task order (a pure wrapper)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

__all__ = ["Progress", "run_all"]

T = TypeVar("T")
R = TypeVar("R")
Progress = Callable[[int, int], None]  # (done, total)


def run_all(fn: Callable[[T], R], tasks: Sequence[T], *, processes: int | None = None,
            progress: Progress | None = None) -> list[R]:
    """``[fn(t) for t in tasks]``, on ``processes`` workers (default: every core; 1: in this
    process); ``fn`` must be a module-level function so it can be sent to a worker."""
    workers = min(processes or os.cpu_count() or 1, len(tasks))
    out: list[R] = []
    if workers <= 1:
        results = map(fn, tasks)
        for done, result in enumerate(results, 1):
            out.append(result)
            if progress is not None:
                progress(done, len(tasks))
        return out
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done, result in enumerate(pool.map(fn, tasks), 1):
            out.append(result)
            if progress is not None:
                progress(done, len(tasks))
    return out
