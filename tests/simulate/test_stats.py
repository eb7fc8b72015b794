import numpy as np
import pytest

from fakalab.simulate.stats import BatchAccumulator, batch_means, replication_estimate, t_quantile


@pytest.mark.parametrize(("df", "value"), [(1, 12.706), (4, 2.776), (29, 2.045), (1000, 1.962)])
def test_t_quantiles(df: int, value: float) -> None:
    assert t_quantile(df) == pytest.approx(value, abs=2e-3)


def test_batch_means_of_independent_values_cover_the_mean() -> None:
    values = np.random.default_rng(1).normal(5.0, 2.0, 30_000)
    estimate = batch_means(values)
    assert estimate.lo < 5.0 < estimate.hi
    assert estimate.half_width == pytest.approx(1.96 * 2.0 / np.sqrt(30_000), rel=0.3)


def test_accumulator_fed_in_chunks_equals_batch_means() -> None:
    values = np.random.default_rng(2).exponential(1.0, 9_000)
    accumulator = BatchAccumulator(len(values), batches=30)
    for first in range(0, len(values), 1_000):
        accumulator.add(first, values[first : first + 1_000])
    chunked, whole = accumulator.estimate(), batch_means(values)
    assert (chunked.lo, chunked.mean, chunked.hi) == pytest.approx(
        (whole.lo, whole.mean, whole.hi), rel=1e-9
    )


def test_accumulator_skips_warmup_and_follows_a_mask() -> None:
    values = np.arange(100, dtype=np.float64)
    accumulator = BatchAccumulator(100, batches=5, skip=50)
    accumulator.add(0, values, mask=values % 2 == 0)
    assert accumulator.estimate().mean == pytest.approx(np.mean(values[50::2]))


def test_replications_use_student_t() -> None:
    estimate = replication_estimate([1.0, 2.0, 3.0])
    assert estimate.mean == 2.0
    assert estimate.half_width == pytest.approx(4.303 * 1.0 / np.sqrt(3), rel=1e-3)
