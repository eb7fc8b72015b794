"""How far one run's figures can be trusted: the catalog's measured repeats, kept in one place."""

import pytest

from fakalab.reports.repeatability import MEASURED, repeatability
from fakalab.reports.spread import spread_of


def test_a_flash_sale_run_is_judged_against_the_seven_repeats() -> None:
    family = MEASURED[0]
    assert len(family.values) == 7 and min(family.values) == 0.161 and max(family.values) == 0.262
    inside = repeatability("flash-sale", {"delay_rate": 0.22})
    assert inside["measured"] and inside["repeats"] == 7
    low, high = inside["run_interval_low"], inside["run_interval_high"]
    assert low < 0.161 and 0.262 < high < 0.5  # wider than the values, within a rate's bounds
    assert inside["inside"] is True and "[" in inside["note"] and inside["source"]
    outside = repeatability("transparency-ab", {"delay_rate": 0.45})  # the same load and faults
    assert outside["measured"] and outside["inside"] is False


def test_a_scenario_without_repeats_says_how_to_measure_them() -> None:
    out = repeatability("steady", {"delay_rate": 0.0})
    assert out["measured"] is False and out["inside"] is None
    assert "fakalab drill steady --repeat N" in out["note"]


def test_the_interval_is_the_spread_of_the_values() -> None:
    spread = spread_of(MEASURED[0].values, rate=True)
    out = repeatability("flash-sale", {"delay_rate": None})
    assert spread.run_interval == pytest.approx((out["run_interval_low"],
                                                 out["run_interval_high"]))
    assert out["inside"] is None
