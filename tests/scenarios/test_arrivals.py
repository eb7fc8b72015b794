import random

import pytest

from fakalab.contract.shapes import Spike, Steady
from fakalab.scenarios.locust.arrivals import GeneratorHealth, arrival_times, pick, saturation


def test_arrivals_are_seeded_increasing_and_at_the_rate() -> None:
    times = list(arrival_times(Steady(rate_per_s=50), 200.0, seed=1))
    assert times == list(arrival_times(Steady(rate_per_s=50), 200.0, seed=1))
    assert times != list(arrival_times(Steady(rate_per_s=50), 200.0, seed=2))
    assert times == sorted(times) and times[-1] < 200
    assert len(times) / 200 == pytest.approx(50, rel=0.02)


def test_arrivals_follow_the_shape_and_the_share() -> None:
    spike = Spike(base=5, peak_rate=50, at=100, rise=0, hold=100, fall=0)
    times = list(arrival_times(spike, 300.0, seed=3, share=0.5))
    before = sum(t < 100 for t in times) / 100
    during = sum(100 <= t < 200 for t in times) / 100
    assert before == pytest.approx(2.5, rel=0.25)
    assert during == pytest.approx(25, rel=0.1)


def test_no_arrivals_at_rate_zero() -> None:
    assert list(arrival_times(Steady(rate_per_s=0), 10.0, seed=1)) == []


def test_pick_by_weight() -> None:
    rng = random.Random(1)
    picks = [pick({"a": 3, "b": 1, "c": 0}, rng) for _ in range(4000)]
    assert "c" not in picks
    assert picks.count("a") / len(picks) == pytest.approx(0.75, abs=0.03)


def test_saturation_needs_sustained_excess() -> None:
    def samples(cpus: list[float], lag: float = 0.0) -> list[GeneratorHealth]:
        return [GeneratorHealth(float(i), cpu, lag) for i, cpu in enumerate(cpus)]

    assert saturation(samples([95, 50, 95, 50, 95])) == []
    assert saturation(samples([50, 95, 96, 99])) == [
        "load generator saturated: process CPU above 90% for 3 samples"]
    assert "event-loop lag" in saturation(samples([10, 10, 10], lag=0.5))[0]
