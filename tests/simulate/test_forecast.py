"""Forecast intervals respect the figures' bounds and say how they were made."""

import math

import numpy as np
import pytest

from fakalab.contract.scenario import load_scenario
from fakalab.simulate.forecast import (
    METHOD,
    bootstrap_mean,
    estimate,
    forecast,
    prediction_interval,
    speeds_for,
)
from fakalab.simulate.scenario_model import scenario_model


def test_intervals_of_a_rate_near_zero_stay_in_bounds() -> None:
    values = [0.0, 0.0, 0.0, 0.01, 0.0, 0.03, 0.0, 0.0]  # a normal interval goes below 0
    e = estimate(values)
    assert 0.0 <= e.lo <= e.mean <= e.hi <= 1.0
    assert 0.0 <= e.mean_lo <= e.mean <= e.mean_hi <= max(values)


def test_the_prediction_interval_is_the_replications_percentiles() -> None:
    values = list(np.linspace(0, 1, 101))
    assert prediction_interval(values) == pytest.approx((0.025, 0.975))
    assert bootstrap_mean([2.0]) == (2.0, 2.0)
    assert all(math.isnan(v) for v in prediction_interval([]))


def test_cpu_speeds_are_drawn_per_seed() -> None:
    assert speeds_for([0, 1], 0.0, 0.0) == [1.0, 1.0]
    drawn = speeds_for(range(400), 0.0, 0.2)
    assert np.std(np.log(drawn)) == pytest.approx(0.2, rel=0.15)
    assert speeds_for([5], 0.0, 0.2) == speeds_for([5], 0.0, 0.2)


def test_a_forecast_of_a_quiet_scenario() -> None:
    model, notes = scenario_model(load_scenario("steady", ["duration=30s"]))
    result = forecast(model, range(3), processes=1, notes=notes)
    for name, bounds in (("delay_rate", (0, 1)), ("peak_queue_depth", (0, math.inf)),
                         ("tickets_per_100_delayed", (0, math.inf)), ("p95_s", (0, 5))):
        e = result.figures[name]
        assert bounds[0] <= e.lo <= e.mean <= e.hi <= bounds[1], name
    assert result.figures["delay_rate"].mean == 0.0
    document = result.document()
    assert document["intervals"] == METHOD and len(document["seeds"]) == 3
    assert document["windows"][0]["window_start"] == 0.0


def test_window_figures_are_the_reports_per_window() -> None:
    import pandas as pd

    from fakalab.reports.metrics import outcomes, percentile
    from fakalab.simulate.forecast import window_figures

    rng = np.random.default_rng(3)
    paid = np.sort(rng.uniform(0, 95, 400))
    delivered = paid + rng.exponential(8, 400)
    delivered[rng.random(400) < 0.1] = np.nan
    frame = pd.DataFrame({"paid_at": paid, "delivered_at": delivered})
    got = window_figures(frame, 10.0, 100.0, 10.0)
    out = outcomes(frame, 10.0, 100.0)
    for k in range(10):
        mine = (paid >= 10 * k) & (paid < 10 * k + 10)
        decided = out["decided"][mine].sum()
        rate = out["delayed"][mine].sum() / decided if decided else np.nan
        assert got["delay_rate"][k] == pytest.approx(rate, nan_ok=True)
        assert got["p95_s"][k] == pytest.approx(percentile(out["ttd"][mine], 95))
