"""The open-loop dispatcher: starts one journey greenlet per scheduled arrival (gevent).

Arrivals follow the shape's seeded Poisson process whatever the shop's speed; when
`max_journeys` are in flight an arrival is dropped and counted (like k6's dropped_iterations).
A monitor samples process CPU and event-loop lag so a saturated generator marks the run invalid.
The summary goes to `publish` once a second and at the end: a file in a local run, a message to
the master from a Locust worker (`records.RecordShipper`).
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Callable
from typing import Any

import gevent
import psutil
from gevent.pool import Pool

from fakalab.contract.scenario import Scenario
from fakalab.scenarios.locust.arrivals import GeneratorHealth, arrival_times, pick, saturation

__all__ = ["Dispatcher"]


class Dispatcher:
    def __init__(self, scenario: Scenario, journey: Callable[[str, random.Random], None],
                 publish: Callable[[dict[str, Any]], None], index: int = 0, processes: int = 1,
                 generator: str = "") -> None:
        self.scenario = scenario
        self.journey = journey
        self.publish = publish
        self.generator = generator or socket.gethostname()
        self.index, self.share = index, 1.0 / processes
        self.seed = scenario.seed * 1009 + index
        self.pool = Pool(scenario.load.max_journeys)
        self.scheduled = self.started = self.dropped = 0
        self.max_lag_s = 0.0
        self.health: list[GeneratorHealth] = []
        self.started_at = self.ended_at = 0.0
        self.stopping = False  # the run is over: no more arrivals

    def run(self) -> None:
        """Dispatch the whole schedule (blocks this greenlet for the scenario's duration), then
        wait for the journeys still in flight (summaries keep coming: `in_flight`)."""
        monitor = gevent.spawn(self._monitor)
        rng = random.Random(self.seed + 1)
        mix = self.scenario.load.personas.model_dump()
        self.started_at = time.time()
        origin = time.monotonic()
        try:
            for offset in arrival_times(self.scenario.load.shape, self.scenario.duration,
                                        self.seed, self.share):
                delay = origin + offset - time.monotonic()
                if delay > 0:
                    gevent.sleep(delay)
                if self.stopping:
                    break
                self.scheduled += 1
                self.max_lag_s = max(self.max_lag_s, time.monotonic() - origin - offset)
                persona, journey_rng = pick(mix, rng), random.Random(rng.getrandbits(32))
                if self.pool.full():
                    self.dropped += 1
                    continue
                self.pool.spawn(self.journey, persona, journey_rng)
                self.started += 1
            self.ended_at = self.ended_at or time.time()
            self.pool.join()  # the journeys in flight finish, or Locust's end stops them
        finally:
            self.ended_at = self.ended_at or time.time()
            monitor.kill()
            self.write_summary()

    def stop(self) -> None:
        """The run is over: no more arrivals; journeys still going are stopped (within a
        second)."""
        self.stopping = True
        self.ended_at = self.ended_at or time.time()  # no arrival after this one: final
        self.pool.kill(block=True, timeout=1.0)
        self.write_summary()

    def _monitor(self) -> None:
        process = psutil.Process()
        process.cpu_percent(None)
        while True:
            before = time.monotonic()
            gevent.sleep(1.0)
            lag = time.monotonic() - before - 1.0
            self.health.append(GeneratorHealth(time.time(), process.cpu_percent(None), lag))
            self.write_summary()

    def summary(self) -> dict[str, Any]:
        ended = self.ended_at or time.time()
        return {
            "generator": self.generator, "pid": os.getpid(), "index": self.index,
            "share": self.share, "seed": self.seed,
            "started_at": self.started_at, "ended_at": ended,
            "scheduled": self.scheduled, "started": self.started, "dropped": self.dropped,
            "in_flight": len(self.pool), "schedule_done": bool(self.ended_at),
            "max_dispatch_lag_s": round(self.max_lag_s, 4),
            "max_cpu_pct": max((h.cpu_pct for h in self.health), default=0.0),
            "max_loop_lag_s": round(max((h.loop_lag_s for h in self.health), default=0.0), 4),
            "invalid_reasons": saturation(self.health),
        }

    def write_summary(self) -> None:
        self.publish(self.summary())
