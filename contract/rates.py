"""A rate of recent events (pure): the one rule the shop's throughput and overtaking rates use,
and the simulator's mirror of them (``simulate/eta.py``)."""

from __future__ import annotations

__all__ = ["MIN_SPAN_S", "recent_rate"]

MIN_SPAN_S = 1.0  # the shortest span a rate is measured over


def recent_rate(count: int, oldest: float | None, now: float, window_s: float) -> float:
    """Events per second, given the `count` events of the last `window_s` and the time of the
    `oldest` of them: over the span since that one when it is shorter than the window (at
    least `MIN_SPAN_S`), so a burst after a quiet spell is measured at its own pace rather
    than diluted by the quiet."""
    if count <= 0 or oldest is None:
        return 0.0
    return count / min(max(now - oldest, MIN_SPAN_S), window_s)
