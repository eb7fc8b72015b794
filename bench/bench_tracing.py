"""What tracing costs: orders/s end to end with tracing off and on, measured in the same run.

    .venv/bin/python bench/bench_tracing.py [--orders 400] [--rounds 3] [--connections 32]
        [--workers 4] [--sample 1.0] [--trace-rate 100]

One upstreams process (tracing to a temporary directory, so it traces whatever carries a
traceparent) serves every round; each round starts a fresh shop in one of three modes, in turn
— off (buyers send no traceparent), every journey traced (`--set tracing=true`, spans to a
file, bench/order_driver.py --traceparent: one trace per order journey, `--sample` of them
sampled) and the drill's default (the same, at most `--trace-rate` sampled journeys a second:
shop.trace_rate, scenarios/trace_sampler.py) — warms it up, then drives `--orders` orders
through create → pay → callback → risk → allocation → delivery. Prints each round, the median
orders/s of each mode, its ratio to off (target >= 0.95: tracing costs at most 5% of orders/s),
the share of journeys traced, the shop's and the upstreams' CPU per order (the upstreams trace
too, on the same cores), and the spans written per traced journey.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.procstat import CpuMeter  # noqa: E402
from fakalab.contract.shop_settings import ShopSettings  # noqa: E402
from fakalab.contract.traces import read_spans  # noqa: E402
from fakalab.reference_shop.process import ShopProcess  # noqa: E402
from fakalab.reference_shop.upstreams.process import UpstreamsProcess  # noqa: E402

TARGET = 0.95
TRACE_RATE = ShopSettings.model_fields["trace_rate"].default


def drive(url: str, orders: int, buyers: int, sample: float | None,
          rate: float = 0.0) -> dict[str, Any]:
    cmd = [sys.executable, str(ROOT / "bench" / "order_driver.py"), "--url", url,
           "--orders", str(orders), "--buyers", str(buyers),
           *(["--traceparent", str(sample), "--trace-rate", str(rate)]
             if sample is not None else [])]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


@dataclass(frozen=True)
class Mode:
    name: str
    sample: float | None  # None: tracing off
    rate: float = 0.0  # the buyers' cap on sampled journeys a second (0: none)


@dataclass(frozen=True)
class Round:
    rate: float  # orders/s
    shop_ms: float  # the shop's CPU per order
    upstreams_ms: float
    traced: float  # share of the journeys sampled
    journeys: int  # sampled journeys driven, the warm-up's included (for spans per journey)


def one_round(ups: UpstreamsProcess, work: Path, index: int, mode: Mode,
              args: argparse.Namespace) -> Round:
    """One fresh shop driven through `args.orders` orders in `mode`."""
    options = ["--workers", str(args.workers)]
    if mode.sample is not None:
        options += ["--set", "tracing=true", "--set", f"trace_file={work / 'traces/shop.jsonl'}"]
    with ShopProcess(f"sqlite:///{work / f'shop-{index}.db'}", ups.urls, options=options,
                     log_path=work / f"shop-{index}.log") as shop:
        assert shop.proc is not None and ups.proc is not None
        warm = drive(shop.url, 40, args.connections, mode.sample, mode.rate)  # warm up
        meter = CpuMeter({"shop": shop.proc.pid, "upstreams": ups.proc.pid})
        meter.start()
        driven = drive(shop.url, args.orders, args.connections, mode.sample, mode.rate)
        cpu = meter.stop()
    journeys = warm.get("traced", 0) + driven.get("traced", 0)
    rate = float(driven["orders_per_s"])
    traced = driven.get("traced", 0) / max(1, args.orders)
    if not rate:
        return Round(rate, float("nan"), float("nan"), traced, journeys)
    return Round(rate, cpu["shop"] / rate * 1000, cpu["upstreams"] / rate * 1000, traced,
                 journeys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each mode")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--sample", type=float, default=1.0, help="share of the journeys "
                        "traced when on (the buyers' sampled flag; shop.trace_sample in a drill)")
    parser.add_argument("--trace-rate", type=float, default=TRACE_RATE, help="the drill "
                        "default's cap on sampled journeys a second (shop.trace_rate)")
    args = parser.parse_args()
    modes = [Mode("off", None), Mode("every journey", args.sample),
             Mode(f"capped at {args.trace_rate:g}/s", args.sample, args.trace_rate)]
    work = Path(tempfile.mkdtemp(prefix="fakalab-bench-tracing-"))
    results: dict[Mode, list[Round]] = {mode: [] for mode in modes}
    with UpstreamsProcess(traces=work / "traces") as ups:
        for index in range(len(modes) * args.rounds):
            mode = modes[index % len(modes)]  # off, every, capped, off, …: drift hits all alike
            r = one_round(ups, work, index, mode, args)
            results[mode].append(r)
            print(f"round {index + 1:>2}  {mode.name:<18} {r.rate:7.1f} orders/s  shop CPU "
                  f"{r.shop_ms:.2f} ms/order  upstreams {r.upstreams_ms:.2f}  "
                  f"traced {r.traced:.0%}", flush=True)
    spans, _ = read_spans(work)
    report(results, args)
    journeys = sum(r.journeys for rounds in results.values() for r in rounds)
    print(f"{len(spans)} spans in all services, {len(spans) / max(1, journeys):.1f} per "
          "traced journey")


def report(results: dict[Mode, list[Round]], args: argparse.Namespace) -> None:
    off = statistics.median(r.rate for r in next(iter(results.values())))
    for mode, rounds in results.items():
        rate = statistics.median(r.rate for r in rounds)
        shop = statistics.median(r.shop_ms for r in rounds)
        ups = statistics.median(r.upstreams_ms for r in rounds)
        traced = statistics.median(r.traced for r in rounds)
        line = (f"tracing {mode.name:<18} {rate:>8.1f} orders/s   shop CPU {shop:.2f} ms/order"
                f"   upstreams {ups:.2f} ms/order")
        if mode.sample is not None:
            verdict = "met" if rate / off >= TARGET else "NOT met"
            line += (f"   ratio on/off {rate / off:.3f} (target >= {TARGET}: {verdict}),"
                     f" {traced:.0%} of the journeys traced")
        print(line)
    print(f"(medians of {args.rounds} rounds of each mode, {args.orders} orders a round, "
          f"{args.connections} buyers, {args.workers} workers)")


if __name__ == "__main__":
    main()
