"""The fast path against queueing theory: the checks of the validation table (issue 5, part 2).

Order counts are set so that batch-means half-widths are near ±2.5% of Wq; the seed is fixed,
so the outcome is deterministic. A few seconds of CPU in all.
"""

import pytest

from fakalab.simulate.stats import Estimate
from fakalab.simulate.validation import Check, mmc_comparison, validation_plan, validation_suite

RHOS = (0.5, 0.8, 0.9, 0.95)


@pytest.fixture(scope="module")
def checks() -> list[Check]:
    return validation_suite(seed=1)


def test_plan_covers_every_utilisation() -> None:
    plan = validation_plan()
    assert [rho for kind, rho, _ in plan if kind == "erlang_c"] == list(RHOS)
    assert any(kind == "priority" for kind, _, _ in plan)


@pytest.mark.parametrize("rho", RHOS)
def test_mean_wait_within_3_percent_of_erlang_c(checks: list[Check], rho: float) -> None:
    (check,) = [c for c in checks if c.rho == rho and c.figure == "mean_wait"]
    assert abs(check.error) <= 0.03, check
    assert check.simulated.half_width / check.analytic < 0.035  # the check means something


@pytest.mark.parametrize("rho", RHOS)
def test_wait_probabilities_within_0_01(checks: list[Check], rho: float) -> None:
    probabilities = [c for c in checks if c.rho == rho and c.figure.startswith("p_wait")]
    assert len(probabilities) == 2
    for check in probabilities:
        assert abs(check.error) <= 0.01, check


def test_priority_classes_match_cobham(checks: list[Check]) -> None:
    classes = [c for c in checks if c.figure.startswith("mean_wait_class_")]
    assert len(classes) == 3
    for check in classes:
        assert abs(check.error) <= 0.03, check


def test_every_check_passes(checks: list[Check]) -> None:
    assert all(check.passed for check in checks)


def test_a_wrong_figure_fails() -> None:
    check = Check(0.9, "mean_wait", 1, Estimate(0.70, 0.69, 0.71), 0.6687, relative=True)
    assert not check.passed
    probability = Check(0.9, "p_wait", 1, Estimate(0.68, 0.67, 0.69), 0.6687, relative=False)
    assert not probability.passed


def test_comparison_json_has_stable_keys(checks: list[Check]) -> None:
    from fakalab.simulate.mmc import MMcModel, run_mmc

    document = mmc_comparison(run_mmc(MMcModel(9, 1, 10, 20_000), seed=0))
    assert set(document) == {
        "mean_wait",
        "mean_wait_ci",
        "p_wait",
        "p_wait_ci",
        "p_wait_gt_t",
        "p_wait_gt_t_ci",
        "t",
        "analytic",
        "utilisation",
        "orders",
        "seed",
        "elapsed_s",
        "orders_per_s",
    }
    assert set(document["analytic"]) == {"mean_wait", "p_wait", "p_wait_gt_t"}
    overloaded = mmc_comparison(run_mmc(MMcModel(12, 1, 10, 20_000), seed=0))
    assert overloaded["analytic"] is None
