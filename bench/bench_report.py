"""Benchmark: `fakalab report` on a synthetic run of 1M orders and 5M events (target: under 30 s).

    .venv/bin/python bench/bench_report.py [--orders 1000000] [--events 5000000] [--dir DIR]

Generates the run directory once (seeded, cached in DIR, default $TMPDIR/fakalab-bench-report),
then builds the report in a fresh child process and prints its wall time and peak memory (max RSS).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

START = 1_800_000_000.0
DURATION = 3600.0
SLA = 30.0
STATES = ["pending_payment", "paid", "risk_check", "allocating", "delivering", "final"]
HASHES = 997  # distinct fake hashes cycled through (the report does not read them)


def _orders(rng: np.random.Generator, n: int) -> pd.DataFrame:
    created = START + np.sort(rng.uniform(0, DURATION - 60, n))
    paid = np.where(rng.random(n) < 0.95, created + rng.exponential(5.0, n), np.nan)
    delivered = np.where(rng.random(n) < 0.97, paid + rng.lognormal(2.0, 0.8, n), np.nan)
    delivered[delivered > START + DURATION] = np.nan
    final = np.where(np.isnan(paid), "expired",
                     np.where(np.isnan(delivered), "needs_attention", "delivered"))
    return pd.DataFrame({
        "order_no": np.char.add("F", np.arange(n).astype("U8")),
        "product_id": rng.choice(["p-key", "p-supplier", "p-gift"], n),
        "priority": rng.integers(0, 3, n), "quantity": 1, "amount": "9.90",
        "channel": rng.choice(["payment-a", "payment-b"], n), "persona": "poller",
        "created_at": created, "paid_at": paid, "delivered_at": delivered,
        "final_state": final, "delayed": np.where(delivered - paid > SLA, "true", "false"),
    })


def _event_times(orders: pd.DataFrame, n_events: int, rng: np.random.Generator) -> np.ndarray:
    """(orders x 6) times per STATES column, NaN where the order has no such event."""
    n = len(orders)
    paid, delivered = orders["paid_at"].to_numpy(), orders["delivered_at"].to_numpy()
    t = np.full((n, len(STATES)), np.nan)
    t[:, 0] = orders["created_at"].to_numpy()
    t[:, 1] = paid
    t[:, 2] = paid + rng.uniform(0.1, 1.0, n)
    t[:, 3] = t[:, 2] + rng.uniform(0.1, 1.0, n)
    t[:, 5] = np.where(np.isnan(paid), t[:, 0] + 900, np.where(np.isnan(delivered), t[:, 3] + 60,
                                                               np.maximum(delivered, t[:, 3])))
    base = int(np.isfinite(t).sum())
    candidates = np.flatnonzero(np.isfinite(delivered))
    extra = rng.choice(candidates, min(max(n_events - base, 0), candidates.size), replace=False)
    t[extra, 4] = (t[extra, 3] + t[extra, 5]) / 2
    return t


def _events(orders: pd.DataFrame, n_events: int, rng: np.random.Generator) -> pd.DataFrame:
    t = _event_times(orders, n_events, rng)
    mask = np.isfinite(t)
    row, col = np.nonzero(mask)
    final = orders["final_state"].to_numpy()[row]
    state = np.where(col == 5, final, np.array(STATES, dtype=object)[col])
    hashes = np.array([f"{i:064x}" for i in range(HASHES)], dtype=object)
    return pd.DataFrame({
        "order_no": orders["order_no"].to_numpy()[row], "seq": np.cumsum(mask, axis=1)[row, col],
        "at": t[row, col], "state": state, "message": "Working on it", "eta_at": t[row, col] + 20,
        "visible": "true", "prev_hash": hashes[np.arange(row.size) % HASHES],
        "hash": hashes[(np.arange(row.size) + 1) % HASHES],
    })


def _polls(orders: pd.DataFrame, count: int, rng: np.random.Generator) -> pd.DataFrame:
    paid = np.flatnonzero(orders["paid_at"].notna().to_numpy())
    pick = np.sort(rng.choice(paid, count))
    start = orders["paid_at"].to_numpy()[pick]
    end = orders["delivered_at"].fillna(START + DURATION).to_numpy()[pick] + 2
    at = rng.uniform(start, end)
    stage = rng.choice(["risk_check", "allocating", "delivering"], count)
    return pd.DataFrame({
        "order_no": orders["order_no"].to_numpy()[pick], "at": at, "persona": "poller",
        "via": rng.choice(["poll", "sse"], count), "http_status": np.where(rng.random(count) < 0.99,
                                                                           200, 503),
        "latency_ms": rng.uniform(1, 50, count).round(1), "state_seen": stage,
        "message_seen": stage, "eta_seen": start + 20 + np.floor((at - start) / 10),
    })


def generate(root: Path, n_orders: int, n_events: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    orders = _orders(rng, n_orders)
    orders.to_csv(root / "orders.csv", index=False)
    _events(orders, n_events, rng).to_csv(root / "events.csv", index=False)
    _polls(orders, 2 * n_orders, rng).to_csv(root / "polls.csv", index=False)
    delayed = np.flatnonzero((orders["delayed"] == "true").to_numpy())
    ticketed = rng.choice(delayed, min(delayed.size, n_orders // 20), replace=False)
    pd.DataFrame({"order_no": orders["order_no"].to_numpy()[ticketed],
                  "at": orders["paid_at"].to_numpy()[ticketed] + 40, "reason": "stale_status",
                  "waited_s": 40.0}).to_csv(root / "tickets.csv", index=False)
    pd.DataFrame({"fault_id": ["f1", "f2", "f3"], "link": ["shop->payment-a", "shop->supplier-a",
                                                          "shop->risk"],
                  "kind": ["latency", "timeout", "down"], "attributes": ["{}"] * 3,
                  "toxicity": 1.0, "started_at": START + np.array([600.0, 1800.0, 3000.0]),
                  "ended_at": START + np.array([900.0, 2100.0, 3060.0])}
                 ).to_csv(root / "faults.csv", index=False)
    pd.DataFrame({"incident_id": ["i1", "i1", "i2"], "component": ["payment-a", "payment-a",
                                                                  "supplier-a"],
                  "state": ["investigating", "resolved", "investigating"],
                  "at": START + np.array([630.0, 950.0, 1850.0]), "message": "slow"}
                 ).to_csv(root / "incidents.csv", index=False)
    meta = {"format_version": 1, "run_id": "bench", "scenario": "bench", "variant": None,
            "seed": seed, "started_at": START, "ended_at": START + DURATION,
            "duration_s": DURATION, "sla_s": SLA, "slos": [], "valid": True}
    (root / "run.json").write_text(json.dumps(meta))
    (root / "generated").write_text(f"{n_orders} {n_events}\n")


def measure(root: Path) -> None:
    """Child process: build the report, print wall time and peak RSS."""
    started = time.perf_counter()
    from fakalab.reports.build import build_report

    build_report([root], root / "report")
    elapsed = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": round(elapsed, 2), "peak_rss_mib": round(peak_mib, 1)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "fakalab-bench-report")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.dir)
        return
    marker = args.dir / "generated"
    if not marker.is_file() or marker.read_text().split() != [str(args.orders), str(args.events)]:
        began = time.perf_counter()
        generate(args.dir, args.orders, args.events)
        print(f"generated {args.dir} in {time.perf_counter() - began:.1f} s")
    rows = {name: sum(1 for _ in (args.dir / name).open()) - 1 for name in
            ("orders.csv", "events.csv", "polls.csv")}
    child = subprocess.run([sys.executable, __file__, "--measure", "--dir", str(args.dir)],
                           capture_output=True, text=True, check=True)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"rows: {rows}")
    print(f"report: {result['seconds']} s wall, peak RSS {result['peak_rss_mib']} MiB "
          f"(target < 30 s)")


if __name__ == "__main__":
    main()
