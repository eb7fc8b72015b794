"""The risk-ab A/B as figures: delay rate, p95 paid → delivered and tickets of the `act` run
against the `observe` run, each difference with its 95 % bootstrap interval (the report's own
comparison, reports/compare.py), tickets per 100 paid orders (the same bootstrap of a ratio),
and what the shop did (the action column of risk_features.csv).

    .venv/bin/fakalab drill risk-ab --out runs/risk-ab
    .venv/bin/python bench/risk_ab.py runs/risk-ab/*-observe runs/risk-ab/*-act [--json]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fakalab.contract.delay_risk import RISK_FEATURES_FILE
from fakalab.reports.analysis import Analysis, analyze
from fakalab.reports.compare import CONFIDENCE, RESAMPLES, SEED, bootstrap_ratio, compare
from fakalab.reports.rundir import load_run

SHOWN = ("delay_rate", "ttd_p95_s", "tickets_per_100_delayed")


def _tickets_per_100_paid(a: Analysis, rng: np.random.Generator) -> np.ndarray:
    oid = a.run.tickets["oid"].to_numpy()
    per_order = np.bincount(oid[oid >= 0], minlength=len(a.out))
    return bootstrap_ratio(rng, per_order, a.out["paid"].to_numpy(dtype=float), RESAMPLES,
                           100.0)


def _actions(run_dir: Path) -> dict[str, int]:
    rows = pd.read_csv(run_dir / RISK_FEATURES_FILE, dtype={"action": str},
                       keep_default_na=False)
    counts: Counter[str] = Counter()
    for cell in rows["action"]:
        for action in filter(None, cell.split(";")):
            counts[action] += 1
    return dict(counts)


def summary(base_dir: Path, other_dir: Path) -> dict[str, Any]:
    analyses = [analyze(load_run(base_dir)), analyze(load_run(other_dir))]
    rows = [r for r in compare(analyses)["rows"] if r["metric"] in SHOWN]
    rng = np.random.default_rng(SEED)
    base, other = (_tickets_per_100_paid(a, rng) for a in analyses)
    deltas = other - base
    finite = deltas[np.isfinite(deltas)]
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    observed = [100 * len(a.run.tickets) / max(int(a.out["paid"].sum()), 1) for a in analyses]
    rows.append({"metric": "tickets_per_100_paid", "baseline": observed[0],
                 "value": observed[1], "delta": observed[1] - observed[0],
                 "ci_low": float(low), "ci_high": float(high)})
    return {"baseline": base_dir.name, "run": other_dir.name, "rows": rows,
            "orders": [len(a.out) for a in analyses],
            "paid": [int(a.out["paid"].sum()) for a in analyses],
            "tickets": [len(a.run.tickets) for a in analyses],
            "actions": [_actions(base_dir), _actions(other_dir)]}


def main(argv: list[str]) -> None:
    paths = [Path(a) for a in argv if not a.startswith("--")]
    result = summary(paths[0], paths[1])
    if "--json" in argv:
        print(json.dumps(result, indent=1))
        return
    print(f"{result['baseline']} -> {result['run']}  (orders {result['orders']}, paid "
          f"{result['paid']}, tickets {result['tickets']})")
    def num(value: float | None, sign: str = "") -> str:
        return "n/a" if value is None else f"{value:{sign}.3f}"

    for r in result["rows"]:
        ci = "" if r["ci_low"] is None else \
            f"  (95% CI {num(r['ci_low'], '+')} .. {num(r['ci_high'], '+')})"
        print(f"  {r['metric']:<26}{num(r['baseline']):>9} -> {num(r['value']):<9} "
              f"Δ {num(r['delta'], '+')}{ci}")
    print(f"  actions: {result['actions'][0]} -> {result['actions'][1]}")


if __name__ == "__main__":
    main(sys.argv[1:])
