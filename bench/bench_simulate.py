"""Bench: the simulator's speed, measured in one run (issue 5).

1. M/M/10, λ = 9, μ = 1, 200k orders: the fast path (FCFS recursion), its priority event loop,
   the full pipeline model reduced to M/M/c (SimPy worker pool), and Ciw on the same model.
   Target: fast path ≥ 2x Ciw and ≥ 100k orders/s.
2. The full pipeline model, 1M orders (two priority classes, faults, failures): under 60 s.
3. Cost per order at ρ = 1.2 against ρ = 0.9 with priorities on: within 1.5x.
4. A 1-million-order flash sale (``fakalab simulate flash-sale --orders 1000000``: the scenario's
   load and faults back to back, the shop's way — calls, breakers, the CPU calendar, holds,
   payments, buyers): orders simulated per second, in this process and as the whole command
   (a fresh ``python -m fakalab`` process, imports and figures included), against Ciw running
   the same M/M/c-shaped pipeline (the sale's mean order rate, its workers, exponential service
   with the pipeline's mean work per order) for as many orders in the same run.

    .venv/bin/python bench/bench_simulate.py [--orders 200000] [--full-orders 1000000]
        [--sale-orders 1000000] [--only 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from fakalab.contract.scenario import load_scenario
from fakalab.simulate.erlang import mmc_mean_wait
from fakalab.simulate.forecast import figures_of
from fakalab.simulate.mmc import MMcModel, run_mmc, simulate_waits
from fakalab.simulate.model import run
from fakalab.simulate.params import Fault, LoadShape, PipelineModel, PriorityClass
from fakalab.simulate.scenario_model import scenario_model

LAMBDA, MU, SERVERS = 9.0, 1.0, 10
CLASSES = (PriorityClass(name="vip", share=0.2), PriorityClass(name="standard", share=0.8))


def timed(job: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = job()
    return time.perf_counter() - start, result


def best_of(runs: int, job: Callable[[], Any]) -> float:
    """The fastest of ``runs`` timings (both sides of a ratio get the same treatment)."""
    return min(timed(job)[0] for _ in range(runs))


def ciw_mmc(orders: int, seed: int) -> float:
    """Ciw's M/M/c; returns the mean wait of the finished customers."""
    import ciw  # bench-only dependency (the `bench` extra)

    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=LAMBDA)],
        service_distributions=[ciw.dists.Exponential(rate=MU)],
        number_of_servers=[SERVERS],
    )
    ciw.seed(seed)
    simulation = ciw.Simulation(network)
    simulation.simulate_until_max_customers(orders, method="Finish")
    return statistics.fmean(r.waiting_time for r in simulation.get_all_records())


def mmc_contenders(orders: int) -> dict[str, tuple[float, float]]:
    """name → (seconds, mean wait) on M/M/10, λ = 9, μ = 1."""
    fcfs = MMcModel(LAMBDA, MU, SERVERS, orders, warmup=0)
    two = MMcModel(LAMBDA, MU, SERVERS, orders, (0.2, 0.8), warmup=0)
    pipeline = PipelineModel.mmc(LAMBDA, MU, SERVERS, orders)
    jobs: dict[str, Callable[[], float]] = {
        "fast path (FCFS)": lambda: run_mmc(fcfs, 1).mean_wait.mean,
        "fast path, 2 priority classes": lambda: float(simulate_waits(two, 1)[1].mean()),
        "pipeline model as M/M/c (SimPy)": lambda: run(pipeline, 1).summary.mean_queue_wait_s,
        "Ciw 3": lambda: ciw_mmc(orders, 1),
    }
    return {name: timed(job) for name, job in jobs.items()}


def full_model(orders: int, rate: float = 20.0) -> PipelineModel:
    """The reference shop at ρ ≈ 0.7 with priority lanes, failures and two fault windows."""
    base = PipelineModel(orders=orders, workers=4, classes=CLASSES)
    stages = tuple(
        s.model_copy(update={"failure_prob": 0.01}) if s.name == "allocation" else s
        for s in base.stages
    )
    horizon = orders / rate
    faults = (
        Fault(target="allocation", start_s=0.2 * horizon, end_s=0.21 * horizon, latency_factor=3),
        Fault(target="payment-a", start_s=0.5 * horizon, end_s=0.51 * horizon, failure_prob=0.3),
    )
    return base.model_copy(
        update={"arrivals": LoadShape.constant(rate), "stages": stages, "faults": faults}
    )


def at_utilisation(rho: float, orders: int) -> PipelineModel:
    model = PipelineModel(orders=orders, workers=4, classes=CLASSES)
    return model.model_copy(
        update={"arrivals": LoadShape.constant(rho * model.workers / model.job_mean_s)}
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def ciw_pipeline(arrival_rate: float, mean_work_s: float, servers: int, orders: int,
                 seed: int) -> float:
    """Ciw's M/M/c with the pipeline's shape; returns the mean wait."""
    import ciw  # bench-only dependency (the `bench` extra)

    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=arrival_rate)],
        service_distributions=[ciw.dists.Exponential(rate=1 / mean_work_s)],
        number_of_servers=[servers],
    )
    ciw.seed(seed)
    simulation = ciw.Simulation(network)
    simulation.simulate_until_max_customers(orders, method="Finish")
    return statistics.fmean(r.waiting_time for r in simulation.get_all_records())


def flash_sale_million(orders: int) -> bool:
    """Section 4: the pipeline model on a 1M-order flash sale against Ciw's M/M/c."""
    scenario = load_scenario("flash-sale")
    built, (model, _) = timed(lambda: scenario_model(scenario, orders=orders))
    seconds, result = timed(lambda: run(model, 1))
    figures = figures_of(model, result.records)
    paid = int(result.records.paid.sum())
    span = float(result.records.paid_at[result.records.paid].max())
    suppliers = sum(c.share * c.supplier_share for c in model.classes)
    work = (model.job_mean_s + model.upstream("risk").latency.expected
            + suppliers * model.upstream("supplier-a").latency.expected)  # mean work per order
    rate = paid / span
    command = [sys.executable, "-m", "fakalab", "simulate", "flash-sale", "--orders",
               str(orders), "--seeds", "1", "--json"]
    whole, done = timed(lambda: subprocess.run(command, capture_output=True, text=True,
                                               check=True))
    printed = json.loads(done.stdout)["forecast"]["figures"]
    ciw_seconds, ciw_wait = timed(lambda: ciw_pipeline(rate, work, model.workers, orders, 1))
    print(f"4. flash sale, {orders:,} orders ({len(result.records):,} created, the sale repeated "
          f"{result.records.created_at.max() / scenario.duration:.0f} times); delay rate "
          f"{figures['delay_rate']:.2%}, p95 {figures['p95_s']:.1f} s, peak queue "
          f"{figures['peak_queue_depth']:.0f} (the command printed "
          f"{printed['delay_rate']['mean']:.2%}, {printed['p95_s']['mean']:.1f} s)")
    print(f"   pipeline model, in process  {seconds:7.2f} s {orders / seconds:12,.0f} orders/s "
          f"(model built in {built:.2f} s)")
    print(f"   pipeline model, whole command {whole:5.2f} s {orders / whole:12,.0f} orders/s")
    print(f"   Ciw 3, M/M/{model.workers} λ={rate:.3g}/s, E[S]={work * 1000:.3g} ms "
          f"{ciw_seconds:7.2f} s {orders / ciw_seconds:12,.0f} orders/s   Wq {ciw_wait:.4f}")
    print(f"   ratio: {ciw_seconds / seconds:.2f}x Ciw in process, {ciw_seconds / whole:.2f}x "
          "as a whole command")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--full-orders", type=int, default=1_000_000)
    parser.add_argument("--sale-orders", type=int, default=1_000_000)
    parser.add_argument("--only", type=int, choices=(1, 2, 3, 4), default=None)
    args = parser.parse_args()
    ok = True
    if args.only == 4:
        return 0 if flash_sale_million(args.sale_orders) else 1

    print(
        f"1. M/M/{SERVERS}, λ={LAMBDA:g}, μ={MU:g}, {args.orders:,} orders "
        f"(Erlang C Wq = {mmc_mean_wait(LAMBDA, MU, SERVERS):.4f})"
    )
    results = mmc_contenders(args.orders)
    ciw_seconds = results["Ciw 3"][0]
    for name, (seconds, wait) in results.items():
        rate = args.orders / seconds
        print(
            f"   {name:34} {seconds:7.2f} s {rate:12,.0f} orders/s  "
            f"{ciw_seconds / seconds:6.2f}x Ciw   Wq {wait:.4f}"
        )
    fast = results["fast path (FCFS)"][0]
    speedup, rate = ciw_seconds / fast, args.orders / fast
    ok &= speedup >= 2 and rate >= 100_000
    print(
        f"   target ≥ 2x Ciw and ≥ 100k orders/s: {speedup:.1f}x, {rate:,.0f}/s "
        f"{verdict(speedup >= 2 and rate >= 100_000)}"
    )

    seconds, result = timed(lambda: run(full_model(args.full_orders), 1))
    ok &= seconds < 60
    print(
        f"2. full pipeline model, {args.full_orders:,} orders: {seconds:.1f} s "
        f"({args.full_orders / seconds:,.0f} orders/s; {seconds / 60:.2f} of the 60 s budget) "
        f"{verdict(seconds < 60)}; delay rate {result.summary.delay_rate:.4f}, "
        f"tickets {result.summary.tickets}"
    )

    print(f"3. cost per order with priorities on, {args.orders:,} orders per run, best of 3")
    for name, make in (
        ("full pipeline model", lambda rho: lambda: run(at_utilisation(rho, args.orders), 1)),
        (
            "fast path, 2 classes",
            lambda rho: (
                lambda: simulate_waits(
                    MMcModel(rho * SERVERS * MU, MU, SERVERS, args.orders, (0.2, 0.8)), 1
                )
            ),
        ),
    ):
        low, high = best_of(3, make(0.9)), best_of(3, make(1.2))
        ratio = high / low
        ok &= ratio <= 1.5
        print(
            f"   {name:22} ρ=0.9 {low / args.orders * 1e6:6.2f} µs/order, "
            f"ρ=1.2 {high / args.orders * 1e6:6.2f} µs/order: ratio {ratio:.2f} "
            f"(target ≤ 1.5) {verdict(ratio <= 1.5)}"
        )
    ok &= flash_sale_million(args.sale_orders)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
