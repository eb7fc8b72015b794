"""Running a drill plan: gate, timeline of faults with safeguards, rollback, verdict.

    runner = PlanRunner(plan, ToxiproxyClient(url), {"payment-a": "http://127.0.0.1:9101"})
    journal = await runner.run()            # or run(start_at=epoch) to align with other work

Order: the steady-state hypothesis is checked first (nothing is injected if it fails); then each
fault is applied at `start` and removed at `start + duration`, relative to the run's start —
each fault on its own schedule, so a slow restart delays no other, and actions on one link
taking turns — while safeguards re-check the hypothesis every `interval` and abort after
`max_failures` failures in a row; every fault still active is removed in `finally`; the
hypothesis is checked again (`deviated` when it fails). A detached watchdog removes the faults
at the deadline should this process die. `interrupt()` (or cancelling the task) stops the run
with status `interrupted`; a cancelled `run()` re-raises CancelledError after the rollback, and
`runner.journal` holds the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import subprocess
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from fakalab.chaos import watchdog
from fakalab.chaos.faults import (
    FaultInjector,
    ProcessControl,
    ToxiproxyApi,
    preflight_problems,
    toxic_name,
)
from fakalab.chaos.journal import Activity, FaultRecord, Journal, SteadyStateRecord
from fakalab.chaos.plan import FaultSpec, Plan
from fakalab.chaos.probes import run_probe

__all__ = ["Clock", "PlanRunner", "SystemClock"]


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep_until(self, at: float) -> None: ...


class SystemClock:
    """Epoch seconds (time.time) and asyncio sleeps."""

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, at: float) -> None:
        delay = at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass
class _Record:
    """Append-only lists of immutable records, turned into a Journal at the end."""

    before: SteadyStateRecord | None = None
    after: SteadyStateRecord | None = None
    during: list[SteadyStateRecord] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    rollbacks: list[Activity] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)


def _fault_record(fault: FaultSpec, started: float, ended: float | None) -> FaultRecord:
    return FaultRecord(fault.id, fault.link, fault.kind, dict(fault.fault.attributes),
                       fault.toxicity, started, ended)


async def _settle(task: asyncio.Future[Any]) -> bool:
    """Wait for `task` to finish even if we are cancelled meanwhile (an injection in flight must
    be known before the rollback runs); return whether we were cancelled."""
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            await asyncio.wait([task])
        return True
    except Exception:  # the task's own failure: read by _outcome
        pass
    return False


def _outcome(task: asyncio.Future[Any]) -> tuple[Any, str | None]:
    """(output, None) or (None, "Error: message") of a finished fault action."""
    if task.cancelled():
        return None, "CancelledError: the action was cancelled"
    exc = task.exception()
    if exc is not None:
        return None, f"{type(exc).__name__}: {exc}"
    return task.result(), None


class PlanRunner:
    def __init__(
        self,
        plan: Plan,
        toxiproxy: ToxiproxyApi,
        upstream_admin_urls: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        *,
        use_watchdog: bool = True,
        http: httpx.AsyncClient | None = None,
        processes: ProcessControl | None = None,
    ) -> None:
        self.plan = plan
        self.toxiproxy = toxiproxy
        self.admin_urls = {**plan.upstreams, **(upstream_admin_urls or {})}
        self.clock = clock or SystemClock()
        self.use_watchdog = use_watchdog
        self.http = http
        self.processes = processes
        self.journal: Journal | None = None
        self._interrupt: asyncio.Event | None = None
        self._active: dict[str, tuple[FaultSpec, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._record = _Record()
        self._watchdog: subprocess.Popen[bytes] | None = None
        self.tag = secrets.token_hex(3)  # names this run's toxics (chaos.faults.toxic_name)

    def interrupt(self) -> None:
        """Stop the run at once; it rolls back and ends with status `interrupted`."""
        if self._interrupt is not None:
            self._interrupt.set()

    async def preflight(self) -> list[str]:
        """Problems that would stop the plan (missing proxies or admin URLs); [] when none."""
        needs_proxies = any(f.fault.kind in ("toxic", "down") and not f.false_alarm
                            for f in self.plan.faults)
        proxies = await asyncio.to_thread(self.toxiproxy.proxies) if needs_proxies else {}
        killable = self.processes.killable() if self.processes is not None else None
        return preflight_problems(self.plan, proxies, self.admin_urls, killable)

    async def run(self, start_at: float | None = None) -> Journal:
        self._interrupt = asyncio.Event()
        self._record, self._active = _Record(), {}
        started, status, cancelled = self.clock.now(), "failed", False
        async with self._client() as http:
            injector = FaultInjector(self.toxiproxy, self.admin_urls, http, self.processes,
                                     tag=self.tag)
            try:
                status = await self._execute(http, injector, start_at)
            except asyncio.CancelledError:
                status, cancelled = "interrupted", True
            finally:
                await self._rollback(injector)
            if status == "completed":
                self._record.after = await self._steady(http)
        self.journal = self._journal(status, started)
        if cancelled:
            raise asyncio.CancelledError
        return self.journal

    @contextlib.asynccontextmanager
    async def _client(self) -> Any:
        if self.http is not None:
            yield self.http
            return
        async with httpx.AsyncClient() as http:
            yield http

    async def _execute(
        self, http: httpx.AsyncClient, injector: FaultInjector, start_at: float | None
    ) -> str:
        self._record.before = await self._steady(http)
        if not self._record.before.met:
            return "failed"
        if not await self._preflight_ok():
            return "failed"
        assert self._interrupt is not None
        if self._interrupt.is_set():
            return "interrupted"
        t0 = self.clock.now() if start_at is None else start_at
        await self._spawn_watchdog(t0)
        tasks = {
            asyncio.create_task(self._timeline(t0, injector), name="timeline"),
            asyncio.create_task(self._safeguards(http), name="safeguards"),
            asyncio.create_task(self._wait_interrupt(), name="interrupt"),
        }
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            return str(done.pop().result())
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _wait_interrupt(self) -> str:
        assert self._interrupt is not None
        await self._interrupt.wait()
        return "interrupted"

    async def _spawn_watchdog(self, t0: float) -> None:
        if not self.use_watchdog:
            return
        deadline = t0 + self.plan.end + self.plan.rollback_grace
        url = getattr(self.toxiproxy, "url", None)
        business = {f.service for f in self.plan.faults
                    if f.fault.kind == "business" or f.announced}
        urls = [self.admin_urls[s] for s in sorted(business) if s in self.admin_urls]
        seen = await asyncio.gather(*(asyncio.to_thread(watchdog.instance_of, u) for u in urls))
        instances = {u: i for u, i in zip(urls, seen, strict=True) if i is not None}
        spec = watchdog.spec_for(self.plan, url, self.admin_urls, deadline,
                                 lambda fault: toxic_name(fault, self.tag), instances)
        self._watchdog = watchdog.spawn(spec)

    def dismiss_watchdog(self) -> None:
        """The caller has stopped the processes the faults were on (and with them the faults):
        nothing is left for the watchdog to undo."""
        watchdog.cancel(self._watchdog)
        self._watchdog = None

    async def _preflight_ok(self) -> bool:
        start = time.time()
        try:
            problems = await self.preflight()
        except Exception as exc:  # the server's own error, recorded in the journal
            problems = [f"{type(exc).__name__}: {exc}"]
        self._record.activities.append(Activity(
            "probe", "preflight", None, None, start, time.time(),
            "failed" if problems else "succeeded", problems or None,
            "; ".join(problems) or None,
        ))
        return not problems

    async def _timeline(self, t0: float, injector: FaultInjector) -> str:
        """Each fault on its own schedule, concurrently: a slow action (a restart waiting for
        readiness) delays nothing but its own fault. The first failed injection fails the run
        (the others are stopped, then rolled back)."""
        tasks = [asyncio.ensure_future(self._one_fault(t0, fault, injector))
                 for fault in sorted(self.plan.faults, key=lambda f: f.start)]
        try:
            for finished in asyncio.as_completed(tasks):
                if not await finished:
                    return "failed"
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return "completed"

    async def _one_fault(self, t0: float, fault: FaultSpec, injector: FaultInjector) -> bool:
        # actions on one link take turns: removing a fault must see the others on its link
        # that are active (a proxy stays down while another `down` on it lasts)
        lock = self._locks.setdefault(fault.link, asyncio.Lock())
        await self.clock.sleep_until(t0 + fault.start)
        async with lock:
            if not await self._inject(fault, injector):
                return False
        if fault.announced and fault.announce_after:
            await self.clock.sleep_until(t0 + fault.start + fault.announce_after)
            async with lock:
                if fault.id in self._active and not await self._announce(fault, injector):
                    return False
        await self.clock.sleep_until(t0 + fault.end)
        async with lock:
            if fault.id in self._active:
                await self._remove(fault, injector, self._record.activities)
        return True

    async def _inject(self, fault: FaultSpec, injector: FaultInjector) -> bool:
        return await self._action("inject", fault, injector.inject(fault))

    async def _announce(self, fault: FaultSpec, injector: FaultInjector) -> bool:
        """A lagging provider's announcement (`announce_after`), journaled as its own action."""
        return await self._action("announce", fault, injector.announce(fault))

    async def _action(self, verb: str, fault: FaultSpec,
                      call: Coroutine[Any, Any, Any]) -> bool:
        """Run one action on a fault to its end (a cancellation waits for it, then goes on),
        journal it; whether it succeeded. A fault injected is active from then on."""
        start = time.time()
        task = asyncio.ensure_future(call)
        cancelled = await _settle(task)
        output, error = _outcome(task)
        if error is None and verb == "inject":
            self._active[fault.id] = (fault, self.clock.now())
        self._record.activities.append(Activity(
            "action", f"{verb} {fault.id}", fault.link, fault.fault.model_dump(), start,
            time.time(), "failed" if error else "succeeded", output, error,
        ))
        if cancelled:
            raise asyncio.CancelledError
        return error is None

    async def _remove(self, fault: FaultSpec, injector: FaultInjector, log: list[Activity]) -> None:
        start = time.time()
        _, started = self._active[fault.id]
        others = [spec for spec, _ in self._active.values()]
        task = asyncio.ensure_future(injector.remove(fault, others))
        cancelled = await _settle(task)
        output, error = _outcome(task)
        if error is None:
            del self._active[fault.id]
            self._record.faults.append(_fault_record(fault, started, self.clock.now()))
        verb = "rollback" if log is self._record.rollbacks else "remove"
        log.append(Activity(
            "action", f"{verb} {fault.id}", fault.link, fault.fault.model_dump(), start,
            time.time(), "failed" if error else "succeeded", output, error,
        ))
        if cancelled:
            raise asyncio.CancelledError

    async def _rollback(self, injector: FaultInjector) -> None:
        for fault, _ in list(self._active.values()):
            await self._remove(fault, injector, self._record.rollbacks)
        for fault, started in list(self._active.values()):  # could not be removed
            self._record.faults.append(_fault_record(fault, started, None))
        if not self._active:
            watchdog.cancel(self._watchdog)
            self._watchdog = None

    async def _safeguards(self, http: httpx.AsyncClient) -> str:
        steady = self.plan.steady_state
        failures = 0
        if not steady.probes:
            await asyncio.Event().wait()  # nothing to guard: wait to be cancelled
        while failures < steady.max_failures:
            await self.clock.sleep_until(self.clock.now() + steady.interval)
            check = await self._steady(http)
            self._record.during.append(check)
            failures = 0 if check.met else failures + 1
        return "aborted"

    async def _steady(self, http: httpx.AsyncClient) -> SteadyStateRecord:
        probes = self.plan.steady_state.probes
        results = await asyncio.gather(*(run_probe(probe, http) for probe in probes))
        return SteadyStateRecord.of(tuple(results), time.time())

    def _journal(self, status: str, started: float) -> Journal:
        record = self._record
        after = record.after
        return Journal(
            self.plan.title, self.plan.model_dump(mode="json"), status,
            after is not None and not after.met, started, self.clock.now(), record.before,
            tuple(record.during), after,
            tuple(sorted(record.activities, key=lambda a: a.start)), tuple(record.rollbacks),
            tuple(sorted(record.faults, key=lambda f: (f.started_at, f.fault_id))),
        )
