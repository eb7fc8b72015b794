from __future__ import annotations

import numpy as np
import pytest

from fakalab.reports.analysis import Analysis
from fakalab.reports.compare import (
    bootstrap_binary,
    bootstrap_quantile,
    bootstrap_ratio,
    compare,
)


def test_rows_have_exact_point_deltas(tiny: Analysis, tiny_opaque: Analysis) -> None:
    result = compare([tiny, tiny_opaque], resamples=300, seed=1)
    assert result["baseline"] == "19700101-001640-tiny" and result["scenario"] == "tiny"
    rows = {r["metric"]: r for r in result["rows"]}
    assert rows["tickets_per_100_delayed"]["baseline"] == 150.0
    assert rows["tickets_per_100_delayed"]["value"] == 200.0
    assert rows["tickets_per_100_delayed"]["delta"] == 50.0
    assert rows["delay_rate"]["delta"] == 0.0  # same orders in both runs
    assert rows["stage_visibility"]["delta"] == pytest.approx(-13 / 14)
    assert rows["vacuum_p50_s"]["delta"] == 49.0 - 35.0
    assert rows["eta_on_time_share"]["delta"] is None  # the opaque run showed no ETA
    assert rows["eta_on_time_share"]["ci_low"] is None
    for row in rows.values():
        if row["ci_low"] is not None:
            assert row["ci_low"] <= row["ci_high"]
    assert {r["label"] for r in result["rows"]} == {"opaque"}


def test_seeded(tiny: Analysis, tiny_opaque: Analysis) -> None:
    first = compare([tiny, tiny_opaque], resamples=100, seed=3)
    assert first == compare([tiny, tiny_opaque], resamples=100, seed=3)
    assert first != compare([tiny, tiny_opaque], resamples=100, seed=4)


def test_identical_runs_have_an_interval_around_zero(tiny: Analysis) -> None:
    rows = compare([tiny, tiny], resamples=500, seed=0)["rows"]
    row = next(r for r in rows if r["metric"] == "delay_rate")
    assert row["delta"] == 0.0 and row["ci_low"] < 0 < row["ci_high"]


def test_bootstrap_binary_matches_its_distribution() -> None:
    draws = bootstrap_binary(np.random.default_rng(0), 30, 100, 20_000)
    assert draws.mean() == pytest.approx(0.3, abs=0.002)
    assert draws.std() == pytest.approx(np.sqrt(0.3 * 0.7 / 100), rel=0.03)
    assert np.isnan(bootstrap_binary(np.random.default_rng(0), 0, 0, 3)).all()


def test_bootstrap_ratio_equals_index_resampling_in_distribution() -> None:
    rng = np.random.default_rng(0)
    tickets = np.array([0, 0, 1, 2, 0, 1, 0, 0])
    delayed = np.array([0, 0, 1, 1, 1, 0, 0, 0], dtype=float)
    fast = bootstrap_ratio(rng, tickets, delayed, 20_000, 100.0)
    idx = rng.integers(0, 8, (20_000, 8))
    den = delayed[idx].sum(1)
    slow = np.divide(100.0 * tickets[idx].sum(1), den, out=np.full(20_000, np.nan), where=den > 0)
    assert np.nanmean(fast) == pytest.approx(np.nanmean(slow), rel=0.02)
    assert np.nanpercentile(fast, 90) == pytest.approx(np.nanpercentile(slow, 90), rel=0.05)


def test_bootstrap_quantile_chunks_give_the_requested_count() -> None:
    values = np.arange(10.0)
    draws = bootstrap_quantile(np.random.default_rng(0), values, 50, 1001)
    assert draws.shape == (1001,) and draws.min() >= 0 and draws.max() <= 9
    assert np.isnan(bootstrap_quantile(np.random.default_rng(0), np.array([]), 50, 2)).all()
