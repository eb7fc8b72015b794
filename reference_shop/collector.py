"""The garbage collector of a long-running server process, and its pauses.

CPython's cyclic collector runs a generation-0 pass every 700 net allocations of container
objects and a full pass whenever the objects promoted since the last one reach a quarter of the
old heap. A flash sale keeps thousands of requests, tasks and futures in flight: every young
pass promotes them, they die a moment later by reference counting, and the promotions trigger
full passes over the whole heap — which grows with every order the shop keeps in memory. Under
`bench/bench_overload.py` the shop made 80 full passes in 150 s, 100–560 ms each, 18 s in all,
every one of them finding nothing to collect; each stopped the event loop, so every buyer
connected at that moment waited.

`tune` keeps the collector (reference cycles are still collected) but:

- **freezes** what exists once the process has started (modules, the app, settings): those
  objects are never scanned again;
- runs a young pass every `GEN0_THRESHOLD` allocations instead of 700, so the requests in
  flight are promoted about seventy times less often and full passes become rare.

`GcPauses` measures every pass (``gc.callbacks``) into a Prometheus histogram by generation,
``fakalab_gc_pause_seconds``: what the event loop lost, visible on ``/metrics``.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

__all__ = ["GEN0_THRESHOLD", "GcPauses", "tune"]

GEN0_THRESHOLD = 50_000
GEN1_THRESHOLD = 20
GEN2_THRESHOLD = 10
_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


def tune() -> None:
    """Freeze the objects alive now and make young passes rare (see the module's text)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)


class GcPauses:
    """Every collector pass's duration, by generation, into ``fakalab_gc_pause_seconds``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.seconds = Histogram("fakalab_gc_pause_seconds",
                                 "Pauses of the garbage collector, by generation",
                                 ["generation"], buckets=_BUCKETS, registry=registry)
        for generation in range(3):  # shown from the start, passes or not
            self.seconds.labels(str(generation))
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds.labels(str(info["generation"])).observe(
                time.perf_counter() - self._started)

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)
