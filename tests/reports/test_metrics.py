"""Delivery metrics of the `tiny` fixture, computed by hand (see the comments)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fakalab.reports import metrics as m
from fakalab.reports.analysis import Analysis

# tiny: run 1000..1100, sla 30 s. Orders (created, paid, delivered):
# A 1000/1005/1015 ttd 10 | B 1010/1012/1052 ttd 40 (late) | C 1020/1022/1042 ttd 20
# D 1030/1031/- (paid 69 s before the end: late) | E 1040/-/- | F 1080/1085/- (15 s: undecided)


def test_headline(tiny: Analysis) -> None:
    assert tiny.metrics["headline"] == {
        "orders": 6,
        "paid": 5,
        "delivered": 3,
        "undecided": 1,
        "delayed": 2,
        "delay_rate": 0.5,  # B, D of A, B, C, D
        "ttd_p50_s": 20.0,
        "ttd_p95_s": 38.0,  # 20 + 0.9 * (40 - 20)
        "ttd_p99_s": pytest.approx(39.6),  # 20 + 0.98 * 20
        "ttd_max_s": 40.0,
        "faults_injected": 2,
        "slos_passed": 1,
        "slos_failed": 1,
    }


def test_outcomes_per_order(tiny: Analysis) -> None:
    out = tiny.out
    assert out["delayed"].tolist() == [False, True, False, True, False, False]
    assert out["undecided"].tolist() == [False, False, False, False, False, True]
    assert out["ttd"].tolist()[:3] == [10.0, 40.0, 20.0]


def test_delivered_exactly_at_the_sla_is_on_time() -> None:
    orders = pd.DataFrame({"paid_at": [0.0, 0.0], "delivered_at": [30.0, 30.5]})
    assert m.outcomes(orders, 30.0, 100.0)["delayed"].tolist() == [False, True]


def test_windows(tiny: Analysis) -> None:
    w = tiny.windows
    assert w["start_s"].tolist() == [0, 20, 40, 60, 80]
    assert w["arrivals_per_s"].tolist() == [0.1, 0.1, 0.05, 0.0, 0.05]
    # paid minus delivered at 1020, 1040, 1060, 1080, 1100
    assert w["queue_depth"].tolist() == [1, 3, 1, 1, 2]
    assert w["decided"].tolist() == [2, 2, 0, 0, 0]
    assert w["delayed"].tolist() == [1, 1, 0, 0, 0]
    assert w["delay_rate"].tolist()[:2] == [0.5, 0.5]
    assert np.isnan(w["delay_rate"].to_numpy()[2:]).all()


def test_over_time(tiny: Analysis) -> None:
    assert tiny.metrics["over_time"] == {
        "window_s": 20.0,
        "windows": 5,
        "peak_arrival_rate_per_s": 0.1,
        "peak_queue_depth": 3,
        "peak_queue_depth_at_s": 31.0,  # D paid at 1031: A delivered, B C D not
        "worst_window_delay_rate": 0.5,
    }


@pytest.mark.parametrize(
    ("duration", "width"), [(60, 1), (61, 2), (180, 5), (3600, 60), (1e9, 3600)]
)
def test_window_width(duration: float, width: int) -> None:
    assert m.window_width(duration) == width


def test_queue_depth_counts_changes_at_the_instant() -> None:
    orders = pd.DataFrame({"paid_at": [1.0, 2.0, np.nan], "delivered_at": [3.0, np.nan, 4.0]})
    assert m.queue_steps(orders).at(np.array([0.5, 1.0, 2.0, 3.0, 9.0])).tolist() == [0, 1, 2, 1, 1]


def test_stages(tiny: Analysis) -> None:
    # allocating: A 4, B 35, C 15, D 66 (open until the end); pending_payment: 5 2 2 1 30 5;
    # risk_check: 2 2 2 2 13 (F open); delivering: 3 2 2; paid: 1 1 1 1 2. Total 199 s.
    rows = {r["state"]: r for r in tiny.metrics["stages"]}
    assert [r["state"] for r in tiny.metrics["stages"]] == [
        "allocating",
        "pending_payment",
        "risk_check",
        "delivering",
        "paid",
    ]
    assert rows["allocating"] == {
        "state": "allocating",
        "transitions": 4,
        "total_s": 120.0,
        "mean_s": 30.0,
        "p95_s": pytest.approx(61.35),
        "share": pytest.approx(120 / 199),
    }
    assert rows["pending_payment"]["p95_s"] == pytest.approx(23.75)
    assert rows["risk_check"]["total_s"] == 21.0
    assert rows["risk_check"]["p95_s"] == pytest.approx(10.8)
    assert rows["delivering"]["p95_s"] == pytest.approx(2.9)
    assert rows["paid"]["transitions"] == 5
    assert "delivered" not in rows and "expired" not in rows  # terminal: no time accrues


def test_by_priority_and_channel(tiny: Analysis) -> None:
    assert tiny.metrics["by_priority"] == [
        {
            "priority": 0,
            "orders": 3,
            "paid": 2,
            "delayed": 0,
            "delay_rate": 0.0,
            "ttd_p50_s": 15.0,
            "ttd_p95_s": 19.5,
        },
        {
            "priority": 1,
            "orders": 3,
            "paid": 3,
            "delayed": 2,
            "delay_rate": 1.0,
            "ttd_p50_s": 40.0,
            "ttd_p95_s": 40.0,
        },
    ]
    assert tiny.metrics["by_channel"] == [
        {
            "channel": "payment-a",
            "orders": 3,
            "paid": 3,
            "delayed": 2,
            "delay_rate": pytest.approx(2 / 3),
            "ttd_p50_s": 25.0,
            "ttd_p95_s": 38.5,
        },
        {
            "channel": "payment-b",
            "orders": 3,
            "paid": 2,
            "delayed": 0,
            "delay_rate": 0.0,
            "ttd_p50_s": 20.0,
            "ttd_p95_s": 20.0,
        },
    ]


def test_percentile_of_nothing_is_none() -> None:
    assert m.percentile(np.array([np.nan]), 50) is None
