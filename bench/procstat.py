"""CPU time of processes from /proc (Linux), for naming a benchmark's bottleneck."""

from __future__ import annotations

import contextlib
import os
import time

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its reaped children so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICKS


class CpuMeter:
    """CPU share (1.0 = one core busy) of named processes between start() and stop()."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._t0
        return {name: round((cpu_seconds(pid) - self._start[name]) / wall, 2)
                for name, pid in self.pids.items()}


def pin(pid: int, cores: set[int]) -> None:
    """Run every thread of `pid`, and of its children, on `cores` only (Linux)."""
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(task), cores)
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
            for child in f.read().split():
                pin(int(child), cores)
