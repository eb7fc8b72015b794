"""Open-loop load under a slower shop, and the harness's own CPU share during a drill.

    .venv/bin/python bench/bench_drill.py [--rate 10] [--duration 30] [--latency-ms 150]

Runs `fakalab drill` twice on the same steady load: without a fault, and with a latency toxic on
shop->payment-a (every order creation waits for the payment channel, so the shop answers orders
several times slower). Prints, for each: target vs achieved arrival rate (the generators'
started arrivals and the orders the shop created), the median order-creation time Locust saw
(the slowdown), and the CPU share of each part of the drill (sampled from /proc every second).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.procstat import cpu_seconds  # noqa: E402

SCENARIO = """\
name: bench-{label}
duration: {duration}s
seed: 11
sla_s: 30
load:
  shape: {{kind: steady, rate_per_s: {rate}}}
  personas: {{buyer: 1}}
  buyers: {{think_s: 2}}
shop: {{workers: 4}}
{drill}
slos: {{delay_rate: null, error_rate: null}}
"""
FAULT = """drill:
  faults:
    - {{id: slow-pay, link: shop->payment-a, fault: {{latency: {{latency: {latency}}}}},
       start: 0s, duration: {duration}s}}
"""
CLASSES = (("locust", "load generator (Locust)"), ("fakalab.chaos.server", "toxiproxy (embedded)"),
           ("fakalab.reference_shop.cli", "shop"), ("upstreams", "upstreams"),
           ("-m fakalab drill", "orchestrator"))


def classify(pid: int) -> str | None:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    return next((label for key, label in CLASSES if key in cmd), None)


def descendants(root: int) -> set[int]:
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found = {root}
    changed = True
    while changed:
        new = {p for p, pp in parent.items() if pp in found} - found
        found |= new
        changed = bool(new)
    return found


def run_drill(label: str, rate: float, duration: int, latency: int | None, out: Path
              ) -> dict[str, object]:
    drill = FAULT.format(latency=latency, duration=duration) if latency else ""
    path = out / f"{label}.yaml"
    path.write_text(SCENARIO.format(label=label, rate=rate, duration=duration, drill=drill))
    proc = subprocess.Popen([sys.executable, "-m", "fakalab", "drill", str(path),
                             "--out", str(out / label), "--no-report"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu: dict[int, tuple[str, float]] = {}
    started = time.monotonic()
    while proc.poll() is None:
        for pid in descendants(proc.pid):
            kind = classify(pid)
            if kind is not None:
                with contextlib.suppress(OSError):
                    cpu[pid] = (kind, cpu_seconds(pid))
        time.sleep(1.0)
    wall = time.monotonic() - started
    (run_dir,) = (out / label).iterdir()
    return {"run_dir": run_dir, "wall": wall, "cpu": cpu, **measure(run_dir, duration)}


def measure(run_dir: Path, duration: int) -> dict[str, object]:
    info = json.loads((run_dir / "run.json").read_text())
    summaries = info["load"]["summaries"]
    started = sum(s["started"] for s in summaries)
    with open(run_dir / "orders.csv", newline="") as handle:
        created = sum(1 for _ in csv.DictReader(handle))
    median_ms = 0.0
    with open(run_dir / "locust" / "locust_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if (row["Type"], row["Name"]) == ("POST", "/api/orders"):
                median_ms = float(row["Median Response Time"])
    return {"arrivals_per_s": started / duration, "orders_per_s": created / duration,
            "create_median_ms": median_ms, "dropped": sum(s["dropped"] for s in summaries),
            "invalid": info["invalid_reasons"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--latency-ms", type=int, default=150)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="fakalab-bench-drill-"))
    base = run_drill("baseline", args.rate, args.duration, None, out)
    slow = run_drill("slow", args.rate, args.duration, args.latency_ms, out)
    print(f"target arrival rate {args.rate:.1f} orders/s for {args.duration} s")
    for label, r in (("no fault", base), (f"+{args.latency_ms} ms on shop->payment-a", slow)):
        slowdown = float(r["create_median_ms"]) / max(float(base["create_median_ms"]), 1e-9)
        print(f"{label:<32} arrivals {r['arrivals_per_s']:.2f}/s "
              f"(ratio {float(r['arrivals_per_s']) / args.rate:.3f}), orders created "
              f"{r['orders_per_s']:.2f}/s (ratio {float(r['orders_per_s']) / args.rate:.3f}), "
              f"order creation median {r['create_median_ms']:.0f} ms ({slowdown:.1f}x), "
              f"dropped {r['dropped']}, invalid {r['invalid'] or 'no'}")
    shares: dict[str, float] = {}
    for kind, seconds in slow["cpu"].values():  # type: ignore[attr-defined]
        shares[kind] = shares.get(kind, 0.0) + seconds
    total = sum(shares.values())
    harness = sum(v for k, v in shares.items() if k not in ("shop", "upstreams"))
    print("CPU during the slowed drill (core-seconds, share of the drill's processes): "
          + ", ".join(f"{k} {v:.1f} ({v / total:.0%})" for k, v in sorted(shares.items())))
    print(f"harness (everything but the shop and its upstreams): {harness / total:.0%} of the "
          f"drill's CPU, {harness / float(slow['wall']):.2f} cores on average")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
