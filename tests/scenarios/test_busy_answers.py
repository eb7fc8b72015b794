"""What buyers take for "busy, come back later": 503 or 429 with Retry-After in seconds."""

from __future__ import annotations

import pytest

from fakalab.scenarios.locust.busy import retry_after


@pytest.mark.parametrize(("status", "headers", "expected"), [
    (503, {"Retry-After": "7"}, 7.0),
    (429, {"retry-after": "0.5"}, 0.5),
    (503, {}, None),  # an outage, not a refusal: no hint
    (500, {"Retry-After": "7"}, None),
    (201, {"Retry-After": "7"}, None),
    (503, {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),  # a date: not followed
    (503, {"Retry-After": "-3"}, None),
    (503, {"Retry-After": "nan"}, None),
])
def test_retry_after(status: int, headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(status, headers) == expected
