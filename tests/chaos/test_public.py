"""Every module's public surface (`__all__`) exists, so callers can rely on it."""

from __future__ import annotations

import importlib

import pytest

MODULES = ["api", "cli", "client", "effects", "faults", "journal", "link", "plan", "probes",
           "proxy", "runner", "server", "tolerance", "toxics", "watchdog"]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(f"chaos.{name}")
    assert module.__all__, name
    for attr in module.__all__:
        assert hasattr(module, attr), f"chaos.{name}.{attr}"


def test_orchestrator_entry_points() -> None:
    from fakalab.chaos.client import connect_or_start
    from fakalab.chaos.journal import fault_rows
    from fakalab.chaos.runner import PlanRunner
    from fakalab.chaos.server import EmbeddedToxiproxy

    assert callable(connect_or_start) and callable(fault_rows)
    assert {"run", "interrupt", "preflight"} <= set(dir(PlanRunner))
    assert {"start", "stop", "url"} <= set(dir(EmbeddedToxiproxy))
