"""The external audit on an outside run directory (tests/scenarios/outside_run.py): each check
finds its order, passes on a clean run, and is documented as the code words it; reports and
the simulator read such runs and say what cannot be seen."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from fakalab.reports.build import build_report
from fakalab.reports.outside_audit import CHECKS, audit_outside, load_outside, run_outside_checks
from fakalab.reports.rundir import load_run
from tests.reports.conftest import TINY
from tests.scenarios.outside_run import write_outside_run

DOCS = Path(__file__).resolve().parents[2] / "docs" / "run-dir.md"


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_outside_run(tmp_path_factory.mktemp("outside") / "run")


def test_each_check_finds_its_order(outside: Path) -> None:
    checks = {c.name: c for c in audit_outside(outside)}
    found = {name: c.rows for name, c in checks.items() if c.rows}
    assert {r["orders"] == ["A", "E"] for r in found["key_delivered_once"]} == {True}
    assert [r["order_no"] for r in found["paid_orders_delivered"]] == ["D"]
    assert [r["order_no"] for r in found["delivered_only_when_paid"]] == ["E"]
    assert [r["order_no"] for r in found["wrong_amount_refused"]] == ["C"]
    assert [r["order_no"] for r in found["acknowledged_notifies_applied"]] == ["D"]
    assert [r["order_no"] for r in found["status_matches_keys"]] == ["F"]
    assert set(found) == {"key_delivered_once", "paid_orders_delivered",
                          "delivered_only_when_paid", "wrong_amount_refused",
                          "acknowledged_notifies_applied", "status_matches_keys"}
    assert checks["forged_notify_refused"].passed and not checks["forged_notify_refused"].skipped
    assert "no other_pid probe" in checks["other_merchant_refused"].skipped
    document = json.loads((outside / "audit.json").read_text())
    assert document["view"] == "outside" and document["passed"] is False


def test_probes_that_moved_an_order_on_are_violations(outside: Path) -> None:
    audit = load_outside(outside)
    audit.probes = pd.DataFrame([
        {"probe": "other_pid", "order_no": "X", "trade_no": "TX", "http_status": 200.0,
         "reply": "success", "keys_before": "", "keys_after": "ab" * 32,
         "stages_after": "pending_payment;delivered", "problem": ""},
        {"probe": "replay", "order_no": "Y", "trade_no": "TY", "http_status": 200.0,
         "reply": "success", "keys_before": "cd" * 32, "keys_after": "cd" * 32 + ";" + "ef" * 32,
         "stages_after": "delivered", "problem": ""},
        {"probe": "wrong_amount", "order_no": "Z", "problem": "create_order: HTTP 409",
         "keys_before": "", "keys_after": ""}])
    checks = {c.name: c for c in run_outside_checks(audit)}
    assert [r["order_no"] for r in checks["other_merchant_refused"].rows] == ["X"]
    assert [r["order_no"] for r in checks["replay_delivered_once"].rows] == ["Y"]
    assert checks["forged_notify_refused"].skipped == "no forged_sign probe in this run"
    assert [r["order_no"] for r in checks["wrong_amount_refused"].rows] == ["C"]


def test_every_check_is_documented_as_the_code_words_it() -> None:
    documented = DOCS.read_text()
    missing = [name for name, description, _ in CHECKS
               if f"| `{name}` | {description} |" not in documented]
    assert missing == []


def test_reports_and_the_comparison_read_an_outside_run(outside: Path, tmp_path: Path) -> None:
    run = load_run(outside)
    assert run.view == "outside" and "incidents" in run.unobservable and run.incidents.empty
    out = build_report([outside], tmp_path / "one")
    metrics = json.loads((out / "metrics.json").read_text())["runs"][0]
    assert metrics["run"]["view"] == "outside"
    assert metrics["by_priority"] == [] and metrics["transparency"][
        "faults_with_incident_note"] is None  # unknown, not zero
    markdown = (out / "report.md").read_text()
    assert "Seen from outside" in markdown and "not observable from outside" in markdown
    inside = Path(shutil.copytree(TINY, tmp_path / "tiny"))
    both = build_report([inside, outside], tmp_path / "both", resamples=50)
    document = json.loads((both / "metrics.json").read_text())
    assert [r["run"]["view"] for r in document["runs"]] == ["inside", "outside"]
    assert document["comparison"]["rows"]


def test_the_simulator_reads_an_outside_run(outside: Path) -> None:
    from fakalab.simulate.runfiles import simulate_run

    result = simulate_run(outside, seeds=(0,), processes=1)
    assert (outside / "simulation" / "summary.json").is_file()
    assert result.summary["run_id"] == "19700101-000000-outside"
