"""An independent, deliberately naive worker pool with holds, for differential tests.

One stage of constant ``service`` with one attempt, which fails when the attempt starts inside
``window``. A failed order paid less than ``hold_s`` before the failure is held: it joins the
queue again ``hold_retry_s × jitter`` later (jitters taken in the order the holds happen);
otherwise it is parked. Servers, the queue and the pending returns are plain lists, scanned at
every step: the earliest of the next departure, return and arrival happens; a freed server
takes the waiting order with the smallest (class, order of joining).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class HoldOutcome:
    first_start: list[float]
    end: list[float]  # the last pass's end
    delivered: list[float]
    parked: list[bool]
    busy_s: float


def reference_holds(
    paid: list[float],
    classes: list[int],
    servers: int,
    service: float,
    window: tuple[float, float],
    hold_s: float,
    hold_retry_s: float,
    jitters: Iterator[float],
) -> HoldOutcome:
    n = len(paid)
    out = HoldOutcome([math.nan] * n, [math.nan] * n, [math.nan] * n, [False] * n, 0.0)
    serving: list[tuple[float, int, bool] | None] = [None] * servers  # (free at, order, fails)
    waiting: list[tuple[int, int, int]] = []  # (class, joined as, order)
    returns: list[tuple[float, int]] = []  # (time, order)
    arrivals = sorted(range(n), key=lambda i: paid[i])
    joined = 0
    next_arrival = 0

    def start(server: int, i: int, now: float) -> None:
        if math.isnan(out.first_start[i]):
            out.first_start[i] = now
        serving[server] = (now + service, i, window[0] <= now < window[1])
        out.busy_s += service

    def join(i: int, now: float) -> None:
        nonlocal joined
        idle = [s for s, job in enumerate(serving) if job is None]
        if idle and not waiting:
            start(idle[0], i, now)
        else:
            waiting.append((classes[i], joined, i))
        joined += 1

    while True:
        busy = [(job[0], s) for s, job in enumerate(serving) if job is not None]
        departure = min(busy) if busy else (math.inf, -1)
        back = min(returns) if returns else (math.inf, -1)
        arrival = paid[arrivals[next_arrival]] if next_arrival < n else math.inf
        now = min(departure[0], back[0], arrival)
        if now == math.inf:
            return out
        if departure[0] == now:
            server = departure[1]
            job = serving[server]
            assert job is not None
            _, i, fails = job
            serving[server] = None
            out.end[i] = now
            if not fails:
                out.delivered[i] = now
            elif now - paid[i] < hold_s:
                returns.append((now + hold_retry_s * next(jitters), i))
            else:
                out.parked[i] = True
            if waiting:
                chosen = min(waiting)
                waiting.remove(chosen)
                start(server, chosen[2], now)
        elif back[0] == now:
            returns.remove(back)
            join(back[1], now)
        else:
            join(arrivals[next_arrival], now)
            next_arrival += 1
