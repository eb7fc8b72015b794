"""The validation table of the whole catalog: every built-in scenario (each variant of the A/B
ones) forecast beforehand, then drilled on this machine, then compared (docs/simulation.md).

    .venv/bin/python bench/validate_catalog.py [--out runs/validation] [--only NAME ...]
        [--seeds 20] [--no-drill RUN_DIR ...] [--docs docs/simulation.md]

For each scenario: the forecasts of its variants are written to OUT/forecasts/ before its drill
starts; the drills run one at a time (``python -m fakalab drill``); the table (markdown) replaces
the block between ``<!-- catalog-table:begin -->`` and ``<!-- catalog-table:end -->`` in
``--docs`` and goes to OUT/table.md with every comparison in OUT/results.json. ``--no-drill``
compares existing run directories (of the catalog's scenarios) instead of drilling.

Before each drill it waits (up to ``--wait-s``) for the machine's 1-minute load average to fall
below ``--max-load``: other jobs on a shared machine are the drills' largest noise; the load
before and during each drill is in the table.

Targets: delay rate within ±3 percentage points, p95 within ±20% (✓); where the drill's own
seed-to-seed spread is wider, the measurement inside the forecast's prediction interval (◐).
Tickets per 100 delayed and the peak queue depth have no target of their own: ✓ when the
measurement lies inside the interval.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from drill_check import Checked, cell, check, now

from fakalab.contract.scenario import builtin_names
from fakalab.reports.rundir import load_run
from fakalab.simulate.scenario_model import load_calibration
from fakalab.simulate.shop_calibration import fakalab_version

BEGIN, END = "<!-- catalog-table:begin -->", "<!-- catalog-table:end -->"
FIGURES = ("delay_rate", "p95_s", "tickets_per_100_delayed", "peak_queue_depth")


def table(checked: list[Checked], header: str) -> str:
    lines = [header, "",
             "| scenario | run (load before / during) | delay rate | p95 paid → delivered "
             "| tickets per 100 delayed | peak queue depth |",
             "|---|---|---|---|---|---|"]
    for item in checked:
        if item.comparison is None:
            lines.append(f"| {item.name} | — | {item.error or 'not drilled'} | | | |")
            continue
        c = item.comparison
        cells = [cell(name, c["figures"][name]) for name in FIGURES]
        load = "" if item.load is None else (
            f" ({item.load['before']:.1f} / {item.load['during_mean']:.1f})")
        lines.append(f"| {item.name} | {item.run_cell()}{load} | " + " | ".join(cells) + " |")
    lines += ["",
              "Each cell: forecast (mean of the replications) [95% prediction interval] / "
              "**measured** (error). ✓ within the target (delay rate ±3 pp, p95 ±20%; for the "
              "other two: inside the interval), ◐ outside the target but inside the interval, "
              "✗ neither."]
    return "\n".join(lines)


def write_docs(docs: Path, text: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace the block between the markers `begin` and `end` (appended when missing)."""
    content = docs.read_text(encoding="utf-8")
    block = f"{begin}\n{text}\n{end}"
    if begin in content and end in content:
        content = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, content,
                         flags=re.S)
    else:
        content += f"\n{block}\n"
    docs.write_text(content, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/validation"))
    parser.add_argument("--only", nargs="*", default=None, help="Scenario names (default: all).")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--no-drill", nargs="*", type=Path, default=None, metavar="RUN_DIR",
                        help="Compare these run directories instead of drilling.")
    parser.add_argument("--docs", type=Path, default=Path(__file__).resolve().parents[1] /
                        "docs" / "simulation.md")
    parser.add_argument("--note", default="", help="A line to put above the table.")
    parser.add_argument("--max-load", type=float, default=0.75 * (os.cpu_count() or 2),
                        help="Wait (up to --wait-s) until the 1-minute load average is below "
                        "this before each drill  [default: 0.75 x cores]")
    parser.add_argument("--wait-s", type=float, default=1200.0)
    args = parser.parse_args()
    names = args.only or builtin_names()
    cal = load_calibration()
    existing: dict[str, list[Path]] = {}
    for path in args.no_drill or []:
        existing.setdefault(str(load_run(path).meta.get("scenario")), []).append(path)
    checked: list[Checked] = []
    started = now()
    for name in names:
        checked += check(name, args.out, seeds=args.seeds, calibration=cal,
                         drill=args.no_drill is None, runs=existing.get(name, []),
                         log=lambda line: print(line, flush=True), max_load=args.max_load,
                         wait_s=args.wait_s)
    header = (f"Measured {started[:10]} on {platform.node() or 'this machine'} "
              f"({os.cpu_count()} cores), fakalab {fakalab_version()}; {args.seeds} replications "
              f"per forecast; {cal.describe()}. Regenerate: `.venv/bin/python "
              f"bench/validate_catalog.py`.")
    if args.note:
        header = f"{args.note}\n\n{header}"
    text = table(checked, header)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(text + "\n", encoding="utf-8")
    (args.out / "results.json").write_text(json.dumps(
        [{"scenario": c.name, "forecast_at": c.forecast_at, "drilled_at": c.drilled_at,
          "load": c.load, "error": c.error, "comparison": c.comparison} for c in checked],
        indent=1) + "\n")
    if args.docs:
        write_docs(args.docs, text)
    print(text)
    print(f"\nwrote {args.out / 'table.md'}, {args.out / 'results.json'} and {args.docs} "
          f"({dt.datetime.now(dt.UTC).isoformat(timespec='seconds')})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
