import numpy as np
import pytest

from fakalab.simulate.eta import payment_etas, stage_clock, stage_etas

NAN = np.nan


def test_clock_starts_from_the_prior_and_learns_recent_durations() -> None:
    starts = np.array([[0.0], [1.0], [2.0]])
    ends = np.array([[1.0], [4.0], [NAN]])  # durations 1 and 3; the third never ended
    clock = stage_clock(starts, ends, priors=[2.0], window=2)
    assert clock.mean(0, np.array([0.5, 1.0, 5.0])).tolist() == [2.0, 1.5, 2.0]


def test_payment_eta_drains_the_queue_ahead() -> None:
    clock = stage_clock(np.empty((0, 2)), np.empty((0, 2)), priors=[1.0, 0.5])
    eta = payment_etas(clock, np.array([10.0, NAN]), np.array([4.0, 0.0]), workers=2)
    assert eta[0] == pytest.approx(10 + 4 / 2 * 1.5 + 1.5)
    assert np.isnan(eta[1])


def test_stage_etas_count_the_stages_still_to_run() -> None:
    clock = stage_clock(np.empty((0, 2)), np.empty((0, 2)), priors=[1.0, 0.5])
    etas = stage_etas(clock, np.array([[3.0, 4.0]]))
    assert etas.tolist() == [[4.5, 4.5]]
