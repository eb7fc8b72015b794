"""Capacity answers checked by drills (docs/simulation.md#capacity-answers-checked-by-drills).

    .venv/bin/python bench/validate_capacity.py [--scenario flash-sale] [--slo "delay_rate<=5%"]
        [--hold-peak] [--lower N] [--what-if 2,4,8] [--max-journeys 8000] [--set KEY=VALUE]
        [--seeds 20] [--out runs/capacity] [--docs docs/simulation.md]

1. asks the model what `fakalab simulate SCENARIO --capacity --slo SLO --as-shaped` asks it —
   the smallest worker count whose replications meet the SLO over the scenario's load shape
   (`--hold-peak`: with the peak rate held for the whole run; `simulate.capacity`, the
   committed calibration);
2. forecasts the scenario at that count, at a clearly lower one (`--lower`, default half of it)
   and at each count of a `--what-if workers=…` sweep, and writes each forecast before its
   drill (bench/drill_check.py);
3. drills each count (`fakalab drill SCENARIO --set shop.workers=N`), one at a time, on a quiet
   machine, and compares every figure with its forecast — with admission control off, as the
   plan had it (a door turns delays into refusals: with it, one worker "meets" a delay SLO);
4. says for each count whether the forecast and the drill agree about the SLO, and replaces the
   table between ``<!-- capacity-table:begin -->`` and ``<!-- capacity-table:end -->`` in
   ``--docs`` (also OUT/table.md, every comparison in OUT/results.json).

The answer holds when the drill at the named count meets the SLO and the drill at the lower
count breaches it; the sweep holds when every drill's figure lies within the catalog's targets
of its forecast (delay rate ±3 pp, p95 ±20%) or inside the forecast's interval.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from drill_check import Checked, cell, check, now
from validate_catalog import write_docs

from fakalab.contract.scenario import load_scenario
from fakalab.simulate.capacity import CapacityPlan, Slo, capacity, parse_slo
from fakalab.simulate.scenario_model import load_calibration, scenario_model
from fakalab.simulate.shop_calibration import fakalab_version

BEGIN, END = "<!-- capacity-table:begin -->", "<!-- capacity-table:end -->"


def counts_to_drill(named: int | None, lower: int | None, sweep: list[int]
                    ) -> list[tuple[int, str]]:
    """(workers, role) in drilling order: the named count, the lower one, then the sweep's."""
    out: dict[int, str] = {}
    if named is not None:
        out[named] = "named by --capacity"
        low = lower if lower is not None else max(1, named // 2)
        if low < named:
            out[low] = "clearly lower"
    for workers in sweep:
        out.setdefault(workers, "what-if sweep")
    return list(out.items())


def slo_verdict(slo: Slo, value: float | None) -> str:
    if value is None:
        return "—"
    return "meets" if slo.met_by_value(value) else "breaches"


def table(plan: CapacityPlan, rows: list[tuple[int, str, Checked]], slo: Slo,
          header: str) -> str:
    answer = f"{plan.workers} workers" if plan.workers is not None else "not met up to 256"
    lines = [header, "",
             f"`--capacity --slo \"{slo}\"" + ("" if plan.held_peak else " --as-shaped")
             + "` " + (f"at the peak ({plan.peak_rate:g} orders/s held)" if plan.held_peak
                       else f"over the scenario's shape (peak {plan.peak_rate:g} orders/s)")
             + f": **{answer}**.", "",
             "| workers | role | run | SLO: forecast / drill | delay rate | p95 paid → delivered "
             "| peak queue depth |", "|---|---|---|---|---|---|---|"]
    for workers, role, item in rows:
        if item.comparison is None:
            lines.append(f"| {workers} | {role} | — | {item.error or 'not drilled'} | | | |")
            continue
        figures = item.comparison["figures"]
        metric = figures.get(slo.metric)
        said = slo_verdict(slo, None if metric is None else metric["forecast"])
        seen = slo_verdict(slo, None if metric is None else metric["measured"])
        agree = "✓" if said == seen else "✗"
        lines.append(f"| {workers} | {role} | {item.run_cell()} | {said} / {seen} "
                     f"{agree} | " + " | ".join(cell(name, figures[name]) for name in (
                         "delay_rate", "p95_s", "peak_queue_depth")) + " |")
    lines += ["", "Each figure: forecast (mean) [95% prediction interval] / **measured** "
              "(error), marked as in the catalog's table. SLO: what the forecast's mean and "
              "the drill say about it; ✓ when they agree. A drill the harness marked invalid "
              "(run.json `valid: false`, e.g. arrivals dropped at `load.max_journeys`) says "
              "why beside its run id: its figures do not measure the shop."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="flash-sale")
    parser.add_argument("--slo", default="delay_rate<=5%")
    parser.add_argument("--lower", type=int, default=None,
                        help="the clearly lower count drilled too (default: half the answer)")
    parser.add_argument("--what-if", default="", metavar="N,N,…",
                        help="worker counts of a what-if sweep to drill as well")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="a scenario override for the model and every drill alike, e.g. "
                        "shop.admission=false")
    parser.add_argument("--hold-peak", action="store_true",
                        help="plan at the peak held for the whole run (`--capacity`'s default, "
                        "a sale whose peak may last) instead of over the scenario's shape, "
                        "which is what its drills run (`--as-shaped`)")
    parser.add_argument("--max-journeys", type=int, default=8000,
                        help="the drills' load.max_journeys: a short-handed shop keeps many "
                        "buyers waiting, and a generator that drops arrivals makes a drill "
                        "invalid")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("runs/capacity"))
    parser.add_argument("--docs", type=Path, default=Path(__file__).resolve().parents[1] /
                        "docs" / "simulation.md")
    parser.add_argument("--max-load", type=float, default=0.75 * (os.cpu_count() or 2))
    parser.add_argument("--wait-s", type=float, default=1200.0)
    args = parser.parse_args()
    slo = parse_slo(args.slo)
    cal = load_calibration()
    journeys = f"load.max_journeys={args.max_journeys}"
    model, _ = scenario_model(load_scenario(args.scenario, [journeys, *args.sets]),
                              calibration=cal, arrivals="poisson")
    plan = capacity(model, slo, seeds=range(args.seeds), max_workers=256,
                    hold_peak=args.hold_peak)
    print(f"{args.scenario}: --capacity --slo {slo} → {plan.workers} workers "
          f"(tried {', '.join(str(w) for w in plan.tried)})", flush=True)
    sets = [journeys, *args.sets]
    if plan.door_off:  # the plan admitted every order: so do the drills
        sets.append("shop.admission=false")
    sweep = [int(v) for v in args.what_if.split(",") if v.strip()]
    rows: list[tuple[int, str, Checked]] = []
    started = now()
    for workers, role in counts_to_drill(plan.workers, args.lower, sweep):
        found = check(args.scenario, args.out / f"workers-{workers}", seeds=args.seeds,
                      sets=[*sets, f"shop.workers={workers}"], calibration=cal,
                      log=lambda line: print(line, flush=True), max_load=args.max_load,
                      wait_s=args.wait_s)
        rows += [(workers, role, item) for item in found]
    header = (f"Measured {started[:10]} on {platform.node() or 'this machine'} "
              f"({os.cpu_count()} cores), fakalab {fakalab_version()}; {args.seeds} replications "
              f"per forecast; {cal.describe()}. Regenerate: `.venv/bin/python "
              f"bench/validate_capacity.py --scenario {args.scenario} --slo \"{slo}\""
              + (" --hold-peak" if args.hold_peak else "")
              + "".join(f" --set {s}" for s in args.sets)
              + (f" --what-if {args.what_if}" if args.what_if else "") + "`.")
    text = table(plan, rows, slo, header)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(text + "\n", encoding="utf-8")
    results: list[dict[str, Any]] = [
        {"workers": w, "role": role, "forecast_at": c.forecast_at, "drilled_at": c.drilled_at,
         "load": c.load, "error": c.error, "comparison": c.comparison} for w, role, c in rows]
    (args.out / "results.json").write_text(json.dumps(
        {"slo": str(slo), "named": plan.workers, "tried": {
            str(w): {"mean": e.mean, "lo": e.lo, "hi": e.hi} for w, e in plan.tried.items()},
         "drills": results}, indent=1) + "\n")
    if args.docs:
        write_docs(args.docs, text, BEGIN, END)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
