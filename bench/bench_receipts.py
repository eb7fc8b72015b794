"""What verifiable receipts cost the shop: orders/s and shop CPU per order with receipts on and
off, in the same run (two shops on the same upstreams, rounds alternating on/off), then the
receipt route's latency and the offline check's time.

    .venv/bin/python bench/bench_receipts.py [--orders 600] [--rounds 2] [--buyers 32]

CPU per order counts everything the shop process did from the first order of a round to 1.5 s
after its last (so the receipt log's last tick, which runs each second, is inside it).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_shop import drive_orders  # noqa: E402
from bench.procstat import cpu_seconds  # noqa: E402
from fakalab.contract.receipt import verify_receipt  # noqa: E402
from fakalab.reference_shop.process import ShopProcess  # noqa: E402
from fakalab.reference_shop.upstreams.process import UpstreamsProcess  # noqa: E402

SETTLE_S = 1.5


def round_of(shop: ShopProcess, orders: int, buyers: int) -> tuple[float, float, list[Any]]:
    """orders/s and shop CPU ms per order of one round; the orders placed."""
    assert shop.proc is not None
    before = cpu_seconds(shop.proc.pid)
    driven, _ = drive_orders(shop.url, orders, buyers)
    time.sleep(SETTLE_S)
    cpu = cpu_seconds(shop.proc.pid) - before
    placed = driven["placed"]
    return float(driven["orders_per_s"]), cpu / max(1, len(placed)) * 1000, placed


async def receipts_timing(url: str, placed: list[dict[str, str]], n: int
                          ) -> tuple[float, float, int]:
    """Median ms of GET …/receipt, of verifying one offline, and the log's size."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        key = (await client.get("/api/receipts/key")).json()["public_key"]
        fetch, check, size = [], [], 0
        for order in placed[:n]:
            t0 = time.perf_counter()
            r = await client.get(f"/api/orders/{order['order_no']}/receipt",
                                 headers={"X-Order-Token": order["token"]})
            fetch.append(time.perf_counter() - t0)
            receipt = r.json()
            t0 = time.perf_counter()
            verify_receipt(receipt, key)
            check.append(time.perf_counter() - t0)
            size = receipt["tree_head"]["size"]
    return statistics.median(fetch) * 1000, statistics.median(check) * 1000, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--buyers", type=int, default=32)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fakalab-bench-receipts-"))
    results: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
    with UpstreamsProcess() as ups:
        shops = {v: ShopProcess(f"sqlite:///{tmp / f'{v}.db'}", ups.urls,
                                options=["--workers", str(args.workers), "--set",
                                         f"receipts={'true' if v == 'on' else 'false'}"],
                                log_path=tmp / f"{v}.log") for v in ("on", "off")}
        for shop in shops.values():
            shop.start()
        try:
            for shop in shops.values():
                drive_orders(shop.url, 40, args.buyers)  # warm up
            placed: list[Any] = []
            for _ in range(args.rounds):
                for variant in ("on", "off"):
                    rate, cpu, orders = round_of(shops[variant], args.orders, args.buyers)
                    results[variant].append((rate, cpu))
                    placed = orders if variant == "on" else placed
            fetch_ms, check_ms, size = asyncio.run(receipts_timing(shops["on"].url, placed,
                                                                   50))
        finally:
            for shop in shops.values():
                shop.stop()
    report(results, fetch_ms, check_ms, size, args)


def report(results: dict[str, list[tuple[float, float]]], fetch_ms: float, check_ms: float,
           size: int, args: argparse.Namespace) -> None:
    mean = {v: (statistics.mean(r for r, _ in rs), statistics.mean(c for _, c in rs))
            for v, rs in results.items()}
    for variant, rounds in results.items():
        each = ", ".join(f"{r:.0f}/s {c:.2f} ms" for r, c in rounds)
        print(f"receipts {variant:<3}  {mean[variant][0]:>7.1f} orders/s   shop CPU "
              f"{mean[variant][1]:.2f} ms/order   (rounds: {each})")
    rate = mean["on"][0] / mean["off"][0] - 1
    cpu = mean["on"][1] - mean["off"][1]
    print(f"overhead      {rate:+.1%} orders/s, {cpu:+.2f} ms shop CPU per order "
          f"({args.orders} orders a round, {args.rounds} rounds each, {args.buyers} buyers, "
          f"{args.workers} workers)")
    print(f"receipt       GET …/receipt median {fetch_ms:.1f} ms, offline verify median "
          f"{check_ms:.2f} ms (log of {size} entries)")


if __name__ == "__main__":
    main()
