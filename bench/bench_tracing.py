"""What tracing costs: orders/s end to end with tracing off and on, measured in the same run.

    .venv/bin/python bench/bench_tracing.py [--orders 400] [--rounds 3] [--connections 32]
        [--workers 4] [--sample 1.0]

One upstreams process (tracing to a temporary directory, so it traces whatever carries a
traceparent) serves every round; each round starts a fresh shop — alternately with tracing
off (and buyers sending no traceparent) and on (`--set tracing=true`, spans to a file, and
bench/order_driver.py --traceparent: one trace per order journey, `--sample` of them
sampled) — warms it up, then drives `--orders` orders through create → pay → callback →
risk → allocation → delivery. Prints
each round, the median orders/s of each mode, the ratio on/off (target >= 0.95: tracing costs
at most 5% of orders/s), the shop's and the upstreams' CPU per order in each mode (the
upstreams trace too, on the same cores), and the spans written.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.procstat import CpuMeter  # noqa: E402
from fakalab.contract.traces import read_spans  # noqa: E402
from fakalab.reference_shop.process import ShopProcess  # noqa: E402
from fakalab.reference_shop.upstreams.process import UpstreamsProcess  # noqa: E402

TARGET = 0.95


def drive(url: str, orders: int, buyers: int, sample: float | None) -> dict[str, Any]:
    cmd = [sys.executable, str(ROOT / "bench" / "order_driver.py"), "--url", url,
           "--orders", str(orders), "--buyers", str(buyers),
           *(["--traceparent", str(sample)] if sample is not None else [])]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def one_round(ups: UpstreamsProcess, work: Path, index: int, traced: bool,
              args: argparse.Namespace) -> tuple[float, float, float]:
    """(orders/s, shop CPU ms per order, upstreams CPU ms per order) of one fresh shop."""
    options = ["--workers", str(args.workers)]
    if traced:
        options += ["--set", "tracing=true", "--set", f"trace_file={work / 'traces/shop.jsonl'}"]
    with ShopProcess(f"sqlite:///{work / f'shop-{index}.db'}", ups.urls, options=options,
                     log_path=work / f"shop-{index}.log") as shop:
        assert shop.proc is not None and ups.proc is not None
        sample = args.sample if traced else None
        drive(shop.url, 40, args.connections, sample)  # warm up
        meter = CpuMeter({"shop": shop.proc.pid, "upstreams": ups.proc.pid})
        meter.start()
        driven = drive(shop.url, args.orders, args.connections, sample)
        cpu = meter.stop()
    rate = float(driven["orders_per_s"])
    if not rate:
        return rate, float("nan"), float("nan")
    return rate, cpu["shop"] / rate * 1000, cpu["upstreams"] / rate * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each mode")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--sample", type=float, default=1.0, help="share of the journeys "
                        "traced when on (the buyers' sampled flag; shop.trace_sample in a drill)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fakalab-bench-tracing-"))
    results: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
    with UpstreamsProcess(traces=work / "traces") as ups:
        for index in range(2 * args.rounds):
            traced = index % 2 == 1  # off, on, off, on, …: drift hits both alike
            rate, cpu_ms, ups_ms = one_round(ups, work, index, traced, args)
            results[traced].append((rate, cpu_ms, ups_ms))
            print(f"round {index + 1}  tracing {'on ' if traced else 'off'}  {rate:7.1f} "
                  f"orders/s  shop CPU {cpu_ms:.2f} ms/order  upstreams {ups_ms:.2f}",
                  flush=True)
    spans, _ = read_spans(work)
    report(results, len(spans), args)


def report(results: dict[bool, list[tuple[float, float, float]]], spans: int,
           args: argparse.Namespace) -> None:
    off = statistics.median(r for r, _, _ in results[False])
    on = statistics.median(r for r, _, _ in results[True])
    cpu_off = statistics.median(c for _, c, _ in results[False])
    cpu_on = statistics.median(c for _, c, _ in results[True])
    ups_off = statistics.median(u for _, _, u in results[False])
    ups_on = statistics.median(u for _, _, u in results[True])
    traced_orders = args.rounds * (args.orders + 40) * args.sample
    print(f"tracing off                {off:>9.1f} orders/s   shop CPU {cpu_off:.2f} ms/order"
          f"   upstreams {ups_off:.2f} ms/order")
    print(f"tracing on                 {on:>9.1f} orders/s   shop CPU {cpu_on:.2f} ms/order"
          f"   upstreams {ups_on:.2f} ms/order"
          f"   ({spans} spans, {spans / traced_orders:.1f} per order, all services)")
    verdict = "met" if on / off >= TARGET else "NOT met"
    print(f"ratio on/off               {on / off:>9.3f}            (target >= {TARGET}: {verdict};"
          f" medians of {args.rounds} rounds each, {args.orders} orders a round, "
          f"{args.sample:g} of the journeys traced)")


if __name__ == "__main__":
    main()
