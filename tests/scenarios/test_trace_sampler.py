"""The buyers' trace sampler: a share of the journeys, at most so many a second."""

from __future__ import annotations

import random

import pytest

from fakalab.scenarios.trace_sampler import TraceSampler


def arrivals(rate: float, seconds: float, seed: int = 3) -> list[float]:
    rng, at, out = random.Random(seed), 0.0, []
    while True:
        at += rng.expovariate(rate)
        if at >= seconds:
            return out
        out.append(at)


def test_below_the_rate_every_journey_of_the_share_is_traced() -> None:
    sampler, rng = TraceSampler(1.0, rate_per_s=100), random.Random(1)
    times = arrivals(40, 60)
    assert all(sampler.sample(t, rng) for t in times)
    assert sampler.sampled == len(times) and sampler.capped == 0


def test_above_the_rate_the_traced_journeys_follow_the_rate() -> None:
    sampler, rng = TraceSampler(1.0, rate_per_s=100), random.Random(1)
    times = arrivals(450, 60)
    traced = sum(sampler.sample(t, rng) for t in times)
    # one second's burst at the start, then the rate
    assert 100 * 60 <= traced <= 100 * 60 + 101
    assert sampler.capped == len(times) - traced


def test_each_generator_process_takes_its_part_of_the_rate() -> None:
    rng = random.Random(2)
    samplers = [TraceSampler(1.0, rate_per_s=100, processes=4) for _ in range(4)]
    times = arrivals(400, 30)
    traced = sum(samplers[i % 4].sample(t, rng) for i, t in enumerate(times))
    assert 100 * 30 <= traced <= 100 * 30 + 4 * 26


def test_the_share_applies_before_the_rate() -> None:
    sampler, rng = TraceSampler(0.1, rate_per_s=0), random.Random(4)
    times = arrivals(500, 20)
    traced = sum(sampler.sample(t, rng) for t in times)
    assert 0.08 * len(times) < traced < 0.12 * len(times)
    assert sampler.capped == 0  # no cap: nothing left out by the rate
    assert not any(TraceSampler(0.0, 100).sample(t, rng) for t in times[:200])


def test_a_burst_after_a_quiet_spell_gets_one_seconds_worth() -> None:
    sampler, rng = TraceSampler(1.0, rate_per_s=10), random.Random(5)
    assert sum(sampler.sample(0.0, rng) for _ in range(50)) == 10
    assert sum(sampler.sample(100.0, rng) for _ in range(50)) == 10  # not 100 s' worth


@pytest.mark.parametrize(("share", "rate"), [(1.5, 0), (-0.1, 0), (1.0, -1)])
def test_bad_settings_are_refused(share: float, rate: float) -> None:
    with pytest.raises(ValueError, match="trace"):
        TraceSampler(share, rate)
