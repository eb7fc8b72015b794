"""A busy shop's answer, as a buyer reads it (pure: no Locust, no gevent)."""

from __future__ import annotations

import math

__all__ = ["retry_after"]


def retry_after(status: int, headers: dict[str, str]) -> float | None:
    """Seconds a busy shop asked the buyer to wait (503 or 429 with a Retry-After in seconds);
    None for any other answer."""
    if status not in (429, 503):
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    if seconds is None or not math.isfinite(seconds) or not 0 <= seconds < 86_400:
        return None
    return seconds
