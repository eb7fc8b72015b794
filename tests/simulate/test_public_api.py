"""Locks the public surface of the simulate package."""

import importlib

import pytest

SURFACE = {
    "simulate.model": {"SimulationResult", "draw_pool_inputs", "run"},
    "simulate.params": {
        "HOLDING_STAGES",
        "Buyer",
        "Channel",
        "Fault",
        "LoadShape",
        "Payment",
        "PipelineModel",
        "PriorityClass",
        "Stage",
    },
    "simulate.erlang": {
        "erlang_b",
        "erlang_c",
        "mmc_mean_wait",
        "mmc_p_wait_gt",
        "priority_mean_waits",
        "utilisation",
    },
    "simulate.whatif": {"SweepPoint", "aggregate", "grid", "metric", "sweep", "with_params"},
    "simulate.capacity": {
        "CapacityPlan",
        "Slo",
        "at_peak",
        "capacity",
        "lever_effects",
        "parse_slo",
    },
    "simulate.calibrate": {
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
    "simulate.replay": {"WINDOW_COLUMNS", "compare", "replay", "simulated_orders"},
    "simulate.runfiles": {"RunDirError", "RunSimulation", "compact", "simulate_run"},
    "simulate.scenario_model": {"DEFAULTS", "fault_windows", "load_defaults", "scenario_model"},
    "simulate.cli": {"simulate"},
}


@pytest.mark.parametrize("module", sorted(SURFACE))
def test_public_names(module: str) -> None:
    loaded = importlib.import_module(module)
    assert set(loaded.__all__) == SURFACE[module]
    for name in loaded.__all__:
        assert hasattr(loaded, name)


def test_package_exports_the_entry_points() -> None:
    import simulate

    assert simulate.run is importlib.import_module("simulate.model").run
    assert {"run", "PipelineModel", "sweep", "capacity", "run_mmc", "MMcModel"} <= set(
        simulate.__all__
    )
