"""Overload: the reference shop offered several times its measured capacity, with and without
admission control, in the same run.

    .venv/bin/python bench/bench_overload.py [--multiple 3] [--duration 60] [--drain 60]
                                             [--workers 8] [--modes on,off] [--db URL]

For each mode (`on`: admission control, the default; `off`: `--set admission=false`) a fresh
shop and upstreams are started on 127.0.0.1, then:

1. capacity: the closed-loop driver (bench/order_driver.py, 3,000 orders with 128 buyers and
   again with 256, the faster counts) measures the orders a second the shop sustains — measured
   in this run, never a constant;
2. overload: buyers arrive as a Poisson process at `multiple` x capacity for `duration` s;
   each orders (a busy answer is retried after its Retry-After times U(1, 1.5), at most 3
   times, then the buyer gives up), pays, and polls once a second until delivered; then
   `drain` s for the paid orders to be delivered;
3. the live-database audit (`fakalab audit --db`) of the shop's database once it stopped.

Prints per mode: goodput (paid orders delivered inside the SLA while the load lasted, per
second) as a ratio of the capacity, the p99 answer time of `POST /api/orders` (accepted or
refused), refusals, paid orders undelivered at the end of the drain, the audit's verdict, and
the CPU share of the shop, the upstreams and the load generator. The shop runs on core 0 and
everything else on core 1 (`--no-pin`: shared), so that the harness's own work under overload —
thousands of refused and retried requests a second — does not take the CPU the shop is
measured on. Targets (issue 14): goodput >= 0.9 x capacity, p99 < 1 s, 0 undelivered, audit
clean — with admission on.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_shop import drive_orders, refused_by_reason  # noqa: E402
from bench.procstat import CpuMeter, pin  # noqa: E402
from fakalab.reference_shop.process import ShopProcess  # noqa: E402
from fakalab.reference_shop.upstreams.process import UpstreamsProcess  # noqa: E402

SLA_S = 30.0


def overload(url: str, rate: float, duration: float, drain: float,
             cores: set[int] | None, out: Path) -> dict[str, Any]:
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "order_driver.py"), "--url", url,
         "--rate", str(rate), "--duration", str(duration), "--drain", str(drain),
         "--poll-s", "1.0", "--connections", "3000", "--out", str(out)],
        check=True, timeout=duration + drain + 300,
        preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def audit(db_url: str) -> str:
    done = subprocess.run([sys.executable, "-m", "fakalab", "audit", "--db", db_url],
                          capture_output=True, text=True, timeout=600)
    verdict = "clean" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
    failed = [line.strip() for line in done.stdout.splitlines() if "FAIL" in line.upper()]
    return verdict + (": " + "; ".join(failed[:3]) if done.returncode and failed else "")


def one_mode(mode: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    db_url = args.db or f"sqlite:///{tmp / f'shop-{mode}.db'}"
    opts = ["--workers", str(args.workers), "--set", f"sla_s={SLA_S}",
            "--set", "demo_keys=60000"]
    if mode == "off":
        opts += ["--set", "admission=false"]
    elif args.budget is not None:
        opts += ["--set", f"admission_budget_s={args.budget}"]
    with UpstreamsProcess() as ups, ShopProcess(db_url, ups.urls, options=opts,
                     log_path=tmp / f"shop-{mode}.log") as shop:
        assert shop.proc is not None and ups.proc is not None
        harness = None
        if args.pin and (os.cpu_count() or 1) >= 2:  # the shop on core 0, the rest on core 1
            harness = {1}
            pin(shop.proc.pid, {0})
            pin(ups.proc.pid, harness)
            os.sched_setaffinity(0, harness)  # this process and the capacity driver
        drive_orders(shop.url, 40, 32)  # warm up
        # The pace the shop sustains flat out: closed loops of 128 and of 256 buyers, the
        # faster (fewer buyers can leave the shop idle between an answer and the next order).
        capacity = max(float(drive_orders(shop.url, args.capacity_orders, buyers)[0][
            "orders_per_s"]) for buyers in (128, 256))
        rate = args.multiple * capacity
        meter = CpuMeter({"shop": shop.proc.pid, "upstreams": ups.proc.pid})
        meter.start()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = overload(shop.url, rate, args.duration, args.drain, harness,
                          tmp / f"driver-{mode}.json")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = meter.stop()
        cpu["load generator"] = round(((after.ru_utime - before.ru_utime) + (
            after.ru_stime - before.ru_stime)) / result["seconds"], 2)
        refused = refused_by_reason(httpx.get(shop.url + "/metrics", timeout=30).text)
    inside = [d for d, t in zip(result["delivered_at"], result["ttd"], strict=True)
              if t <= SLA_S and d <= args.duration]
    goodput = len(inside) / args.duration
    return {"mode": mode, "capacity": capacity, "offered": result["offered_per_s"],
            "goodput": goodput, "ratio": goodput / capacity if capacity else 0.0,
            "create_p99_s": result["create_p99_s"], "create_p50_s": result["create_p50_s"],
            "refused": result["refused"], "gave_up": result["gave_up"],
            "paid": result["paid"], "delivered": result["delivered"],
            "undelivered": result["undelivered"], "errors": result["errors"],
            "refusals_by_reason": refused, "cpu": cpu, "audit": audit(db_url)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--multiple", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--drain", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--capacity-orders", type=int, default=3000)
    parser.add_argument("--modes", default="on,off")
    parser.add_argument("--budget", type=float, default=None,
                        help="admission_budget_s (default: the shop's, half the SLA)")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="let the processes share both cores (default: the shop has core "
                        "0 to itself, the upstreams and the load generator core 1)")
    parser.add_argument("--db", default=None, help="a PostgreSQL database URL (default: a "
                        "SQLite file per mode in a temporary directory)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fakalab-overload-"))
    for mode in args.modes.split(","):
        started = time.perf_counter()
        r = one_mode(mode, args, tmp)
        print(f"admission {mode:<3}  capacity {r['capacity']:.1f} orders/s, offered "
              f"{r['offered']:.1f}/s for {args.duration:.0f} s "
              f"({r['offered'] / r['capacity']:.1f}x)")
        print(f"   goodput          {r['goodput']:.1f} orders/s inside the {SLA_S:.0f} s SLA "
              f"= {r['ratio']:.2f} x capacity (target >= 0.90)")
        print(f"   POST /api/orders p50 {r['create_p50_s']:.3f} s, p99 {r['create_p99_s']:.3f} s "
              f"(target p99 < 1 s), refused {r['refused']} {r['refusals_by_reason']}, "
              f"buyers gave up {r['gave_up']}")
        print(f"   paid {r['paid']}, delivered {r['delivered']}, undelivered at the end of the "
              f"drain {r['undelivered']} (target 0); errors {r['errors'] or 'none'}")
        shares = ", ".join(f"{k} {v:.2f}" for k, v in r["cpu"].items())
        print(f"   audit {r['audit']}; CPU {shares} (1.00 = one core); "
              f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
