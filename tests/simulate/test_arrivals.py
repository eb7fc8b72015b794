import numpy as np
import pytest

from fakalab.simulate.arrivals import arrival_times
from fakalab.simulate.params import LoadShape


def _rng(seed: int = 1) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_constant_rate_gives_poisson_counts() -> None:
    times = arrival_times(LoadShape.constant(50.0), _rng(), duration_s=2_000)
    assert len(times) == pytest.approx(100_000, rel=0.01)
    assert np.all(np.diff(times) > 0) and times[-1] < 2_000
    gaps = np.diff(times)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.02)  # exponential gaps


def test_thinning_follows_the_rate_function() -> None:
    ramp = LoadShape(points=((0.0, 0.0), (1_000.0, 100.0)))
    times = arrival_times(ramp, _rng(2), duration_s=1_000)
    # ∫0^500 0.1 t dt = 12 500; ∫500^1000 = 37 500.
    assert np.sum(times < 500) == pytest.approx(12_500, rel=0.03)
    assert np.sum(times >= 500) == pytest.approx(37_500, rel=0.03)


def test_flash_sale_peak() -> None:
    shape = LoadShape(points=((0, 10), (100, 10), (101, 200), (160, 200), (161, 10), (300, 10)))
    times = arrival_times(shape, _rng(3), duration_s=300)
    in_peak = np.sum((times >= 101) & (times < 160))
    assert in_peak == pytest.approx(200 * 59, rel=0.05)
    assert shape.peak == 200


def test_order_count_and_prefix_property() -> None:
    shape = LoadShape(points=((0, 5), (50, 30)))
    short = arrival_times(shape, _rng(4), orders=1_000)
    long = arrival_times(shape, _rng(4), orders=100_000)
    assert len(short) == 1_000 and len(long) == 100_000
    assert np.array_equal(short, long[:1_000])


def test_a_shape_that_stops_cannot_give_endless_orders() -> None:
    with pytest.raises(ValueError, match="falls to 0"):
        arrival_times(LoadShape(points=((0, 10), (10, 0))), _rng(), orders=10_000)


def test_exactly_one_of_orders_and_duration() -> None:
    with pytest.raises(ValueError):
        arrival_times(LoadShape(), _rng(), orders=10, duration_s=10)
