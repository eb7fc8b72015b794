"""Real Locust, headless, against the real shop and upstreams on loopback (about 15 s)."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import httpx

from fakalab.contract.rundir import POLL_COLUMNS, TICKET_COLUMNS
from fakalab.contract.scenario import load_scenario
from fakalab.reference_shop.process import ShopProcess
from fakalab.reference_shop.upstreams.process import UpstreamsProcess
from fakalab.scenarios.locust.arrivals import arrival_times
from fakalab.scenarios.locust.records import merge_records

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = """\
name: tiny
duration: 8s
seed: 7
load:
  shape: {kind: steady, rate_per_s: 4}
  personas: {browser: 1, buyer: 4, impatient: 1, double_payer: 1, abandoner: 1}
  buyers: {think_s: 0.5, sse_share: 0.4, patience_s: [0.2, 0.5], max_wait_s: 3}
"""


def test_open_loop_run_against_the_shop(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(SCENARIO)
    scenario = load_scenario(str(path))
    records = tmp_path / "records"
    with UpstreamsProcess() as ups, ShopProcess(
            f"sqlite:///{tmp_path / 'shop.db'}", dict(ups.urls),
            options=["--set", "reconcile_after_paid_s=0.5"]) as shop:
        # a slow risk check holds orders in one stage longer than the buyers' patience
        httpx.patch(ups.urls["risk"] + "/admin/faults", json={"latency_ms": 800},
                    timeout=5).raise_for_status()
        run = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "scenarios/locust/locustfile.py"),
             "--headless", "-u", "1", "-r", "1", "-t", "11s", "--host", shop.url,
             "--only-summary", "--exit-code-on-error", "0", "--csv", str(tmp_path / "locust"),
             "--fakalab-scenario", str(path), "--fakalab-records", str(records)],
            cwd=ROOT, capture_output=True, text=True, timeout=40)
    assert run.returncode == 0, run.stderr[-3000:]
    with open(tmp_path / "locust_failures.csv", newline="") as handle:
        assert list(csv.DictReader(handle)) == [], run.stderr[-3000:]
    (summary,) = [json.loads(p.read_text()) for p in records.glob("arrivals-*.json")]
    expected = list(arrival_times(scenario.load.shape, scenario.duration, summary["seed"]))
    assert summary["scheduled"] == len(expected)
    assert summary["started"] + summary["dropped"] == summary["scheduled"]
    assert summary["dropped"] == 0 and summary["max_dispatch_lag_s"] < 0.5
    achieved = summary["started"] / scenario.duration
    assert 0.6 * 4 <= achieved <= 1.4 * 4

    counts = merge_records(records, tmp_path)
    with open(tmp_path / "polls.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        polls = list(reader)
        assert tuple(reader.fieldnames or ()) == POLL_COLUMNS
    with open(tmp_path / "tickets.csv", newline="") as handle:
        assert tuple(csv.DictReader(handle).fieldnames or ()) == TICKET_COLUMNS
    assert counts["polls"] == len(polls) > 0
    assert {row["via"] for row in polls} <= {"poll", "sse"}
    assert any(row["state_seen"] == "delivered" for row in polls)
    assert {row["persona"] for row in polls} <= {"buyer", "impatient", "double_payer"}
    assert counts["tickets"] > 0  # patience of well under a second: some buyers complain
