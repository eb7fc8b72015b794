"""The run directory's rules, defined once (contract/rundir.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fakalab.contract.rundir import buyer_paid_at, cell, delays, money


def _delayed(paid: float | None, delivered: float | None, said: float | None = None) -> bool:
    clock = buyer_paid_at([paid], [said])
    return bool(delays(clock, [delivered], sla_s=30, ended_at=1000).delayed[0])


def test_delayed_means_paid_and_not_delivered_within_the_sla() -> None:
    assert not _delayed(None, None)
    assert not _delayed(100, 129)
    assert _delayed(100, 131)
    assert _delayed(100, None)
    assert not _delayed(990, None)  # not decided by the end of the run


def test_the_clock_starts_when_the_buyer_paid() -> None:
    assert _delayed(140, 141, said=100)  # the shop heard of it 40 s late (a lost callback)
    assert _delayed(None, None, said=100)  # never confirmed at all
    assert not _delayed(100, 120, said=110)  # the earlier of the two


def test_undecided_orders_are_neither_on_time_nor_late() -> None:
    d = delays(np.array([100.0, 990.0, np.nan]), np.array([np.nan, np.nan, np.nan]), 30, 1000)
    assert d.paid.tolist() == [True, True, False]
    assert d.decided.tolist() == [True, False, False]
    assert d.delayed.tolist() == [True, False, False]


def test_series_in_series_out_shape() -> None:
    orders = pd.DataFrame({"paid_at": [1.0, np.nan], "buyer_paid_at": [np.nan, 2.0]})
    assert buyer_paid_at(orders["paid_at"], orders["buyer_paid_at"]).tolist() == [1.0, 2.0]


def test_cells_and_money() -> None:
    assert (cell(None), cell(True), cell(False), cell(1.5)) == ("", "true", "false", 1.5)
    assert (money(1205), money(5), money(0), money(-250)) == ("12.05", "0.05", "0.00", "-2.50")
