"""A real drill writes risk_features.csv (delay risk observes by default) and `fakalab model
train` learns from it. Real processes on 127.0.0.1."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from fakalab.contract.delay_risk import FEATURES, RISK_FEATURE_COLUMNS, load_model

ROOT = Path(__file__).resolve().parents[2]
FAKALAB = [sys.executable, "-m", "fakalab"]

SCENARIO = """\
name: mini-risk
duration: 14s
seed: 5
sla_s: 3
load:
  shape: {kind: steady, rate_per_s: 4}
  personas: {buyer: 1}
  buyers: {think_s: 0.2, patience_s: [30, 40], max_wait_s: 20,
           products: {steam-50: 1, vip-month: 1}}
shop: {workers: 1, admission: false}
drill:
  faults:
    - {id: slow-risk, link: shop->risk, fault: {latency: {latency: 500}}, start: 4s,
       duration: 6s}
slos: {delay_rate: 0.9}
"""


def test_a_drill_logs_features_a_model_can_be_trained_on(tmp_path: Path) -> None:
    scenario = tmp_path / "mini-risk.yaml"
    scenario.write_text(SCENARIO)
    run = subprocess.run([*FAKALAB, "drill", str(scenario), "--out", str(tmp_path / "runs"),
                          "--no-report"], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert run.returncode in (0, 1), run.stdout[-3000:] + run.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    with open(run_dir / "risk_features.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == RISK_FEATURE_COLUMNS
        rows = list(reader)
    with open(run_dir / "orders.csv", newline="") as handle:
        paid = {r["order_no"] for r in csv.DictReader(handle) if r["paid_at"]}
    stages = {(r["order_no"], r["stage"]) for r in rows}
    for order_no in paid:  # every paid order scored at creation and payment
        assert (order_no, "created") in stages and (order_no, "paid") in stages
    assert all(len(r) == len(RISK_FEATURE_COLUMNS) and r["action"] == "" for r in rows)
    assert max(float(r["risk_latency_s"]) for r in rows) > 0.1  # the fault, as the shop saw it
    out = tmp_path / "model.json"
    trained = subprocess.run([*FAKALAB, "model", "train", str(run_dir), "--out", str(out)],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert trained.returncode == 0, trained.stderr
    assert load_model(out).model.features == FEATURES
