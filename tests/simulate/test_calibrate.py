import shutil
from pathlib import Path

import numpy as np
import pytest

from fakalab.reports.rundir import load_run
from fakalab.simulate.calibrate import arrival_rates, segment_edges, to_model
from fakalab.simulate.model import run
from fakalab.simulate.runfiles import simulate_run
from fakalab.simulate.scenario_model import load_calibration

FIXTURE = Path(__file__).parent / "fixtures" / "small_run"


@pytest.fixture()
def small_run(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "small_run"))


@pytest.fixture()
def simulated(small_run: Path):  # type: ignore[no-untyped-def]
    return simulate_run(small_run, seeds=(0, 1), processes=1)


def test_fits_the_known_answers(simulated) -> None:  # type: ignore[no-untyped-def]
    cal = simulated.calibration
    assert cal.workers == 4 and cal.classes == (1.0,) and cal.sla_s == 30.0
    assert cal.horizon_s == pytest.approx(100.0)
    assert cal.pay_prob == pytest.approx(0.9)
    assert np.allclose(cal.pay_time, 2.0)
    assert np.allclose(cal.callback.base, 0.5) and cal.callback.shifts == ()
    assert set(cal.stages) == {"risk_check", "allocation", "delivery"}
    assert np.allclose(cal.stages["risk_check"].base, 0.2, atol=1e-3)
    assert np.allclose(cal.stages["allocation"].base, 0.3, atol=1e-3)
    assert np.allclose(cal.stages["delivery"].base, 0.1, atol=1e-3)
    assert cal.stages["allocation"].shifts == () and cal.stages["delivery"].shifts == ()
    shifts = cal.stages["risk_check"].shifts
    assert [(a, b) for a, b, *_ in shifts] == [(40, 45), (45, 50), (50, 55), (55, 60)]
    assert all(f == 1.0 and add == pytest.approx(1.0, abs=1e-3) for *_, f, add in shifts)
    assert cal.fault_windows == ((40.0, 60.0),)
    assert [rate for _, rate in cal.arrivals[:15]] == pytest.approx([2.0] * 15)


def test_the_model_uses_the_fit(simulated) -> None:  # type: ignore[no-untyped-def]
    model = to_model(simulated.calibration)
    assert [s.name for s in model.stages] == ["risk_check", "allocation", "delivery", "commit"]
    assert not model.stages[-1].blocks_delivery
    assert all(s.attempts == 1 and s.timeout_s is None for s in model.stages)
    assert model.arrivals.rate(np.array([12.0, 33.0])) == pytest.approx([2.0, 2.0])
    assert model.workers == 4 and model.horizon_s == pytest.approx(100.0)


def test_the_replay_uses_the_runs_own_arrivals(simulated, small_run: Path) -> None:  # type: ignore[no-untyped-def]
    cal = simulated.calibration
    created = np.sort(load_run(small_run).orders["created_at"].to_numpy(dtype=float))
    assert np.allclose(cal.created, created - load_run(small_run).started_at)
    traced = run(to_model(cal), seed=3).records.created_at
    assert traced.tolist() == list(cal.created)
    drawn = run(to_model(cal, "rate"), seed=3).records.created_at
    assert to_model(cal, "rate").arrival_times is None and drawn.tolist() != list(cal.created)
    assert simulated.summary["calibration"]["arrivals"] == "trace"


def test_writes_what_the_report_reads(simulated, small_run: Path) -> None:  # type: ignore[no-untyped-def]
    summary = simulated.summary
    assert summary["measured"]["delay_rate"] == 0.0
    assert summary["measured"]["p95_s"] == pytest.approx(2.15, abs=1e-3)
    assert summary["predicted"]["delay_rate"] == 0.0
    assert summary["seeds"] == [0, 1]
    windows = simulated.windows
    assert list(windows.columns) == [
        "window_start",
        "window_end",
        "predicted_delay_rate",
        "predicted_p95_s",
        "measured_delay_rate",
        "measured_p95_s",
    ]
    fault = windows[windows["window_start"] == 50.0].iloc[0]
    assert fault["measured_p95_s"] == pytest.approx(2.15, abs=1e-3)
    assert fault["predicted_p95_s"] == pytest.approx(2.15, abs=0.06)
    quiet = windows[windows["window_start"] == 10.0].iloc[0]
    assert quiet["measured_p95_s"] == pytest.approx(1.15, abs=1e-3)
    assert quiet["predicted_p95_s"] == pytest.approx(1.15, abs=0.05)
    run = load_run(small_run)
    assert run.simulation is not None and len(run.simulation.windows) == len(windows)
    assert (small_run / "simulation" / "calibration.json").is_file()


def test_segments_cut_at_fault_edges() -> None:
    edges = segment_edges(30.0, 10.0, [(12.5, 20.4)])
    assert edges.tolist() == [0.0, 10.0, 12.5, 20.4, 30.0]


def test_arrival_rates_per_window() -> None:
    rates, end = arrival_rates(np.array([0.5, 1.0, 6.0, 9.0]), 5.0)
    assert [r for _, r in rates] == pytest.approx([0.4, 2 / 4.0])
    assert end == pytest.approx(9.0, abs=1e-5)


def test_the_committed_calibration_loads_and_names_its_sources() -> None:
    cal = load_calibration()
    assert {s.role for s in cal.sources} >= {"base"}
    assert all(s.run_id and s.started_at for s in cal.sources)
    for name in ("write_s", "pickup_s", "risk_call_s", "supplier_call_s", "delivery_s"):
        assert 0 < float(np.mean(getattr(cal, name))) < 0.1, name
    assert 0 < float(np.median(cal.callback_s)) < 1
    assert cal.fitted_at and cal.fakalab


def test_a_speed_counts_only_when_the_queue_tells_it() -> None:
    from fakalab.simulate.calibrating import IDENTIFIED_ORDERS, speed_identified

    # a surge drained at the CPU's pace: 30% slower or faster both hold the queue far worse
    assert speed_identified(4.0, 35.0, 25.0)
    # four workers drain as fast as they can at any speed above a bound: faster fits as well
    assert not speed_identified(0.1, 3.9, 0.1)
    assert not speed_identified(0.7, 2.3, 2.8)  # worse on both sides, but by under 5 orders
    # the margin grows with the best fit's own error
    assert not speed_identified(40.0, 40.0 + IDENTIFIED_ORDERS + 1, 80.0)
    assert speed_identified(40.0, 51.0, 80.0)


def test_the_committed_spread_comes_from_runs_that_tell_the_speed() -> None:
    cal = load_calibration()
    runs = cal.fit["runs"]
    told = sorted(run["speed"] for run in runs.values() if run.get("identified"))
    assert told, "no calibration run told the CPU speed"
    assert sorted(cal.speeds) == told
    assert any(s.scenario == "cal-surge" for s in cal.sources)
