"""`fakalab drill SCENARIO --repeat N`: N run directories under one parent, the spread of each
headline figure over them, and the exit status of the worst repeat. Real processes on
127.0.0.1 only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from fakalab.cli import cli

ROOT = Path(__file__).resolve().parents[2]

# Every order waits 1.5 s at the risk check against an SLA of 1 s: the delay-rate SLO is
# breached in every repeat, so the exit status is 1 whatever the machine's speed.
SCENARIO = """\
name: twice
duration: 8s
seed: 5
sla_s: 1
load:
  shape: {kind: steady, rate_per_s: 3}
  personas: {buyer: 1}
  buyers: {think_s: 0.5, sse_share: 0, patience_s: [5, 10], max_wait_s: 20,
           products: {steam-50: 1}}
shop: {workers: 2}
drill:
  faults:
    - {id: slow-risk, link: shop->risk, fault: {latency: {latency: 1500}}, start: 0s,
       duration: 8s}
slos: {delay_rate: 0.5}
"""


def test_two_repeats_give_the_spread_and_the_worst_exit_status(tmp_path: Path) -> None:
    scenario = tmp_path / "twice.yaml"
    scenario.write_text(SCENARIO)
    run = subprocess.run([sys.executable, "-m", "fakalab", "drill", str(scenario), "--repeat",
                          "2", "--out", str(tmp_path / "runs")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    (parent,) = (tmp_path / "runs").iterdir()
    assert parent.name.endswith("-twice-x2")
    runs = sorted(p for p in parent.iterdir() if (p / "run.json").exists())
    assert len(runs) == 2
    assert [json.loads((r / "run.json").read_text())["exit_status"] for r in runs] == [1, 1]
    document = json.loads((parent / "repeats.json").read_text())
    (spread,) = document["spreads"]
    assert spread["scenario"] == "twice" and sorted(spread["runs"]) == [r.name for r in runs]
    delay = spread["figures"]["delay_rate"]
    assert len(delay["values"]) == 2 and delay["mean"] > 0.5
    assert min(delay["values"]) >= delay["run_interval"][0] - 1e-9
    assert delay["run_interval"][1] <= 1.0
    table = (parent / "repeats.md").read_text()
    assert "| delay rate |" in table and "one run [95% PI]" in table
    assert "twice: 2 repeats" in run.stdout and "delay rate" in run.stdout
    assert (parent / "report" / "metrics.json").exists()


def test_repeat_needs_a_positive_count() -> None:
    result = CliRunner().invoke(cli, ["drill", "steady", "--repeat", "0"])
    assert result.exit_code == 2 and "--repeat" in result.output
    assert "Traceback" not in result.output
