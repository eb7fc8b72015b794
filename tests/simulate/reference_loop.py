"""An independent, deliberately naive multi-server queue for differential tests.

Servers are a plain list, the queue a plain list; every step scans them. Slow but obviously
correct: at each step, the earliest of the next arrival and the next departure happens
(a departure first on a tie); a freed server takes the waiting customer with the smallest
(class, arrival index).
"""

from __future__ import annotations

import math


def reference_starts(
    arrivals: list[float], services: list[float], classes: list[int], servers: int
) -> list[float]:
    busy_until: list[float | None] = [None] * servers
    waiting: list[int] = []
    starts = [math.nan] * len(arrivals)
    i = 0
    while True:
        departures = [(t, s) for s, t in enumerate(busy_until) if t is not None]
        next_departure = min(departures) if departures else (math.inf, -1)
        next_arrival = arrivals[i] if i < len(arrivals) else math.inf
        if next_departure[0] == math.inf and next_arrival == math.inf:
            return starts
        if next_departure[0] <= next_arrival:
            now, server = next_departure
            busy_until[server] = None
            if waiting:
                chosen = min(waiting, key=lambda j: (classes[j], j))
                waiting.remove(chosen)
                starts[chosen] = now
                busy_until[server] = now + services[chosen]
        else:
            idle = [s for s, t in enumerate(busy_until) if t is None]
            if idle:
                starts[i] = next_arrival
                busy_until[idle[0]] = next_arrival + services[i]
            else:
                waiting.append(i)
            i += 1
