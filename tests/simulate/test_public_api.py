"""Locks the public surface of the simulate package."""

import importlib

import pytest

SURFACE = {
    "fakalab.simulate.model": {"SimulationResult", "draw_pool_inputs", "run"},
    "fakalab.simulate.params": {
        "HOLDING_STAGES",
        "Admission",
        "Announcement",
        "Buyer",
        "Channel",
        "Fault",
        "LoadShape",
        "Payment",
        "PipelineModel",
        "PriorityClass",
        "RiskActing",
        "Stage",
        "Cpu",
        "Trace",
        "Upstream",
        "UpstreamFault",
    },
    "fakalab.simulate.erlang": {
        "erlang_b",
        "erlang_c",
        "mmc_mean_wait",
        "mmc_p_wait_gt",
        "priority_mean_waits",
        "utilisation",
    },
    "fakalab.simulate.whatif": {
        "SweepPoint", "aggregate", "grid", "metric", "sweep", "with_params"},
    "fakalab.simulate.capacity": {
        "SLO_FIGURES",
        "CapacityPlan",
        "Slo",
        "at_peak",
        "capacity",
        "lever_effects",
        "parse_slo",
    },
    "fakalab.simulate.calibrate": {
        "CALLBACK",
        "ArrivalMode",
        "STAGES",
        "Calibration",
        "Fitted",
        "arrival_rates",
        "fit",
        "fit_shifts",
        "segment_edges",
        "stage_samples",
        "to_model",
    },
    "fakalab.simulate.replay": {"WINDOW_COLUMNS", "compare", "replay", "simulated_orders"},
    "fakalab.simulate.runfiles": {"RunDirError", "RunSimulation", "compact", "simulate_run"},
    "fakalab.simulate.scenario_model": {
        "CALIBRATION", "DRAIN_LIMIT_S", "Arrivals", "load_calibration", "polls_per_watcher",
        "scenario_model", "shop_settings"},
    "fakalab.simulate.cli": {"simulate"},
}


@pytest.mark.parametrize("module", sorted(SURFACE))
def test_public_names(module: str) -> None:
    loaded = importlib.import_module(module)
    assert set(loaded.__all__) == SURFACE[module]
    for name in loaded.__all__:
        assert hasattr(loaded, name)


def test_package_exports_the_entry_points() -> None:
    import fakalab.simulate as simulate

    assert simulate.run is importlib.import_module("fakalab.simulate.model").run
    assert {"run", "PipelineModel", "sweep", "capacity", "run_mmc", "MMcModel"} <= set(
        simulate.__all__
    )
