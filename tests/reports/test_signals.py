"""Blast radius of announced faults (reports/signals.py) on a hand-made run."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from fakalab.reports.signals import announced_faults, blast_radius, compare_signals

SCENARIO = """
drill:
  faults:
    - {id: f1, link: shop->payment-a, announce: true}
    - {id: f2, link: shop->payment-b}
"""


def _analysis(tmp_path: Path, channels: list[str], delayed: list[bool],
              label: str) -> Any:
    (tmp_path / "scenario.yaml").write_text(SCENARIO)
    n = len(channels)
    orders = pd.DataFrame({"created_at": [100.0 + i for i in range(n)], "channel": channels})
    faults = pd.DataFrame({"fault_id": ["f1", "f2"], "link": ["shop->payment-a",
                                                             "shop->payment-b"],
                           "started_at": [100.0, 100.0], "ended_at": [100.0 + n, 100.0 + n]})
    out = pd.DataFrame({"decided": [True] * n, "delayed": delayed})
    run = SimpleNamespace(path=tmp_path, orders=orders, faults=faults, run_id=label,
                          label=label)
    return SimpleNamespace(run=run, out=out)


def test_only_announced_faults_are_read(tmp_path: Path) -> None:
    (tmp_path / "scenario.yaml").write_text(SCENARIO.replace("true", "false_alarm"))
    assert announced_faults(tmp_path) == {"f1": "false_alarm"}
    assert announced_faults(tmp_path / "missing") == {}


def test_blast_radius_counts_the_orders_on_the_faulty_channel(tmp_path: Path) -> None:
    a = _analysis(tmp_path, ["payment-a", "payment-a", "payment-b", "payment-b"],
                  [True, False, False, False], "base")
    (row,) = blast_radius(a)
    assert (row["fault_id"], row["orders_in_window"], row["blast_radius"]) == ("f1", 4, 2)
    assert (row["blast_radius_share"], row["delayed_share"]) == (0.5, 0.25)


def test_the_comparison_has_an_interval_for_each_share(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    base = _analysis(tmp_path / "a", ["payment-a"] * 50 + ["payment-b"] * 50,
                     [True] * 30 + [False] * 70, "unsubscribed")
    other = _analysis(tmp_path / "b", ["payment-b"] * 100, [False] * 100, "subscribed")
    rows = compare_signals([base, other], resamples=200)
    assert [r["metric"] for r in rows] == ["blast_radius_share", "delayed_share"]
    share = rows[0]
    assert share["delta"] == pytest.approx(-0.5)
    assert share["ci_low"] < -0.5 < share["ci_high"] < 0
