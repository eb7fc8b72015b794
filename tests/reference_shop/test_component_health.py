"""ComponentHealth keeps its window's counts as calls come and go: the state and mean latency
equal a recount over the calls still in the window, for any sequence of calls and questions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fakalab.reference_shop.statuspage import ComponentHealth, ComponentState

calls = st.lists(st.tuples(st.floats(0, 5), st.booleans(), st.floats(0, 2000)), max_size=60)


def recount(samples: list[tuple[float, bool, float]], now: float, window_s: float,
            slow_ms: float) -> tuple[ComponentState, float]:
    kept = [s for s in samples if s[0] >= now - window_s]
    if not kept:
        return ComponentState.OPERATIONAL, 0.0
    mean = sum(ms for _, _, ms in kept) / len(kept)
    if len(kept) < 3:
        return ComponentState.OPERATIONAL, mean
    errors = sum(not ok for _, ok, _ in kept) / len(kept)
    slow = sum(ms > slow_ms for _, _, ms in kept) / len(kept)
    state = (ComponentState.MAJOR if errors >= 0.9 else ComponentState.PARTIAL if errors >= 0.3
             else ComponentState.DEGRADED if errors >= 0.05 or slow >= 0.2
             else ComponentState.OPERATIONAL)
    return state, mean


@given(calls)
def test_the_kept_counts_equal_a_recount(gaps: list[tuple[float, bool, float]]) -> None:
    health = ComponentHealth(window_s=10.0, slow_ms=500.0)
    now, seen = 0.0, []
    for gap, ok, ms in gaps:
        now += gap
        health.record(now, ok, ms)
        seen.append((now, ok, ms))
        state, mean = recount(seen, now, 10.0, 500.0)
        assert health.state(now) is state
        assert abs(health.mean_latency_ms(now) - mean) < 1e-6 * max(1.0, mean)
    later = now + 11.0
    assert health.state(later) is ComponentState.OPERATIONAL
    assert health.mean_latency_ms(later) == 0.0
