import math

import pytest

from fakalab.simulate.erlang import (
    erlang_b,
    erlang_c,
    mmc_mean_wait,
    mmc_p_wait_gt,
    priority_mean_waits,
    utilisation,
)


def test_reference_values_for_m_m_10() -> None:
    assert erlang_c(9, 1, 10) == pytest.approx(0.6687, abs=1e-4)
    assert mmc_mean_wait(9, 1, 10) == pytest.approx(0.6687, abs=1e-4)
    assert mmc_p_wait_gt(9, 1, 10, 1.0) == pytest.approx(0.2460, abs=1e-4)


def test_m_m_1_reduces_to_rho() -> None:
    assert erlang_c(0.8, 1, 1) == pytest.approx(0.8)
    assert mmc_mean_wait(0.8, 1, 1) == pytest.approx(0.8 / (1 - 0.8))


def test_erlang_b_by_hand() -> None:
    assert erlang_b(1, 2.0) == pytest.approx(2 / 3)
    assert erlang_b(2, 2.0) == pytest.approx(2.0 / 5.0)  # (a²/2)/(1 + a + a²/2)


def test_wait_tail_starts_at_p_wait_and_decays() -> None:
    assert mmc_p_wait_gt(9, 1, 10, 0.0) == pytest.approx(erlang_c(9, 1, 10))
    assert mmc_p_wait_gt(9, 1, 10, 2.0) == pytest.approx(erlang_c(9, 1, 10) * math.exp(-2))


def test_unstable_systems_are_refused() -> None:
    with pytest.raises(ValueError, match="unstable"):
        erlang_c(10, 1, 10)


def test_one_priority_class_is_erlang_c() -> None:
    assert priority_mean_waits([9.0], 1, 10) == [pytest.approx(mmc_mean_wait(9, 1, 10))]


def test_cobham_m_m_1_by_hand() -> None:
    # M/M/1, λ1 = 0.2, λ2 = 0.5, μ = 1: W0 = ρ/μ = 0.7; W1 = 0.7/0.8; W2 = 0.7/(0.8·0.3).
    urgent, standard = priority_mean_waits([0.2, 0.5], 1, 1)
    assert urgent == pytest.approx(0.7 / 0.8)
    assert standard == pytest.approx(0.7 / (0.8 * 0.3))


def test_priority_waits_conserve_the_mean_wait() -> None:
    rates = [1.5, 3.0, 4.5]
    waits = priority_mean_waits(rates, 1, 10)
    mean = sum(r * w for r, w in zip(rates, waits, strict=True)) / sum(rates)
    assert mean == pytest.approx(mmc_mean_wait(9, 1, 10))
    assert waits == sorted(waits)


def test_utilisation() -> None:
    assert utilisation(9, 1, 10) == pytest.approx(0.9)
