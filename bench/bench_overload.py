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
the CPU share of the shop, the upstreams and the load generator. The system under test — the
shop and its upstreams — runs on core 0, the load generator on core 1 (`--pin shop`: the shop
alone on core 0; `--pin none`: shared): a load generator that shares the system's CPU measures
its own overload, as a real one on another machine would not. `--timeline PREFIX` writes the
shop's gauges once a second (queue, orders waiting for payment, admission's prediction, loop
lag, refusals) to PREFIX.MODE.csv, and the answers to `POST /api/orders` are split by answer and
by connection (new or kept alive). Targets (issue 14): goodput >= 0.9 x capacity, p99 < 1 s,
0 undelivered, audit clean — with admission on.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_shop import drive_orders, refused_by_reason  # noqa: E402
from bench.procstat import CpuMeter, cpu_seconds, pin  # noqa: E402
from fakalab.reference_shop.process import ShopProcess  # noqa: E402
from fakalab.reference_shop.upstreams.process import UpstreamsProcess  # noqa: E402

SLA_S = 30.0
TIMELINE = ("fakalab_queue_depth", 'fakalab_orders{state="pending_payment"}',
            'fakalab_orders{state="paid"}', 'fakalab_orders{state="delivered"}',
            "fakalab_admission_predicted_seconds", "fakalab_event_loop_lag_seconds",
            'fakalab_orders_refused_total{reason="backlog"}')


class Timeline(threading.Thread):
    """The shop's own gauges once a second, from before the capacity runs to the end of the
    drain (`--timeline FILE`): where its orders are, what admission predicted, how late its
    loop runs, the seconds its workers spent in stages and in upstream calls and its collector's
    pauses (running sums and counts), and the CPU share of the shop and of the upstreams over
    the last second."""

    SUMS = ("fakalab_stage_seconds_sum", "fakalab_upstream_seconds_sum",
            "fakalab_upstream_seconds_count", "fakalab_gc_pause_seconds_sum",
            "fakalab_gc_pause_seconds_count")

    def __init__(self, url: str, path: Path, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.url, self.path, self.pids, self.done = url, path, pids, threading.Event()
        self.phase = "warm-up"

    def run(self) -> None:
        started = time.time()
        cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        at = time.perf_counter()
        with self.path.open("w") as out, httpx.Client(timeout=5) as client:
            out.write(",".join(("t", "phase", *TIMELINE, *self.SUMS,
                                *(f"cpu_{n}" for n in self.pids))) + "\n")
            while not self.done.wait(1.0):
                try:
                    text = client.get(self.url + "/metrics").text
                except httpx.HTTPError:
                    continue
                now_cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
                now = time.perf_counter()
                shares = [f"{(now_cpu[n] - cpu[n]) / (now - at):.2f}" for n in self.pids]
                cpu, at = now_cpu, now
                lines = [line for line in text.splitlines() if line and line[0] != "#"]
                values = dict(line.rsplit(" ", 1) for line in lines)
                sums = [f"{sum(float(v) for k, v in values.items() if k.split('{')[0] == name):.3f}"
                        for name in self.SUMS]
                out.write(f"{time.time() - started:.1f},{self.phase}," + ",".join(
                    [*(values.get(name, "") for name in TIMELINE), *sums, *shares]) + "\n")
                out.flush()


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


def goodput_of(result: dict[str, Any], duration: float) -> float:
    """Paid orders delivered inside the SLA while the load lasted, per second."""
    inside = [d for d, t in zip(result["delivered_at"], result["ttd"], strict=True)
              if t <= SLA_S and d <= duration]
    return len(inside) / duration


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
        if args.pin != "none" and (os.cpu_count() or 1) >= 2:
            harness = {1}  # the load generator (this process and the drivers) on core 1
            pin(shop.proc.pid, {0})
            pin(ups.proc.pid, {0} if args.pin == "sut" else harness)
            os.sched_setaffinity(0, harness)
        timeline = Timeline(shop.url, Path(args.timeline + f".{mode}.csv"), {
            "shop": shop.proc.pid, "upstreams": ups.proc.pid}) if args.timeline else None
        if timeline:
            timeline.start()
        drive_orders(shop.url, 40, 32)  # warm up
        # The pace the shop sustains flat out: closed loops of 128 and of 256 buyers, the
        # faster (fewer buyers can leave the shop idle between an answer and the next order).
        if timeline:
            timeline.phase = "capacity"
        capacity = max(float(drive_orders(shop.url, args.capacity_orders, buyers)[0][
            "orders_per_s"]) for buyers in (128, 256))
        rate = args.multiple * capacity
        baseline = None
        if args.baseline > 0:  # the same open-loop buyers, offered the capacity only
            if timeline:
                timeline.phase = "baseline"
            baseline = goodput_of(overload(shop.url, capacity, args.baseline, args.drain,
                                           harness, tmp / f"driver-{mode}-1x.json"),
                                  args.baseline)
        meter = CpuMeter({"shop": shop.proc.pid, "upstreams": ups.proc.pid})
        meter.start()
        if timeline:
            timeline.phase = "overload"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = overload(shop.url, rate, args.duration, args.drain, harness,
                          tmp / f"driver-{mode}.json")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = meter.stop()
        if timeline:
            timeline.done.set()
        cpu["load generator"] = round(((after.ru_utime - before.ru_utime) + (
            after.ru_stime - before.ru_stime)) / result["seconds"], 2)
        refused = refused_by_reason(httpx.get(shop.url + "/metrics", timeout=30).text)
    goodput = goodput_of(result, args.duration)
    return {"mode": mode, "capacity": capacity, "offered": result["offered_per_s"],
            "goodput": goodput, "ratio": goodput / capacity if capacity else 0.0,
            "baseline": baseline,
            "create_p99_s": result["create_p99_s"], "create_p50_s": result["create_p50_s"],
            "create_split": result["create_split"],
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
    parser.add_argument("--baseline", type=float, default=30.0, metavar="S",
                        help="first offer the same open-loop buyers 1x the capacity for S "
                        "seconds: the goodput overload is compared with (0: skip)")
    parser.add_argument("--capacity-orders", type=int, default=3000)
    parser.add_argument("--modes", default="on,off")
    parser.add_argument("--budget", type=float, default=None,
                        help="admission_budget_s (default: the shop's, half the SLA)")
    parser.add_argument("--pin", choices=("sut", "shop", "none"), default="sut",
                        help="sut (default): the system under test — the shop and its "
                        "upstreams — on core 0, the load generator on core 1; shop: the shop "
                        "alone on core 0, the upstreams with the load generator; none: shared")
    parser.add_argument("--timeline", default=None, metavar="PREFIX",
                        help="write the shop's gauges once a second to PREFIX.MODE.csv")
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
              f"= {r['ratio']:.3f} x capacity (target >= 0.90)")
        print(f"   POST /api/orders p50 {r['create_p50_s']:.3f} s, p99 {r['create_p99_s']:.3f} s "
              f"(target p99 < 1 s), refused {r['refused']} {r['refusals_by_reason']}, "
              f"buyers gave up {r['gave_up']}")
        if r["baseline"] is not None:
            print(f"   offered 1x for {args.baseline:.0f} s first: goodput {r['baseline']:.1f} "
                  f"orders/s = {r['baseline'] / r['capacity']:.3f} x capacity; overload keeps "
                  f"{r['goodput'] / r['baseline']:.3f} of it")
        print("   by answer/connection: " + "; ".join(
            f"{k} n={v['n']} p50 {v['p50_s']:.3f} p99 {v['p99_s']:.3f} >1s {v['over_1s']:.1%}"
            for k, v in r["create_split"].items()))
        print(f"   paid {r['paid']}, delivered {r['delivered']}, undelivered at the end of the "
              f"drain {r['undelivered']} (target 0); errors {r['errors'] or 'none'}")
        shares = ", ".join(f"{k} {v:.2f}" for k, v in r["cpu"].items())
        print(f"   audit {r['audit']}; CPU {shares} (1.00 = one core); "
              f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
