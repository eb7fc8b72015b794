"""The rate of recent events (contract/rates.py)."""

import pytest

from fakalab.contract.rates import recent_rate
from fakalab.reference_shop.eta import Throughput


def test_a_burst_after_a_quiet_spell_is_measured_at_its_own_pace() -> None:
    # 200 completions in the last 2 s of a 10 s window: 100/s, not 20/s.
    assert recent_rate(200, oldest=98.0, now=100.0, window_s=10.0) == 100.0
    assert recent_rate(50, oldest=80.0, now=100.0, window_s=10.0) == 5.0  # a full window
    assert recent_rate(1, oldest=99.99, now=100.0, window_s=10.0) == 1.0  # at least 1 s
    assert recent_rate(0, oldest=None, now=100.0, window_s=10.0) == 0.0


def test_the_shops_throughput_uses_it() -> None:
    throughput = Throughput(window_s=10.0)
    assert throughput.rate(0.0) is None
    for i in range(100):
        throughput.record(50.0 + i * 0.01)  # 100 orders in one second
    assert throughput.rate(51.0) == pytest.approx(100.0)
    assert throughput.rate(70.0) is None  # all out of the window
