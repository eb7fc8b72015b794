import numpy as np
import pytest
from pydantic import ValidationError

from fakalab.simulate.dists import Dist

RNG_SEED = 11


@pytest.mark.parametrize(
    "dist",
    [
        Dist.exp(2.0),
        Dist.lognormal(0.5, 0.8),
        Dist(kind="gamma", mean=3.0, cv=0.5),
        Dist(kind="uniform", low=1.0, high=3.0),
        Dist(kind="empirical", values=(1.0, 2.0, 6.0)),
    ],
)
def test_sample_mean_matches_expected(dist: Dist) -> None:
    samples = dist.sample(np.random.default_rng(RNG_SEED), 200_000)
    assert samples.mean() == pytest.approx(dist.expected, rel=0.02)
    assert samples.min() >= 0


def test_lognormal_has_the_requested_cv() -> None:
    samples = Dist.lognormal(1.0, 0.5).sample(np.random.default_rng(RNG_SEED), 200_000)
    assert samples.std() / samples.mean() == pytest.approx(0.5, rel=0.03)


def test_const_and_zero_draw_nothing() -> None:
    rng = np.random.default_rng(RNG_SEED)
    state = rng.bit_generator.state
    assert list(Dist.const(2.5).sample(rng, 3)) == [2.5, 2.5, 2.5]
    assert list(Dist.exp(0.0).sample(rng, 2)) == [0.0, 0.0]
    assert rng.bit_generator.state == state


@pytest.mark.parametrize(
    "kwargs",
    [{"kind": "uniform", "low": 2.0, "high": 1.0}, {"kind": "empirical"}, {"mean": -1.0}],
)
def test_invalid_distributions_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Dist.model_validate(kwargs)
