"""The pure parts of bench/validate_capacity.py: which counts it drills, and the SLO verdict of
one value (a drill's measurement or a forecast's mean)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

from fakalab.simulate.capacity import parse_slo


def test_the_named_count_then_a_clearly_lower_one_then_the_sweep() -> None:
    from validate_capacity import counts_to_drill

    assert counts_to_drill(8, None, [2, 4, 8]) == [
        (8, "named by --capacity"), (4, "clearly lower"), (2, "what-if sweep")]
    assert counts_to_drill(9, 3, []) == [(9, "named by --capacity"), (3, "clearly lower")]
    assert counts_to_drill(1, None, [2]) == [(1, "named by --capacity"), (2, "what-if sweep")]
    assert counts_to_drill(None, None, [2, 4]) == [(2, "what-if sweep"), (4, "what-if sweep")]


def test_one_value_meets_or_breaches_the_slo() -> None:
    from validate_capacity import slo_verdict

    slo = parse_slo("delay_rate<=5%")
    assert slo.met_by_value(0.05) and not slo.met_by_value(0.0501)
    assert not slo.met_by_value(float("nan"))
    assert slo_verdict(slo, 0.01) == "meets"
    assert slo_verdict(slo, 0.2) == "breaches"
    assert slo_verdict(slo, None) == "—"
    assert parse_slo("p95_s>=1").met_by_value(2.0)


def test_a_sweeps_interval_stays_within_what_the_replications_gave() -> None:
    from fakalab.simulate.whatif import _bootstrapped

    rates = [0.0, 0.0, 0.0, 0.0, 0.3]  # the normal approximation gave [-0.1, 0.2]
    estimate = _bootstrapped(rates)
    assert 0.0 <= estimate.lo <= estimate.mean <= estimate.hi <= 0.3
    assert estimate.mean == 0.06
    assert _bootstrapped([0.0] * 5).hi == 0.0


def test_a_drill_the_harness_marked_invalid_says_why_in_the_table() -> None:
    from drill_check import Checked

    item = Checked("flash-sale", forecast=None, forecast_at="now",  # type: ignore[arg-type]
                   comparison={"run_id": "20261202-113058-flash-sale"})
    assert item.run_cell() == "20261202-113058-flash-sale"
    item.invalid = ["732 arrivals dropped (max_journeys reached)"]
    assert item.run_cell() == ("20261202-113058-flash-sale ⚠ invalid: 732 arrivals dropped "
                               "(max_journeys reached)")
    assert Checked("x", forecast=None, forecast_at="now").run_cell() == "—"  # type: ignore[arg-type]
