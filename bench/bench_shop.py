"""Benchmark of the reference shop, against a bare FastAPI endpoint measured in the same run.

    .venv/bin/python bench/bench_shop.py [--orders 400] [--duration 5] [--connections 32]

Prints: the bare endpoint's requests/s; status polls/s (GET /api/orders/{no} with the order's
token, round robin over delivered orders) and their ratio to the bare endpoint; orders/s end to
end (create → pay at the provider → callback → risk → allocation → delivery), also as a ratio;
the CPU share of each process during the order phase, and the bottleneck (the busiest one).
Everything runs on 127.0.0.1; the load generator is a separate process (bench/loadgen.py).
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
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.procstat import CpuMeter  # noqa: E402
from fakalab.reference_shop.process import ShopProcess  # noqa: E402
from fakalab.reference_shop.upstreams.process import UpstreamsProcess, find_port_base  # noqa: E402


def loadgen(url: str, connections: int, duration: float, targets: Path | None = None
            ) -> dict[str, float]:
    cmd = [sys.executable, str(ROOT / "bench" / "loadgen.py"), "--url", url,
           "--connections", str(connections), "--duration", str(duration)]
    if targets is not None:
        cmd += ["--targets", str(targets)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=duration + 60)
    result: dict[str, float] = json.loads(out.stdout)
    return result


def start_bare(port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bare_app.py"), str(port)],
                            stdout=subprocess.PIPE, text=True)
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/hello", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("bare app did not start")


def drive_orders(url: str, orders: int, buyers: int) -> tuple[dict[str, Any], float]:
    """Run bench/order_driver.py (its own process); its result and the CPU seconds it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "order_driver.py"), "--url", url,
                          "--orders", str(orders), "--buyers", str(buyers)],
                         capture_output=True, text=True, check=True, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result: dict[str, Any] = json.loads(out.stdout)
    return result, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--db", default=None, help="the shop's database URL (default: a "
                        "SQLite file in a temporary directory), e.g. postgresql://…/bench")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fakalab-bench-"))
    bare_port = find_port_base() + 50
    with UpstreamsProcess() as ups:
        db_url = args.db or f"sqlite:///{tmp / 'shop.db'}"
        opts = ["--workers", str(args.workers)]
        with ShopProcess(db_url, ups.urls, options=opts, log_path=tmp / "shop.log") as shop:
            bare = start_bare(bare_port)
            try:
                bare_url = f"http://127.0.0.1:{bare_port}/hello"
                base = loadgen(bare_url, args.connections, args.duration)
                assert shop.proc is not None and ups.proc is not None
                drive_orders(shop.url, 40, args.connections)  # warm up
                meter = CpuMeter({"shop": shop.proc.pid, "upstreams": ups.proc.pid})
                meter.start()
                started = time.perf_counter()
                driven, driver_cpu = drive_orders(shop.url, args.orders, args.connections)
                cpu = meter.stop()
                cpu["driver (bench)"] = round(driver_cpu / (time.perf_counter() - started), 2)
                orders, orders_per_s = driven["placed"], float(driven["orders_per_s"])
                metrics_text = httpx.get(shop.url + "/metrics").text
                stages = stage_means(metrics_text)
                stages.update(db_lock(metrics_text))
                targets = tmp / "targets.json"
                targets.write_text(json.dumps([[f"/api/orders/{o['order_no']}",
                                                {"X-Order-Token": o["token"]}] for o in orders]))
                polls = loadgen(shop.url + "/", args.connections, args.duration, targets)
                again = loadgen(bare_url, args.connections, args.duration)
                base = max(base, again, key=lambda r: r["rps"])  # the kinder baseline
            finally:
                bare.terminate()
                bare.wait()
    report(base, polls, orders_per_s, cpu, stages, args, refusals(driven, metrics_text))


def refused_by_reason(metrics_text: str) -> dict[str, float]:
    """The shop's admission refusals so far (`fakalab_orders_refused_total`), by reason."""
    return {sample.labels["reason"]: sample.value
            for family in text_string_to_metric_families(metrics_text)
            if family.name == "fakalab_orders_refused"
            for sample in family.samples if sample.name == "fakalab_orders_refused_total"}


def refusals(driven: dict[str, Any], metrics_text: str) -> str:
    """The shop's admission refusals during the run, by reason ("" when none)."""
    reasons = refused_by_reason(metrics_text)
    if not driven.get("refused") and not any(reasons.values()):
        return ""
    shown = ", ".join(f"{k} {v:.0f}" for k, v in reasons.items())
    return (f"{driven.get('refused', 0)} orders refused busy and retried after Retry-After "
            f"({shown}); errors {driven.get('errors', 0)}")


def stage_means(metrics_text: str) -> dict[str, float]:
    """Mean seconds per stage and per upstream call, from the shop's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name not in ("fakalab_stage_seconds", "fakalab_upstream_seconds"):
            continue
        for sample in family.samples:
            key = sample.labels.get("stage") or "call " + sample.labels.get("upstream", "")
            if sample.name.endswith("_sum"):
                sums[key] = sample.value
            elif sample.name.endswith("_count"):
                counts[key] = sample.value
    return {k: sums[k] / counts[k] for k in sums if counts.get(k)}


def db_lock(metrics_text: str) -> dict[str, float]:
    """The writer's units (statements grouped per business step), groups (commits), and the
    mean wait and work per unit, in seconds."""
    from prometheus_client.parser import text_string_to_metric_families

    values = {s.name: s.value for f in text_string_to_metric_families(metrics_text)
              for s in f.samples if s.name.startswith("fakalab_db_")}
    writes = values.get("fakalab_db_writes", 0.0)
    if not writes:
        return {}
    return {"db write wait": values["fakalab_db_write_wait_seconds"] / writes,
            "db write hold": values["fakalab_db_write_hold_seconds"] / writes,
            "db writes": writes, "db groups": values.get("fakalab_db_groups", 0.0)}


def bottleneck_of(cpu: dict[str, float], stages: dict[str, float], workers: int,
                  orders_per_s: float, orders: int) -> str:
    busiest = max(cpu, key=lambda k: cpu[k])
    total = sum(cpu.values())
    if total >= 1.7:  # two cores: the machine itself is the limit
        shares = ", ".join(f"{k} {v:.2f}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]))
        return (f"the machine's two cores ({total:.2f} cores busy: {shares}); the shop "
                f"spends {cpu.get('shop', 0) / orders_per_s * 1000:.1f} ms of CPU per order")
    if cpu[busiest] >= 0.85:
        return f"{busiest}: CPU-bound ({cpu[busiest]:.2f} of a core)"
    hold, writes = stages.get("db write hold", 0.0), stages.get("db writes", 0.0)
    busy = hold * writes / (orders / orders_per_s) if orders_per_s else 0.0
    if busy > 0.8:  # the shop's own clock of its one writer thread: units' work and commits
        return (f"the database writer: busy {busy:.0%} of the order phase, "
                f"{hold * 1e6:.0f} us a unit, {writes / orders:.1f} units an order (its "
                f"clock includes waiting for the server and for the GIL)")
    stage_names = [k for k in stages if k in ("risk_check", "allocating", "delivering")]
    per_order = sum(stages[k] for k in stage_names)
    slowest = max(stage_names, key=lambda k: stages[k], default="?")
    cap = workers / per_order if per_order else float("inf")
    return (f"no process is CPU-bound; latency-bound: a worker spends {per_order * 1000:.0f} ms "
            f"per order (slowest stage {slowest}, {stages.get(slowest, 0) * 1000:.0f} ms), "
            f"so {workers} workers cap at {cap:.0f} orders/s")


def report(base: dict[str, float], polls: dict[str, float], orders_per_s: float,
           cpu: dict[str, float], stages: dict[str, float], args: argparse.Namespace,
           refused: str = "") -> None:
    bottleneck = bottleneck_of(cpu, stages, args.workers, orders_per_s, args.orders)
    print(f"bare FastAPI endpoint      {base['rps']:>9.0f} req/s   p50 {base['p50_ms']:.2f} ms")
    print(f"status polls (shop)        {polls['rps']:>9.0f} req/s   p50 {polls['p50_ms']:.2f} ms"
          f"   ratio {polls['rps'] / base['rps']:.2f} (target >= 0.60)   errors {polls['errors']}")
    print(f"orders end to end          {orders_per_s:>9.1f} orders/s"
          f"   ratio {orders_per_s / base['rps']:.4f} of the bare endpoint's req/s"
          f"   ({args.orders} orders, {args.workers} workers, {args.connections} buyers)")
    if refused:
        print(f"admission                  {refused}")
    shares = ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
    print(f"CPU share during orders    {shares} (1.00 = one core)")
    per_order = {k: v / orders_per_s * 1000 for k, v in cpu.items()} if orders_per_s else {}
    print("CPU per order              " + ", ".join(f"{k} {v:.2f} ms"
                                                  for k, v in per_order.items()))
    if stages.get("db groups"):
        print(f"database writer            {stages['db writes']:.0f} units in "
              f"{stages['db groups']:.0f} commits ({stages['db writes'] / stages['db groups']:.1f}"
              f" units a commit), {stages['db write hold'] * 1e6:.0f} us of work and "
              f"{stages['db write wait'] * 1e6:.0f} us of queueing per unit")
    means = ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in sorted(stages.items())
                      if not k.startswith("db "))
    print(f"mean stage / call times    {means}")
    print(f"bottleneck                 {bottleneck}")


if __name__ == "__main__":
    main()
