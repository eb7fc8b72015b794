"""`fakalab drill`: start the stack, run the load and the faults, tear everything down, and
write the run directory — for a scenario and each of its variants, back to back.

The target is the reference shop (`stack.Stack`; the run directory is exported from its
database) or an external shop (`target_stack.TargetStack`; the buyers' records and the
gateway's journal become an outside view, `outside.py`, after the probes, `probes.py`).

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
import yaml
from rich.console import Console
from rich.live import Live

from fakalab.chaos.runner import PlanRunner
from fakalab.contract.rundir import OUTSIDE_SOURCES, UNOBSERVABLE_OUTSIDE
from fakalab.contract.scenario import Scenario, dump_scenario
from fakalab.contract.shop_settings import ShopSettings
from fakalab.contract.stages import IN_FLIGHT_STATES
from fakalab.contract.target import Target
from fakalab.contract.traces import SHOP, TRACES_DIR, trace_file
from fakalab.scenarios import live, runinfo
from fakalab.scenarios.export import export_run
from fakalab.scenarios.loadgen import DEFAULT_MASTER_PORT, LoadgenError, LocustRun
from fakalab.scenarios.outside import export_outside
from fakalab.scenarios.probes import ProbeResult, run_probes, write_probes
from fakalab.scenarios.profile_client import HttpxHttp, ProfileClient
from fakalab.scenarios.receipt_heads import HeadRecorder
from fakalab.scenarios.slo import SloVerdict, evaluate, observed
from fakalab.scenarios.stack import Stack, StackError
from fakalab.scenarios.target_plugin import PluginError, load_plugin
from fakalab.scenarios.target_stack import TargetStack

__all__ = ["DrillOptions", "RunResult", "run_drill"]

OK, BREACHED, ERROR, INTERRUPTED = 0, 1, 2, 130
TRACE_RATE = ShopSettings.model_fields["trace_rate"].default


@dataclass
class DrillOptions:
    out: Path = Path("runs")
    toxiproxy_url: str | None = None
    generators: int = 1  # Locust processes
    report: bool = True
    drain_s: float | None = None  # default: min(sla_s, 20)
    bind: str | None = None  # the shop, upstreams and Locust master listen here (else loopback)
    remote_generators: int = 0  # Locust workers that join from other hosts
    master_port: int = DEFAULT_MASTER_PORT


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
        self.settings = {"sla_s": scenario.sla_s, **self._tracing(scenario), **scenario.shop}
        killed = {f.service for f in scenario.drill.faults if f.fault.kind == "kill"} \
            if scenario.drill is not None else set()
        self.target: Target | None = scenario.target  # None: the reference shop
        self.stack: Stack | TargetStack
        if self.target is None:
            db_url = scenario.shop.get("db_url") or os.environ.get("FAKALAB_SHOP_DB_URL")
            self.stack = Stack(self.dir, self.settings, options.toxiproxy_url, scenario.seed,
                               isolate=sorted(killed - {"shop"}), db_url=db_url,
                               bind=options.bind or "127.0.0.1")
        else:
            self.stack = TargetStack(self.dir, self.target, self.settings,
                                     options.toxiproxy_url, scenario.seed, self._address)
        self.probes: list[ProbeResult] = []
        self.heads = HeadRecorder(self.dir)  # the shop's signed receipt heads (receipts.md)
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
        except (StackError, PluginError, LoadgenError) as exc:
            self.error = str(exc)
        finally:
            await self._teardown()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        return finish_run(self)

    def _tracing(self, scenario: Scenario) -> dict[str, Any]:
        """The reference shop traces every drill into the run directory (docs/tracing.md)
        unless the scenario says `shop.tracing: false`."""
        if scenario.target is not None:
            return {}
        return {"tracing": True, "trace_file": str(self.dir / trace_file(SHOP))}

    def _interrupt(self, sig: signal.Signals) -> None:
        if self.interrupted is None:
            elapsed = time.time() - self.started_at
            self.interrupted = f"interrupted by {sig.name} after {elapsed:.0f} s"
        self.stack.stopping = True  # a process killed by the plan is not restarted any more
        self.stopped.set()

    def _address(self, link: str, address: str) -> None:
        self.console.print(f"  {link}: {address}")

    async def _drive(self) -> None:
        what = "the stack" if self.target is None else f"target {self.target.name}"
        self.console.print(f"[bold]{self.id}[/]: starting {what}")
        await asyncio.to_thread(self.stack.start)
        if self.stopped.is_set():
            return
        extra: list[str] = []
        if self.settings.get("tracing"):  # the buyers start each order's trace
            extra += ["--fakalab-trace-sample", str(self.settings.get("trace_sample", 1.0)),
                      "--fakalab-trace-rate", str(self.settings.get("trace_rate", TRACE_RATE)),
                      "--fakalab-traces", str(self.dir / TRACES_DIR)]
        duration = self.scenario.duration
        if isinstance(self.stack, TargetStack):
            extra = self._buyer_options(self.stack)
            self.probes = await asyncio.to_thread(self._probe, self.stack)
            duration += self._drain_budget() + 5.0  # the buyers watch through the drain
            if self.stopped.is_set():
                return
        self.locust = LocustRun(self.dir, self.dir / "scenario.yaml", self.stack.shop_url,
                                duration, self.options.generators, extra,
                                self.options.remote_generators, self.options.bind or "127.0.0.1",
                                self.options.master_port)
        self.locust.start()
        if self.locust.remote:
            self.console.print(f"  waiting for {self.locust.remote} remote generator(s): on "
                               f"each other host run `fakalab generator --master "
                               f"{self.locust.master}`")
        t0 = await asyncio.to_thread(self.locust.wait_started, 60.0, self.stopped.is_set)
        if t0 is None:
            if not self.stopped.is_set():
                self.error = self.locust.why_not_started()
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

    def _buyer_options(self, stack: TargetStack) -> list[str]:
        """Locust's options for an external target: its profile, the cashier, its plugin."""
        assert self.target is not None
        profile = self.target.profile
        path = self.dir / "profile.yaml"
        if isinstance(profile, dict):
            path.write_text(yaml.safe_dump(profile, sort_keys=False, allow_unicode=True))
        elif Path(profile).is_file():
            path.write_text(Path(profile).read_text())
        else:  # a built-in profile, by name
            path = Path(profile)
        return ["--fakalab-profile", str(path), "--fakalab-cashier", stack.cashier,
                *(["--fakalab-plugin", self.target.plugin] if self.target.plugin else [])]

    def _probe(self, stack: TargetStack) -> list[ProbeResult]:
        """The test notifications, before the load (so they neither take from nor wait on it)."""
        assert self.target is not None
        if not self.target.probes.enabled:
            return []
        self.console.print(f"  probes: {', '.join(self.target.probes.kinds)}")
        profile = self.target.buyer_profile()
        plugin = load_plugin(self.target.plugin)
        products = sorted(self.scenario.load.buyers.products,
                          key=lambda p: -self.scenario.load.buyers.products[p])
        results = run_probes(lambda http: ProfileClient(profile, HttpxHttp(http),
                                                        stack.shop_url, plugin),
                             products, stack.gateway_direct, stack.cashier,
                             self.target.probes)
        write_probes(results, self.dir / "probes.csv")
        return results

    def _drain_budget(self) -> float:
        limit = self.options.drain_s
        return min(self.scenario.sla_s, 20.0) if limit is None else limit

    async def _watch(self, t0: float) -> None:
        view = Live(console=self.console, auto_refresh=False) if self.console.is_terminal \
            else None
        async with httpx.AsyncClient(timeout=2) as http:
            with view if view is not None else contextlib.nullcontext():
                await self._loop(http, t0, view)
            if not self.stopped.is_set() and self.error is None:
                await self._drain(http)
            if self.target is None:
                await self.heads.poll(http, self.stack.shop_url)

    async def _loop(self, http: httpx.AsyncClient, t0: float, view: Live | None) -> None:
        assert self.locust is not None
        previous, last, printed = 0, time.monotonic(), -1
        while self.locust.exit_code() is None and not self.stopped.is_set():
            if self.target is not None and time.time() - t0 >= self.scenario.duration:
                return  # the load is over; the buyers still watching are drained
            dead = self.stack.dead_children()
            if dead:
                self.error = f"a process of the stack died: {', '.join(dead)}"
                return
            await asyncio.sleep(1.0)
            snap = await self._snapshot(http, t0, previous, time.monotonic() - last)
            if self.target is None:
                await self.heads.poll(http, self.stack.shop_url)
            previous, last = snap.arrivals, time.monotonic()
            if view is not None:
                view.update(live.render(snap, self.id), refresh=True)
            elif int(snap.elapsed_s) // 15 != printed:  # a plain line every 15 s off a terminal
                printed = int(snap.elapsed_s) // 15
                delivered = "" if snap.delivered is None else f"  delivered {snap.delivered}"
                self.console.print(f"{snap.elapsed_s:4.0f}/{self.scenario.duration:.0f} s  "
                                   f"arrivals {snap.arrivals}  in flight {snap.in_flight}"
                                   f"{delivered}")

    async def _snapshot(self, http: httpx.AsyncClient, t0: float, previous: int,
                        interval: float) -> live.Snapshot:
        assert self.locust is not None
        elapsed = time.time() - t0
        text: str | None = None  # an external target: not observable
        if self.target is None:
            try:
                text = (await http.get(self.stack.shop_url + "/metrics")).text
            except httpx.HTTPError:
                text = ""
        return live.snapshot(elapsed, self.scenario.duration, text, self.locust.summaries(),
                             previous, interval, self.scenario.load.shape.rate(elapsed),
                             self.scenario.sla_s, self.scenario.drill)

    async def _drain(self, http: httpx.AsyncClient) -> None:
        """After the load: give orders in flight a bounded time to finish."""
        deadline = time.monotonic() + self._drain_budget()
        if self.target is not None:
            await self._drain_buyers(deadline)
            return
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

    async def _drain_buyers(self, deadline: float) -> None:
        """Seen from outside, an order is done when its buyer stops watching: wait until every
        generator has dispatched its schedule and no journey is in flight (or the deadline)."""
        assert self.locust is not None
        while time.monotonic() < deadline and not self.stopped.is_set() \
                and self.locust.exit_code() is None:
            summaries = self.locust.summaries()
            if summaries and all(s.get("schedule_done") and not s.get("in_flight")
                                 for s in summaries):
                return
            dead = self.stack.dead_children()
            if dead:
                self.error = f"a process of the stack died: {', '.join(dead)}"
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


def _export(run: _Run, ended: float) -> dict[str, int]:
    """The run directory's tables: from the reference shop's database, or from outside."""
    stack = run.stack
    try:
        if isinstance(stack, Stack):
            if not stack.db_path.exists():
                return {}
            return export_run(run.dir, stack.db_path, run.scenario.sla_s, ended, run.journal)
        if run.locust is None:  # the target never came up: nothing was observed
            return {}
        assert run.target is not None
        return export_outside(run.dir, stack.journal_path, run.target.buyer_profile(),
                              run.scenario.sla_s, ended, run.journal,
                              {p.order_no for p in run.probes if p.order_no})
    except (OSError, ValueError) as exc:
        run.error = run.error or f"export failed: {exc}"
        return {}


def _outside_info(run: _Run) -> dict[str, Any]:
    """What run.json says of an external target: where each figure came from, what it lacks."""
    target = run.target
    if target is None:
        return {"view": "inside"}
    return {"view": "outside", "database": None, "sources": OUTSIDE_SOURCES,
            "unobservable": list(UNOBSERVABLE_OUTSIDE),
            "target": {"name": target.name, "url": getattr(run.stack, "direct_url", ""),
                       "profile": target.profile if isinstance(target.profile, str)
                       else "(inline)", "plugin": target.plugin,
                       "gateway": {"kind": target.gateway.kind, "pid": target.gateway.pid},
                       "dependencies": sorted(target.dependencies),
                       "commands": [c.name for c in target.start]},
            "probes": [p.row() for p in run.probes]}


def finish_run(run: _Run) -> RunResult:
    """Export, judge and describe a run that has stopped (every process is down by now)."""
    ended = getattr(run, "ended_at", time.time())
    counts = _export(run, ended)
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
        mode="json", exclude={"admin_token", "payment_secrets", "upstreams", "db_url",
                              "payment_channel", "epay_url", "epay_pid", "epay_key",
                              "epay_type"}) if run.target is None else dict(run.settings)

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
            audit=audit, extra=_outside_info(run),
            database=getattr(run.stack, "database", None) or {"kind": "sqlite",
                                                                "file": "shop.db"})
        (run.dir / "run.json").write_text(json.dumps(info, indent=1))

    describe(_status(run, verdicts, reasons), {"ran": False, "failed": []})
    audit_failed = _audit(run) if counts else []  # the audit reads the run directory
    status = _status(run, verdicts, reasons)
    if audit_failed and status == OK:
        status = BREACHED  # an invariant broke: the drill fails whatever the SLOs say
    describe(status, {"ran": bool(counts), "failed": audit_failed})
    return RunResult(run.dir, status, verdicts, reasons, run.error, audit_failed)


def _audit(run: _Run) -> list[str]:
    """Names of the invariant checks that failed (audit.json has the offending rows): the
    reference shop's against its database, an external target's from outside."""
    from fakalab.scenarios.audit_cli import AuditError, audit_any

    try:
        return [c.name for c in audit_any(run.dir) if not c.passed]
    except (AuditError, OSError, ValueError, KeyError) as exc:
        run.error = run.error or f"audit failed to run: {exc}"
        return []


def _invalid_reasons(run: _Run) -> list[str]:
    reasons: list[str] = []
    summaries = run.locust.summaries() if run.locust else []
    for summary in summaries:
        reasons += [str(r) for r in summary.get("invalid_reasons", [])]
        if summary.get("dropped"):
            reasons.append(f"{summary['dropped']} arrivals dropped (max_journeys reached)")
        if not summary.get("schedule_done"):  # its last word came before its end: it was lost
            reasons.append(f"generator {summary.get('generator', '?')} (index "
                           f"{summary.get('index')}) stopped reporting before its schedule ended")
    expected = run.locust.processes + run.locust.remote if run.locust and summaries else 0
    if len(summaries) < expected:
        reasons.append(f"only {len(summaries)} of {expected} generators reported arrivals")
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
