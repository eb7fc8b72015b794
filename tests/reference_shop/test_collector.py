"""The shop's collector policy and the measure of its pauses (pure, in this process)."""

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from fakalab.reference_shop.collector import GEN0_THRESHOLD, GcPauses, tune


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_tune_freezes_what_exists_and_makes_young_passes_rare(restored: None) -> None:
    tune()
    assert gc.get_threshold()[0] == GEN0_THRESHOLD
    assert gc.get_freeze_count() > 1000  # the modules, classes and functions loaded so far


def test_every_pass_is_measured_by_generation() -> None:
    registry = CollectorRegistry()
    pauses = GcPauses(registry)
    pauses.install()
    try:
        gc.collect()
        gc.collect(0)
    finally:
        pauses.remove()
    assert pauses not in gc.callbacks
    full = registry.get_sample_value("fakalab_gc_pause_seconds_count", {"generation": "2"})
    young = registry.get_sample_value("fakalab_gc_pause_seconds_count", {"generation": "0"})
    assert full is not None and full >= 1 and young is not None and young >= 1
    total = registry.get_sample_value("fakalab_gc_pause_seconds_sum", {"generation": "2"})
    assert total is not None and total > 0
