"""A drill traces the reference shop into its run directory unless told not to."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from fakalab.contract.scenario import load_scenario
from fakalab.scenarios.drill import DrillOptions, _Run


def _run(tmp_path: Path, *overrides: str) -> _Run:
    scenario = load_scenario("steady", list(overrides))
    return _Run(scenario, None, DrillOptions(out=tmp_path), Console(quiet=True))


def test_a_drill_traces_into_the_run_directory(tmp_path: Path) -> None:
    run = _run(tmp_path)
    assert run.settings["tracing"] is True
    assert run.settings["trace_file"] == str(run.dir / "traces" / "shop.jsonl")
    assert run.stack.traces == {"traces": run.dir / "traces", "otlp_endpoint": None}  # type: ignore[union-attr]


def test_shop_tracing_false_switches_it_off(tmp_path: Path) -> None:
    run = _run(tmp_path, "shop.tracing=false")
    assert run.settings["tracing"] is False
    assert run.stack.traces == {}  # type: ignore[union-attr]


def test_an_endpoint_reaches_the_upstreams_too(tmp_path: Path) -> None:
    run = _run(tmp_path, "shop.otlp_endpoint=http://127.0.0.1:4318")
    assert run.stack.traces["otlp_endpoint"] == "http://127.0.0.1:4318"  # type: ignore[union-attr]
