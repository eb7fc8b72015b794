import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fakalab.cli import cli
from fakalab.contract.scenario import load_scenario
from fakalab.simulate.scenario_model import scenario_model
from fakalab.simulate.targets import parse_what_ifs
from fakalab.simulate.whatif import sweep

FIXTURE = Path(__file__).parent / "fixtures" / "small_run"
SLOW_RISK = Path(__file__).parents[2] / "simulate" / "calibration" / "slow-risk.yaml"


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["simulate", *args])
    return result.exit_code, result.output


def _copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "run"))


def test_a_run_directory_writes_simulation(tmp_path: Path) -> None:
    run = _copy(tmp_path)
    code, output = _invoke(str(run), "--seeds", "2", "--json")
    assert code == 0, output
    summary = json.loads(output)
    assert summary["measured"]["delay_rate"] == 0.0 and summary["seeds"] == [0, 1]
    assert (run / "simulation" / "windows.csv").is_file()
    assert json.loads((run / "simulation" / "summary.json").read_text()) == summary


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda run: (run / "run.json").unlink(), "run.json: file is missing"),
        (lambda run: (run / "orders.csv").unlink(), "orders.csv: file is missing"),
        (
            lambda run: (run / "run.json").write_text('{"format_version": 99}'),
            "format_version 99 is newer",
        ),
    ],
)
def test_bad_run_directories_are_one_line_and_exit_2(tmp_path: Path, damage, message) -> None:  # type: ignore[no-untyped-def]
    run = _copy(tmp_path)
    damage(run)
    code, output = _invoke(str(run))
    assert code == 2 and message in output and output.count("\n") == 1


def test_an_unknown_scenario_or_lever_is_exit_2() -> None:
    assert _invoke("no-such-scenario")[0] == 2
    code, output = _invoke("steady", "--what-if", "no_such_lever=3")
    assert code == 2 and "no_such_lever" in output
    assert _invoke("steady", "--what-if", "workers")[0] == 2


def test_what_if_sweep_as_json() -> None:
    code, output = _invoke(
        str(SLOW_RISK),
        "--set",
        "load.shape.rate_per_s=12",
        "--what-if",
        "workers=2,8",
        "--set",
        "duration=90s",
        "--seeds",
        "2",
        "--json",
    )
    assert code == 0, output
    points = json.loads(output)
    assert [p["params"] for p in points] == [{"workers": 2}, {"workers": 8}]
    assert points[0]["delay_rate"]["mean"] > points[1]["delay_rate"]["mean"]


def test_more_workers_never_raise_the_delay_rate_for_a_seed() -> None:
    scenario = load_scenario(SLOW_RISK, ["load.shape.rate_per_s=12", "duration=90s"])
    model, _ = scenario_model(scenario)
    points = sweep(model, {"workers": [2, 3, 4, 6]}, seeds=[0, 1, 2], processes=1)
    for seed in (0, 1, 2):
        rates = [p.summary.delay_rate for p in points if p.seed == seed]
        assert rates == sorted(rates, reverse=True) and rates[0] > rates[-1]


def test_capacity_json() -> None:
    code, output = _invoke(
        str(SLOW_RISK),
        "--set",
        "load.shape.rate_per_s=12",
        "--set",
        "duration=90s",
        "--capacity",
        "--slo",
        "delay_rate<=1%",
        "--seeds",
        "2",
        "--json",
    )
    assert code == 0, output
    plan = json.loads(output)
    assert plan["slo"] == "delay_rate<=0.01" and plan["workers"] >= 1
    assert {tuple(lever["params"]) for lever in plan["levers"]} >= {("priority_lanes",)}
    assert plan["peak_held"] is True and plan["every_order_admitted"] is True


def test_capacity_over_the_shape_as_written_and_without_the_door() -> None:
    """A spike needs fewer workers than its peak held for the whole run; and with admission
    control the model still plans for admitting every order (the door would 'meet' a delay
    SLO with one worker by refusing nearly every buyer)."""
    from fakalab.simulate.capacity import capacity

    scenario = load_scenario("flash-sale", ["duration=100s"])
    model, _ = scenario_model(scenario)
    assert model.admission is not None
    held = capacity(model, "delay_rate<=5%", seeds=[0, 1], processes=1)
    shaped = capacity(model, "delay_rate<=5%", seeds=[0, 1], processes=1, hold_peak=False)
    assert held.door_off and held.held_peak and not shaped.held_peak
    assert held.workers is not None and shaped.workers is not None
    assert 1 < shaped.workers <= held.workers


def test_scenario_faults_and_levers() -> None:
    model, notes = scenario_model(load_scenario("flash-sale"))
    latency = sorted((f.target, f.added_latency_s, f.jitter_s) for f in model.upstream_faults)
    assert latency == [("payment-a", 0.8, 0.2), ("supplier-a", 0.5, 0.0)]
    assert [(f.target, f.failure_prob) for f in model.faults] == [("payment-a", 0.3)]
    assert len(notes) == 3
    assert parse_what_ifs(["workers=4,6", "transparency=opaque"]) == {
        "workers": [4, 6],
        "buyer.transparency": ["opaque"],
    }
