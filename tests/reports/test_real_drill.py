"""Golden test on a run directory written by a real drill.

The fixture is `fakalab drill` output (a 10 s drill at 3 orders/s with a 1.5 s latency fault on
the risk link, SLA 2 s; the scenario is in the fixture's scenario.yaml), minus the shop's
database and Locust's raw files. Regenerate the golden file with FAKALAB_REGENERATE_GOLDEN=1
after an intended change to the metrics.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from fakalab.reports.build import build_report
from fakalab.reports.rundir import load_run

FIXTURE = Path(__file__).parent / "fixtures" / "real-drill"
GOLDEN = Path(__file__).parent / "golden" / "real-drill-metrics.json"


def test_real_drill_report_matches_its_golden_metrics(tmp_path: Path) -> None:
    run_dir = tmp_path / "real-drill"
    shutil.copytree(FIXTURE, run_dir)
    out = build_report([run_dir])
    produced = json.loads((out / "metrics.json").read_text())
    if os.environ.get("FAKALAB_REGENERATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(produced, indent=2, ensure_ascii=False) + "\n")
    assert produced == json.loads(GOLDEN.read_text())


def test_real_drill_figures_agree_with_its_own_files() -> None:
    """Cross-checks a person could do by hand on the fixture's CSV files."""
    run = load_run(FIXTURE)
    golden = json.loads(GOLDEN.read_text())["runs"][0]
    assert golden["headline"]["orders"] == len(run.orders)
    delivered = run.orders["delivered_at"].notna().sum()
    assert golden["headline"]["delivered"] == delivered
    assert golden["headline"]["faults_injected"] == len(run.faults) == 1
    info = json.loads((FIXTURE / "run.json").read_text())
    drill_verdict = {s["name"]: s["observed"] for s in info["slos"]}
    assert abs(golden["headline"]["delay_rate"] - drill_verdict["delay_rate"]) < 1e-6
