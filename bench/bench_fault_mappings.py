"""Each fault mapping of simulate/fault_map.py against a small drill that isolates it.

    .venv/bin/python bench/bench_fault_mappings.py [--only iso-timeout ...] [--out runs/isolate]
        [--seeds 20] [--no-drill RUN_DIR ...]

Each ``bench/isolate/iso-*.yaml`` is a 50 s drill at 6 orders/s (both product kinds, 4 workers)
with one fault (one mechanism: a latency below the timeout, one beyond it with retries and the
breaker, an outage with and without failover and holds, dropped callbacks with and without
reconciliation, a slow payment channel's failover, bandwidth, risk reviews, a killed shop). The
forecast is written before the drill (OUT/forecasts/); the drills run one at a time; the table
prints forecast [95% prediction interval] / measured per figure (✓ within the target or inside
the interval, ◐ inside the interval only, ✗ neither). Exit status 0 when every row is ✓ or ◐.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from drill_check import Checked, cell, check

from fakalab.reports.rundir import load_run

HERE = Path(__file__).resolve().parent / "isolate"
FIGURES = ("delay_rate", "p95_s", "tickets_per_100_delayed", "peak_queue_depth")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--out", type=Path, default=Path("runs/isolate"))
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--no-drill", nargs="*", type=Path, default=None, metavar="RUN_DIR")
    parser.add_argument("--max-load", type=float, default=0.75 * (os.cpu_count() or 2),
                        help="Wait for the 1-minute load average to fall below this first.")
    args = parser.parse_args()
    files = sorted(HERE.glob("iso-*.yaml"))
    if args.only:
        files = [f for f in files if f.stem in args.only]
    existing: dict[str, list[Path]] = {}
    for path in args.no_drill or []:
        existing.setdefault(str(load_run(path).meta.get("scenario")), []).append(path)
    checked: list[Checked] = []
    for path in files:
        checked += check(str(path), args.out, seeds=args.seeds, drill=args.no_drill is None,
                         runs=existing.get(path.stem, []), log=lambda line: print(line, flush=True),
                         max_load=args.max_load)
    ok = True
    print("\n| drill | delay rate | p95 paid → delivered | tickets per 100 delayed | peak queue |")
    print("|---|---|---|---|---|")
    for item in checked:
        if item.comparison is None:
            print(f"| {item.name} | {item.error or 'not drilled'} | | | |")
            ok = False
            continue
        cells = [cell(name, item.comparison["figures"][name]) for name in FIGURES]
        ok &= not any(c.endswith("✗") for c in cells[:2])
        print(f"| {item.name} | " + " | ".join(cells) + " |")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
