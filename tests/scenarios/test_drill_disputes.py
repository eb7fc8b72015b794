"""A short real drill in which buyers claim non-delivery: every claim is in disputes.csv,
settled by the order's receipt both ways — for the buyer whose payment callback was lost,
against the one who had been shown the keys. Real processes on 127.0.0.1 only."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Channel A loses every callback and its query API stalls past the shop's timeout from 1 s
# to the end: a buyer paying at A is not delivered within their 4 s, so claims honestly;
# buyers at B are served, and half of them claim anyway.
SCENARIO = """\
name: mini-dispute
duration: 8s
seed: 5
sla_s: 4
load:
  shape: {kind: steady, rate_per_s: 3}
  personas: {buyer: 1}
  buyers: {think_s: 0.5, patience_s: [10, 10], max_wait_s: 4,
           claims: {undelivered: 1.0, delivered: 0.5, after_s: 0.2}}
shop: {workers: 2}
drill:
  faults:
    - {id: pay-a-stall, link: shop->payment-a, start: 0s, duration: 30s,
       fault: {business: {callback_drop_pct: 100, query_latency_ms: 3000}}}
slos: {delay_rate: 1.0, error_rate: 0.5}
"""


def test_claims_are_settled_by_receipt_both_ways(tmp_path: Path) -> None:
    scenario = tmp_path / "mini-dispute.yaml"
    scenario.write_text(SCENARIO)
    run = subprocess.run([sys.executable, "-m", "fakalab", "drill", str(scenario), "--out",
                          str(tmp_path / "runs")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode in (0, 1), run.stdout[-3000:] + run.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    with open(run_dir / "disputes.csv", newline="") as handle:
        claims = list(csv.DictReader(handle))
    with open(run_dir / "orders.csv", newline="") as handle:
        orders = {o["order_no"]: o for o in csv.DictReader(handle)}
    outcomes = {(c["kind"], c["settled_by"], c["outcome"]) for c in claims}
    assert ("honest", "receipt", "for_buyer") in outcomes, claims
    assert ("false", "receipt", "against_buyer") in outcomes, claims
    for claim in claims:
        order = orders[claim["order_no"]]
        if claim["outcome"] == "against_buyer":  # the receipt's delivery is the shop's own
            assert order["delivered_at"] and float(order["delivered_at"]) < float(claim["at"])
        if claim["outcome"] == "for_buyer":
            assert not order["delivered_at"] or float(order["delivered_at"]) > float(claim["at"])
    metrics = json.loads((run_dir / "report" / "metrics.json").read_text())["runs"][0]
    assert metrics["disputes"]["claims"] == len(claims)
