import json

import pytest
from click.testing import CliRunner

from fakalab.cli import cli
from fakalab.simulate import cli as simulate_cli
from fakalab.simulate.stats import Estimate
from fakalab.simulate.validation import Check


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["simulate", *args])
    return result.exit_code, result.output


def test_mmc_json_has_the_stable_keys() -> None:
    code, output = _invoke(
        "mmc",
        "--arrival-rate",
        "9",
        "--service-rate",
        "1",
        "--servers",
        "10",
        "--orders",
        "50000",
        "--seed",
        "3",
        "--json",
    )
    assert code == 0, output
    document = json.loads(output)
    assert document["orders"] == 50_000 and document["seed"] == 3 and document["t"] == 1.0
    assert document["analytic"]["mean_wait"] == pytest.approx(0.6687, abs=1e-4)
    lo, hi = document["mean_wait_ci"]
    assert lo < document["mean_wait"] < hi
    assert document["orders_per_s"] > 0 and document["elapsed_s"] > 0


def test_mmc_is_deterministic_for_a_seed() -> None:
    def run() -> dict[str, object]:
        document = json.loads(_invoke("mmc", "--orders", "20000", "--json")[1])
        return {k: v for k, v in document.items() if k not in ("elapsed_s", "orders_per_s")}

    assert run() == run()


def test_mmc_table_shows_both_sides() -> None:
    code, output = _invoke("mmc", "--orders", "20000", "--classes", "0.3,0.7")
    assert code == 0, output
    assert "Wq" in output and "0.6687" in output and "analytic" in output


def test_mmc_refuses_bad_classes() -> None:
    code, output = _invoke("mmc", "--classes", "0.3,0.3")
    assert code == 2 and "sum to 1" in output


def _fake_suite(passed: bool):  # type: ignore[no-untyped-def]
    def suite(**_: object) -> list[Check]:
        value = 0.6687 if passed else 0.9
        return [
            Check(
                0.9,
                "mean_wait",
                1000,
                Estimate(value, value - 0.01, value + 0.01),
                0.6687,
                relative=True,
            )
        ]

    return suite


@pytest.mark.parametrize("args", [("validate",), ("--validate",)])
def test_validate_prints_the_table(monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]) -> None:
    monkeypatch.setattr(simulate_cli, "validation_suite", _fake_suite(passed=True))
    code, output = _invoke(*args)
    assert code == 0, output
    assert "Wq" in output and "yes" in output


def test_validate_fails_when_a_check_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulate_cli, "validation_suite", _fake_suite(passed=False))
    code, output = _invoke("validate")
    assert code == 1 and "NO" in output


def test_validate_really_runs_at_small_scale() -> None:
    code, output = _invoke("validate", "--scale", "0.002")
    assert code in (0, 1)
    assert output.count("Wq ") >= 4 and "0.95" in output and "Wq class 2" in output


def test_group_without_arguments_prints_help() -> None:
    code, output = _invoke()
    assert code == 0 and "mmc" in output and "validate" in output


def test_a_missing_run_directory_is_one_line_and_exit_2() -> None:
    code, output = _invoke("runs/20260101-000000-flash-sale")
    assert code == 2 and "runs/20260101-000000-flash-sale" in output
    assert "not a run directory" in output and output.count("\n") == 1


def test_an_slo_on_an_unknown_figure_is_one_line_naming_the_figures() -> None:
    code, output = _invoke("steady", "--capacity", "--slo", "nosuch<=1")
    assert code == 2
    assert "no figure 'nosuch' (one of: orders," in output and "delay_rate" in output
    assert "Traceback" not in output and "KeyError" not in output


REAL = __import__("pathlib").Path(__file__).parents[1] / "reports" / "fixtures" / "real-drill"


def test_calibrate_from_runs_writes_a_calibration_naming_them(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "shop.json"
    code, output = _invoke("calibrate", str(REAL), "--out", str(out))
    assert code == 0, output
    document = json.loads(out.read_text())
    assert [s["run_id"] for s in document["sources"]] == ["20261124-221622-real-mini"]
    assert document["fitted_at"] and document["fakalab"]
    assert "20261124-221622-real-mini (base)" in output


def test_a_forecast_names_its_calibration_and_interval_method() -> None:
    code, output = _invoke("steady", "--duration", "20s", "--seeds", "2")
    assert code == 0, output
    assert "calibration fitted" in output and "percentiles of the replications" in output
    assert "20 s, the drill's orders" in output


def test_orders_and_duration_together_are_refused() -> None:
    code, output = _invoke("steady", "--orders", "100", "--duration", "20s")
    assert code == 2 and "not both" in output


def test_a_scenario_with_variants_needs_one() -> None:
    code, output = _invoke("transparency-ab")
    assert code == 2 and "has variants (transparent, opaque)" in output


def test_orders_json_counts_exactly_the_orders_asked_for() -> None:
    code, output = _invoke("steady", "--orders", "5000", "--seeds", "2", "--json")
    assert code == 0, output
    document = json.loads(output)
    assert document["forecast"]["figures"]["orders"]["mean"] == 5000
    assert document["runs"].startswith("5,000 orders")
