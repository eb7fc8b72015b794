"""Status disputes in the report: the figures of disputes.csv by hand, and the comparison of
a shop with receipts against one without."""

from __future__ import annotations

import json
from pathlib import Path

from fakalab.reports.analysis import Analysis, analyze
from fakalab.reports.disputes import compare_disputes, disputes
from fakalab.reports.rundir import load_run
from tests.reports.conftest import TINY, TINY_OPAQUE


def test_disputes_of_the_tiny_run_by_hand(tiny: Analysis) -> None:
    found = disputes(tiny.run.disputes, tiny.out)
    assert found is not None
    # 5 claims (A, B false; C key; D, F honest) of 5 paid orders; A, B against, D for, C and
    # F open (no receipt settles a key claim; F's receipt did not verify)
    assert (found["claims"], found["honest_claims"], found["false_claims"],
            found["key_claims"]) == (5, 2, 2, 1)
    assert (found["settled_by_receipt"], found["settled_by_receipt_share"]) == (3, 0.6)
    assert (found["settled_against_buyer"], found["settled_for_buyer"], found["open"]) == (2, 1, 2)
    assert found["open_per_100_paid"] == 40.0 and found["claims_per_100_paid"] == 100.0
    assert found["settle_p50_s"] == 0.05
    assert (found["honest_settled_against"], found["false_settled_for"]) == (0, 0)


def test_a_run_without_disputes_csv_has_none(tiny: Analysis) -> None:
    assert disputes(None, tiny.out) is None


def test_receipts_against_none_compared() -> None:
    runs = [analyze(load_run(path)) for path in (TINY_OPAQUE, TINY)]  # no receipts, receipts
    for a in runs:
        a.metrics["disputes"] = disputes(a.run.disputes, a.out)
    rows = {r["metric"]: r for r in compare_disputes(runs, resamples=200)}
    share, opened = rows["settled_by_receipt_share"], rows["open_per_100_paid"]
    assert (share["baseline"], share["value"], share["delta"]) == (0.0, 0.6, 0.6)
    assert (opened["baseline"], opened["value"], opened["delta"]) == (100.0, 40.0, -60.0)
    for row in rows.values():
        assert row["ci_low"] <= row["delta"] <= row["ci_high"]


def test_the_report_shows_the_disputes(ab_report: Path) -> None:
    document = json.loads((ab_report / "metrics.json").read_text())
    assert document["runs"][0]["disputes"]["claims"] == 5
    metrics = {r["metric"] for r in document["comparison"]["rows"]}
    assert {"settled_by_receipt_share", "open_per_100_paid"} <= metrics
    assert "Status disputes" in (ab_report / "index.html").read_text()
    assert "Status disputes" in (ab_report / "report.md").read_text()
