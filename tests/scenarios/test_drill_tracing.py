"""A drill traces the reference shop into its run directory unless told not to, and the
buyers' journeys are the roots of its traces."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from rich.console import Console

from fakalab.contract.scenario import load_scenario
from fakalab.contract.traces import BUYERS, CLIENT, SHOP, SpanRecord, read_spans
from fakalab.scenarios.drill import DrillOptions, _Run

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = """\
name: mini-traced
duration: 6s
seed: 7
sla_s: 5
load:
  shape: {kind: steady, rate_per_s: 3}
  personas: {buyer: 3, impatient: 1, abandoner: 1}
  buyers: {think_s: 0.5, patience_s: [10, 10], max_wait_s: 10}
shop: {workers: 2}
slos: {delay_rate: 1.0, error_rate: 0.5}
"""


def _run(tmp_path: Path, *overrides: str) -> _Run:
    scenario = load_scenario("steady", list(overrides))
    return _Run(scenario, None, DrillOptions(out=tmp_path), Console(quiet=True))


def test_a_drill_traces_into_the_run_directory(tmp_path: Path) -> None:
    run = _run(tmp_path)
    assert run.settings["tracing"] is True
    assert run.settings["trace_file"] == str(run.dir / "traces" / "shop.jsonl")
    assert run.stack.traces == {"traces": run.dir / "traces", "otlp_endpoint": None}  # type: ignore[union-attr]


def test_shop_tracing_false_switches_it_off(tmp_path: Path) -> None:
    run = _run(tmp_path, "shop.tracing=false")
    assert run.settings["tracing"] is False
    assert run.stack.traces == {}  # type: ignore[union-attr]


def test_an_endpoint_reaches_the_upstreams_too(tmp_path: Path) -> None:
    run = _run(tmp_path, "shop.otlp_endpoint=http://127.0.0.1:4318")
    assert run.stack.traces["otlp_endpoint"] == "http://127.0.0.1:4318"  # type: ignore[union-attr]


def test_every_shop_span_belongs_to_a_trace_rooted_in_a_buyers_journey(tmp_path: Path) -> None:
    scenario = tmp_path / "mini-traced.yaml"
    scenario.write_text(SCENARIO)
    run = subprocess.run([sys.executable, "-m", "fakalab", "drill", str(scenario), "--out",
                          str(tmp_path / "runs"), "--generators", "2", "--no-report"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode in (0, 1), run.stdout[-3000:] + run.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert sorted(p.name for p in (run_dir / "traces").glob("buyers-*.jsonl")) == [
        "buyers-w0.jsonl", "buyers-w1.jsonl"]  # the two workers' spans, via the master
    spans, problems = read_spans(run_dir)
    assert problems == []
    traces: dict[str, list[SpanRecord]] = defaultdict(list)
    for span in spans:
        traces[span.trace_id].append(span)
    shop_traces = {s.trace_id for s in spans if s.service == SHOP}
    assert len(shop_traces) > 5
    for trace_id in shop_traces:
        trace = traces[trace_id]
        roots = [s for s in trace if not s.parent_id]
        assert [(s.service, s.name.split()[0]) for s in roots] == [(BUYERS, "journey")], trace
        by_id = {s.span_id: s for s in trace}
        for span in trace:  # and no span's parent is missing
            assert not span.parent_id or span.parent_id in by_id, span
    created = [s for s in spans if s.service == SHOP and s.name == "POST /api/orders"]
    parents = {s.span_id: s for s in spans if s.service == BUYERS}
    assert created and all(parents[s.parent_id].kind == CLIENT for s in created)
