"""Forecast against a run: figures as the report has them; refusals are one line."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fakalab.cli import cli
from fakalab.contract.scenario import load_scenario, parse_scenario
from fakalab.reports.analysis import analyze
from fakalab.reports.rundir import load_run
from fakalab.simulate.against import compare, measured_figures, refusal
from fakalab.simulate.forecast import forecast
from fakalab.simulate.scenario_model import load_calibration, scenario_model
from fakalab.simulate.shop_calibration import Source

REAL = Path(__file__).parents[1] / "reports" / "fixtures" / "real-drill"


def _scenario():  # type: ignore[no-untyped-def]
    return parse_scenario((REAL / "scenario.yaml").read_text(), "scenario.yaml")


def test_measured_figures_are_the_reports() -> None:
    run = load_run(REAL)
    mine = measured_figures(run)
    report = analyze(run).metrics
    assert mine["delay_rate"] == pytest.approx(report["headline"]["delay_rate"])
    assert mine["p95_s"] == pytest.approx(report["headline"]["ttd_p95_s"])
    assert mine["peak_queue_depth"] == report["over_time"]["peak_queue_depth"]
    assert mine["tickets_per_100_delayed"] == pytest.approx(
        report["transparency"]["tickets_per_100_delayed"])


def test_a_run_of_the_same_drill_is_compared_figure_by_figure_and_window_by_window() -> None:
    scenario = _scenario()
    run = load_run(REAL)
    cal = load_calibration()
    assert refusal(scenario, run, cal) is None
    model, notes = scenario_model(scenario, calibration=cal)
    result = compare(forecast(model, range(4), processes=1, notes=notes), run)
    assert set(result["figures"]) == {"delay_rate", "p95_s", "tickets_per_100_delayed",
                                      "peak_queue_depth", "buyers_refused_share",
                                      "buyers_gave_up", "goodput_per_s"}  # admission is on
    # a run before attempts.csv: every buyer's order was created
    assert result["figures"]["buyers_refused_share"]["measured"] == 0
    row = result["figures"]["delay_rate"]
    assert row["measured"] == pytest.approx(measured_figures(run)["delay_rate"])
    assert row["inside_interval"] in (True, False) and row["error_pp"] is not None
    assert result["windows"] and {"delay_rate", "p95_s", "queue_depth"} <= set(result["windows"][0])


def test_another_scenario_is_refused() -> None:
    problem = refusal(load_scenario("steady"), load_run(REAL), load_calibration())
    assert problem is not None and "'real-mini', not 'steady'" in problem


def test_another_seed_or_setting_is_refused_naming_it() -> None:
    scenario = parse_scenario((REAL / "scenario.yaml").read_text(), "s", ["seed=6"])
    problem = refusal(scenario, load_run(REAL), load_calibration())
    assert problem is not None and "seed (6 against 5)" in problem


def test_a_calibration_source_is_refused() -> None:
    cal = load_calibration()
    run = load_run(REAL)
    own = cal.model_copy(update={"sources": (*cal.sources, Source(
        run_id=run.run_id, scenario="real-mini", role="base", started_at="x"))})
    problem = refusal(_scenario(), run, own)
    assert problem is not None and "source of the calibration" in problem


def test_the_cli_refuses_in_one_line(tmp_path: Path) -> None:
    run = shutil.copytree(REAL, tmp_path / "run")
    result = CliRunner().invoke(cli, ["simulate", "steady", "--against", str(run)])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "not 'steady'" in result.output


def test_the_cli_compares_as_json(tmp_path: Path) -> None:
    run = shutil.copytree(REAL, tmp_path / "run")
    result = CliRunner().invoke(cli, ["simulate", str(REAL / "scenario.yaml"), "--against",
                                      str(run), "--seeds", "3", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["against"]["run_id"] == "20261124-221622-real-mini"
    assert document["forecast"]["calibration"]["sources"]
    assert document["forecast"]["intervals"]["prediction"].startswith("2.5th")
