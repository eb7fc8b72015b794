"""Admission as buyers met it (reports/admission.py), from attempts.csv rows."""

from __future__ import annotations

import pandas as pd
import pytest

from fakalab.reports.admission import admission


def attempts(rows: list[tuple[str, str, float, float | None]]) -> pd.DataFrame:
    return pd.DataFrame([{"journey": j, "at": 0.0, "persona": "buyer", "attempt": 1.0,
                          "outcome": o, "http_status": 201.0 if o == "created" else 503.0,
                          "latency_ms": ms, "retry_after_s": ra} for j, o, ms, ra in rows])


def outcomes(paid: list[bool], delivered: list[bool], delayed: list[bool]) -> pd.DataFrame:
    return pd.DataFrame({"paid": paid, "delivered": delivered, "delayed": delayed})


def test_refused_buyers_retries_and_goodput() -> None:
    rows = attempts([
        ("a", "created", 20.0, None),
        ("b", "refused", 2.0, 3.0), ("b", "created", 30.0, None),  # served after a refusal
        ("c", "refused", 2.0, 5.0), ("c", "gave_up", float("nan"), 5.0),
        ("d", "failed", 5000.0, None),
    ])
    out = outcomes([True, True, False], [True, True, False], [False, True, False])
    got = admission(rows, out, 100.0, 110.0)
    assert got is not None
    assert (got["buyers"], got["attempts"], got["refusals"], got["failed_attempts"]) == (4, 5, 2, 1)
    assert got["buyers_refused"] == 2 and got["buyers_refused_share"] == 0.5
    assert got["buyers_served_after_refusal"] == 1 and got["buyers_gave_up"] == 1
    assert got["retry_after_p50_s"] == 4.0
    assert got["paid_inside_sla"] == 1 and got["paid_inside_sla_share"] == 0.5
    assert got["goodput_per_s"] == pytest.approx(0.1)
    assert got["create_p99_s"] == pytest.approx(4.8, rel=0.1)  # the 5 s failure dominates


def test_a_run_without_attempts_has_no_admission_section() -> None:
    assert admission(None, outcomes([], [], []), 0.0, 1.0) is None
    assert admission(attempts([]), outcomes([], [], []), 0.0, 1.0) is None
