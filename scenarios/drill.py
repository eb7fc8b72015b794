"""`fakalab drill`: start the stack, run the load and the faults, tear everything down, and
write the run directory — for a scenario and each of its variants, back to back.

Every process it starts is stopped and every fault removed in ``finally`` blocks, also on
Ctrl-C, SIGTERM or a crash of a child; the chaos runner's watchdog removes faults even if this
process is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from rich.console import Console
from rich.live import Live

from fakalab.chaos.runner import PlanRunner
from fakalab.contract.scenario import Scenario, dump_scenario
from fakalab.contract.shop_settings import ShopSettings
from fakalab.contract.stages import IN_FLIGHT_STATES
from fakalab.scenarios import live, runinfo
from fakalab.scenarios.export import export_run
from fakalab.scenarios.loadgen import LocustRun
from fakalab.scenarios.slo import SloVerdict, evaluate, observed
from fakalab.scenarios.stack import Stack, StackError

__all__ = ["DrillOptions", "RunResult", "run_drill"]

OK, BREACHED, ERROR, INTERRUPTED = 0, 1, 2, 130


@dataclass
class DrillOptions:
    out: Path = Path("runs")
    toxiproxy_url: str | None = None
    generators: int = 1  # Locust processes
    report: bool = True
    drain_s: float | None = None  # default: min(sla_s, 20)


@dataclass
class RunResult:
    run_dir: Path
    exit_status: int
    verdicts: list[SloVerdict] = field(default_factory=list)
    invalid_reasons: list[str] = field(default_factory=list)
    error: str | None = None
    audit_failed: list[str] = field(default_factory=list)


class _Run:
    """One scenario (or variant) run: state shared by the steps below."""

    def __init__(self, scenario: Scenario, variant: str | None, options: DrillOptions,
                 console: Console) -> None:
        self.scenario, self.variant = scenario, variant
        self.options, self.console = options, console
        self.started_at = time.time()
        self.id = runinfo.run_id(self.started_at, scenario.name, variant)
        self.dir = options.out / self.id
        self.settings = {"sla_s": scenario.sla_s, **scenario.shop}
        killed = {f.service for f in scenario.drill.faults if f.fault.kind == "kill"} \
            if scenario.drill is not None else set()
        db_url = scenario.shop.get("db_url") or os.environ.get("FAKALAB_SHOP_DB_URL")
        self.stack = Stack(self.dir, self.settings, options.toxiproxy_url, scenario.seed,
                           isolate=sorted(killed - {"shop"}), db_url=db_url)
        self.locust: LocustRun | None = None
        self.runner: PlanRunner | None = None
        self.journal: dict[str, Any] | None = None
        self.stopped = asyncio.Event()
        self.error: str | None = None
        self.interrupted: str | None = None  # why, when it was

    async def execute(self) -> RunResult:
        self.dir.mkdir(parents=True, exist_ok=False)
        (self.dir / "scenario.yaml").write_text(dump_scenario(self.scenario))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._interrupt, sig)
        try:
            await self._drive()
        except StackError as exc:
            self.error = str(exc)
        finally:
            await self._teardown()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        return finish_run(self)

    def _interrupt(self, sig: signal.Signals) -> None:
        if self.interrupted is None:
            elapsed = time.time() - self.started_at
            self.interrupted = f"interrupted by {sig.name} after {elapsed:.0f} s"
        self.stack.stopping = True  # a process killed by the plan is not restarted any more
        self.stopped.set()

    async def _drive(self) -> None:
        self.console.print(f"[bold]{self.id}[/]: starting the stack")
        await asyncio.to_thread(self.stack.start)
        self.locust = LocustRun(self.dir, self.dir / "scenario.yaml", self.stack.shop_url,
                                self.scenario.duration, self.options.generators)
        self.locust.start()
        t0 = await asyncio.to_thread(self.locust.wait_started, 60.0)
        if t0 is None:
            self.error = f"Locust did not start (see {self.dir / 'locust' / 'locust.log'})"
            return
        runner_task = None
        if self.scenario.drill is not None and self.scenario.drill.faults:
            self.runner = PlanRunner(self.scenario.drill, self.stack.toxiproxy,  # type: ignore[arg-type]
                                     self.stack.upstream_urls, processes=self.stack)
            runner_task = asyncio.create_task(self.runner.run(start_at=t0))
        try:
            await self._watch(t0)
        finally:
            if runner_task is not None:
                await self._end_plan(runner_task)

    async def _watch(self, t0: float) -> None:
        view = Live(console=self.console, auto_refresh=False) if self.console.is_terminal \
            else None
        async with httpx.AsyncClient(timeout=2) as http:
            with view if view is not None else contextlib.nullcontext():
                await self._loop(http, t0, view)
            if not self.stopped.is_set() and self.error is None:
                await self._drain(http)

    async def _loop(self, http: httpx.AsyncClient, t0: float, view: Live | None) -> None:
        assert self.locust is not None
        previous, last, printed = 0, time.monotonic(), -1
        while self.locust.exit_code() is None and not self.stopped.is_set():
            dead = self.stack.dead_children()
            if dead:
                self.error = f"a process of the stack died: {', '.join(dead)}"
                return
            await asyncio.sleep(1.0)
            snap = await self._snapshot(http, t0, previous, time.monotonic() - last)
            previous, last = snap.arrivals, time.monotonic()
            if view is not None:
                view.update(live.render(snap, self.id), refresh=True)
            elif int(snap.elapsed_s) // 15 != printed:  # a plain line every 15 s off a terminal
                printed = int(snap.elapsed_s) // 15
                self.console.print(f"{snap.elapsed_s:4.0f}/{self.scenario.duration:.0f} s  "
                                   f"arrivals {snap.arrivals}  in flight {snap.in_flight}  "
                                   f"delivered {snap.delivered}")

    async def _snapshot(self, http: httpx.AsyncClient, t0: float, previous: int,
                        interval: float) -> live.Snapshot:
        assert self.locust is not None
        elapsed = time.time() - t0
        try:
            text = (await http.get(self.stack.shop_url + "/metrics")).text
        except httpx.HTTPError:
            text = ""
        return live.snapshot(elapsed, self.scenario.duration, text, self.locust.summaries(),
                             previous, interval, self.scenario.load.shape.rate(elapsed),
                             self.scenario.sla_s, self.scenario.drill)

    async def _drain(self, http: httpx.AsyncClient) -> None:
        """After the load: give orders in flight a bounded time to finish."""
        limit = self.options.drain_s
        deadline = time.monotonic() + (min(self.scenario.sla_s, 20.0) if limit is None else limit)
        while time.monotonic() < deadline and not self.stopped.is_set():
            try:
                health = (await http.get(self.stack.shop_url + "/healthz")).json()
                metrics = (await http.get(self.stack.shop_url + "/metrics")).text
            except (httpx.HTTPError, ValueError):
                return
            states, _ = live.metric_samples(metrics)
            if health.get("queue_depth", 0) == 0 and not any(
                    states.get(s, 0) for s in IN_FLIGHT_STATES):
                return
            await asyncio.sleep(0.5)

    async def _end_plan(self, task: asyncio.Task[Any]) -> None:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self.runner is not None and self.runner.journal is not None:
            self.journal = json.loads(json.dumps(self.runner.journal.to_json(), default=str))

    async def _teardown(self) -> None:
        if self.locust is not None:
            await asyncio.to_thread(self.locust.stop)
        await asyncio.to_thread(self.stack.stop_shop)
        self.ended_at = time.time()
        await asyncio.to_thread(self.stack.stop)
        if self.runner is not None:  # the faults went with the processes and proxies they were on
            self.runner.dismiss_watchdog()


def finish_run(run: _Run) -> RunResult:
    """Export, judge and describe a run that has stopped (every process is down by now)."""
    counts: dict[str, int] = {}
    ended = getattr(run, "ended_at", time.time())
    if run.stack.db_path.exists():
        try:
            counts = export_run(run.dir, run.stack.db_path, run.scenario.sla_s, ended, run.journal)
        except (OSError, ValueError) as exc:
            run.error = run.error or f"export failed: {exc}"
    verdicts: list[SloVerdict] = []
    reasons = _invalid_reasons(run)
    if run.interrupted:  # a partial run: its figures are no verdict on the shop
        reasons.insert(0, f"{run.interrupted}: the figures cover only part of the run")
    elif counts:
        orders = pd.read_csv(run.dir / "orders.csv")
        requests, failures = runinfo.locust_totals(run.dir / "locust" / "locust_stats.csv")
        verdicts = evaluate(run.scenario.slos, observed(
            orders, counts.get("tickets", 0), requests, failures, run.scenario.sla_s, ended))
    settings = ShopSettings(**run.settings).model_dump(
        mode="json", exclude={"admin_token", "payment_secrets", "upstreams", "db_url"})

    def describe(status: int, audit: dict[str, Any]) -> None:
        info = runinfo.run_json(
            run_id=run.id, scenario=run.scenario.name, variant=run.variant,
            seed=run.scenario.seed, started_at=run.started_at, ended_at=ended,
            sla_s=run.scenario.sla_s,
            toxiproxy={"kind": run.stack.toxiproxy_kind,
                       "url": run.stack.toxiproxy.url if run.stack.toxiproxy else ""},
            shop=settings, slos=[v.as_dict() for v in verdicts], valid=not reasons,
            invalid_reasons=reasons, exit_status=status, error=run.error,
            load={"summaries": run.locust.summaries() if run.locust else [], "counts": counts},
            audit=audit, database=run.stack.database or {"kind": "sqlite", "file": "shop.db"})
        (run.dir / "run.json").write_text(json.dumps(info, indent=1))

    describe(_status(run, verdicts, reasons), {"ran": False, "failed": []})
    audit_failed = _audit(run) if counts else []  # the audit reads the run directory
    status = _status(run, verdicts, reasons)
    if audit_failed and status == OK:
        status = BREACHED  # an invariant broke: the drill fails whatever the SLOs say
    describe(status, {"ran": bool(counts), "failed": audit_failed})
    return RunResult(run.dir, status, verdicts, reasons, run.error, audit_failed)


def _audit(run: _Run) -> list[str]:
    """Names of the invariant checks that failed (audit.json has the offending rows)."""
    from fakalab.reference_shop.audit_cli import AuditError, audit_run

    try:
        return [c.name for c in audit_run(run.dir) if not c.passed]
    except (AuditError, OSError, ValueError, KeyError) as exc:
        run.error = run.error or f"audit failed to run: {exc}"
        return []


def _invalid_reasons(run: _Run) -> list[str]:
    reasons: list[str] = []
    for summary in run.locust.summaries() if run.locust else []:
        reasons += [str(r) for r in summary.get("invalid_reasons", [])]
        if summary.get("dropped"):
            reasons.append(f"{summary['dropped']} arrivals dropped (max_journeys reached)")
    return sorted(set(reasons))


def _status(run: _Run, verdicts: list[SloVerdict], reasons: list[str]) -> int:
    if run.interrupted:
        return INTERRUPTED
    if run.error or reasons:
        return ERROR
    return OK if all(v.passed for v in verdicts) else BREACHED


def run_drill(scenario: Scenario, options: DrillOptions, console: Console) -> list[RunResult]:
    """Run the scenario, or each of its variants back to back under the same load and faults."""
    plans = [(None, scenario)] if not scenario.variants else [
        (v.name, scenario.variant(v.name)) for v in scenario.variants]
    results: list[RunResult] = []
    for variant, resolved in plans:
        result = asyncio.run(_Run(resolved, variant, options, console).execute())
        results.append(result)
        if result.exit_status == INTERRUPTED:
            break
    return results
