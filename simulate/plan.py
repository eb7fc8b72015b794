"""An order's pass through the stages, worked out when a worker takes it (pure; no SimPy).

Nothing interrupts a worker and faults are windows in time, so every attempt's start is known
as soon as a worker takes an order: ``Planner.plan`` works out the whole pass at once. What
another worker's calls can change — an attempt near a fault of its upstream, whose breaker
counts every worker's failures — ``Planner.steps`` works out step by step: it yields each such
attempt's moment, and the worker (``simulate.workers``) sleeps until then first. A pass
ends when the order's work ends, when a stage that blocks delivery runs out of attempts (the
order is parked: ``needs_attention``), or when such a stage ``holds`` and the order was paid
less than ``hold_s`` ago: the worker is then free at the failure and the order is queued again
(the pool's business) to resume that stage from scratch, with fresh attempts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fakalab.simulate.calls import CHAIN_DEFINITIVE, CHAIN_OK, CHAIN_REVIEW, Calls, Steps, run_steps
from fakalab.simulate.cpu import CpuCalendar
from fakalab.simulate.delay_risk import ActingRisk
from fakalab.simulate.faults import FaultSchedule
from fakalab.simulate.params import Stage

__all__ = ["HoldDraws", "Plan", "Planner", "RetryDraws"]

BLOCK = 1024


class RetryDraws:
    """Buffered (service, failure uniform, backoff jitter) draws for retried attempts."""

    BLOCK = BLOCK

    def __init__(self, stage: Stage, rng: np.random.Generator) -> None:
        self.stage, self.rng = stage, rng
        self._buffer: list[tuple[float, float, float]] = []

    def next(self) -> tuple[float, float, float]:
        if not self._buffer:
            services = self.stage.service.sample(self.rng, self.BLOCK)
            uniforms = self.rng.random(self.BLOCK)
            jitters = self.rng.uniform(0.5, 1.5, self.BLOCK)
            self._buffer = list(zip(services, uniforms, jitters, strict=True))[::-1]
        return self._buffer.pop()


class HoldDraws:
    """Buffered U[0.5, 1.5) jitters of the hold delay, from their own stream (nothing is drawn
    in a run where no order is held, so such a run matches one without holds exactly)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self._buffer: list[float] = []

    def next(self) -> float:
        if not self._buffer:
            self._buffer = self.rng.uniform(0.5, 1.5, BLOCK).tolist()[::-1]
        return self._buffer.pop()


@dataclass
class Plan:
    """One pass: each stage's start and end from stage ``resume`` (−1: a first pass, from
    stage 0), delivery (NaN: not in this pass), the stage that parked the order (−1: none), the
    end of the worker's work, and the stage held at that end (−1: none)."""

    starts: list[float]
    ends: list[float]
    delivered_at: float
    failed_stage: int
    end: float
    resume: int = -1
    held: int = -1
    review: bool = False  # parked as needs_review (the risk service said "review")


def _done(plan: Plan) -> Steps[Plan]:
    """A pass with nothing to wait for, as steps."""
    return plan
    yield  # a generator that yields nothing


class Planner:
    """Works out passes for the orders of one run, from their first-attempt draws."""

    def __init__(
        self,
        stages: Sequence[Stage],
        first_service: Sequence[Sequence[float]],
        first_uniform: Sequence[Sequence[float]],
        paid_at: Sequence[float],
        faults: FaultSchedule,
        retries: Sequence[RetryDraws],
        hold_s: float,
        calls: Calls | None = None,
        cpu: CpuCalendar | None = None,
        supplier: Sequence[bool] | None = None,
        risk: ActingRisk | None = None,
    ) -> None:
        self.stages, self.faults, self.retries = stages, faults, retries
        self.risk = risk  # the delay-risk model acting (``simulate.delay_risk``)
        self.first_service, self.first_uniform = first_service, first_uniform
        self.paid_at, self.hold_s = paid_at, hold_s
        self.calls, self.cpu, self.supplier = calls, cpu, supplier
        self.shop_style = [cpu is not None or bool(stage.upstreams) for stage in stages]
        if any(stage.upstreams for stage in stages) and calls is None:
            raise ValueError("stages with upstreams need the run's calls")
        self.faulted = [faults.affects(stage.name) for stage in stages]
        self.last_blocking = max(k for k, s in enumerate(stages) if s.blocks_delivery)
        self.stage_info = [
            (
                k,
                stage,
                first_service[k],
                first_uniform[k],
                -math.inf if self.faulted[k] else (stage.timeout_s or math.inf),
                stage.failure_prob,
            )
            for k, stage in enumerate(stages)
        ]

    def plan(self, i: int, t: float, resume: int = -1) -> Plan:
        """Order ``i``'s pass when a worker takes it at ``t`` (resuming stage ``resume``),
        worked out at once."""
        if self.cpu is not None or self.calls is not None:
            return run_steps(self.shop_steps(i, t, resume))
        return self.simple_plan(i, t, resume)  # the hot path of plain pipelines: no generator

    def steps(self, i: int, t: float, resume: int = -1) -> Steps[Plan]:
        """Order ``i``'s pass step by step: a shop-style pass yields the moments of the calls
        other workers' calls can change (``Calls.call_steps``), so a worker that waits until
        each has let every earlier attempt be worked out first."""
        if self.cpu is not None or self.calls is not None:
            return self.shop_steps(i, t, resume)
        return _done(self.simple_plan(i, t, resume))

    def simple_plan(self, i: int, t: float, resume: int = -1) -> Plan:
        """A pass of a pipeline without upstreams or CPU: stage services, faults, retries."""
        starts: list[float] = []
        ends: list[float] = []
        delivered_at, failed, held = math.nan, -1, -1
        stage_info = self.stage_info if resume < 0 else self.stage_info[resume:]
        for k, stage, services, uniforms, fast_limit, failure in stage_info:
            starts.append(t)
            service = services[i]
            if service < fast_limit and uniforms[i] >= failure and k != resume:
                t += service  # the common case: one attempt, no fault, no timeout, no failure
                done = True
            else:
                t, done = self.attempts(k, stage, i, t, fresh=k == resume)
            ends.append(t)
            if not done and stage.blocks_delivery:
                if stage.holds and t - self.paid_at[i] < self.hold_s:
                    held = k
                else:
                    failed = k
                break
            if k == self.last_blocking:
                delivered_at = t
        return Plan(starts, ends, delivered_at, failed, t, resume, held)

    def attempts(
        self, k: int, stage: Stage, i: int, t: float, fresh: bool = False
    ) -> tuple[float, bool]:
        """When stage ``k`` of order ``i`` ends if started at ``t``, and whether it succeeded.
        ``fresh``: the stage is tried again after a hold, so even its first attempt draws anew.
        """
        service, uniform = self.first_service[k][i], self.first_uniform[k][i]
        for attempt in range(stage.attempts):
            if attempt:
                service, uniform, jitter = self.retries[k].next()
                t += min(stage.backoff_max_s, stage.backoff_s * 2 ** (attempt - 1)) * jitter
            elif fresh:
                service, uniform, _ = self.retries[k].next()
            failure = stage.failure_prob
            if self.faulted[k]:
                factor, added, failure = self.faults.at(stage.name, t, failure)
                service = service * factor + added
            if stage.timeout_s is not None and service > stage.timeout_s:
                t += stage.timeout_s
                continue
            t += service
            if uniform >= failure:
                return t, True
        return t, False

    def shop_steps(self, i: int, t: float, resume: int = -1) -> Steps[Plan]:
        """A pass the shop's way: each stage's own work on the CPU calendar (its write), then its
        call through the chain of upstreams (``simulate.calls``); the outcome of the chain
        decides: held (transient, within ``hold_s`` of payment, on a holding stage), parked
        (``needs_attention``: transient too late, or a definitive refusal) or ``needs_review``.
        Steps end with delivery: what follows it is worked out at once, so a pass never waits
        past its delivery."""
        now = t
        starts: list[float] = []
        ends: list[float] = []
        delivered_at, failed, held, review = math.nan, -1, -1, False
        stage_info = self.stage_info if resume < 0 else self.stage_info[resume:]
        cpu, calls, risk = self.cpu, self.calls, self.risk
        allocation_at = t
        for k, stage, services, _, _, _ in stage_info:
            starts.append(t)
            if stage.call_for == "supplier":
                allocation_at = t
            work = self.retries[k].next()[0] if k == resume else services[i]
            if self.faulted[k]:
                factor, added, _ = self.faults.at(stage.name, t, 0.0)
                work = work * factor + added
            t = t + work if cpu is None else cpu.reserve(t, work, now)
            outcome = CHAIN_OK
            if stage.upstreams and (stage.call_for == "all" or (
                    self.supplier is not None and self.supplier[i])):
                assert calls is not None
                prefer = risk.prefer(i) if risk is not None and stage.call_for == "supplier" \
                    else None
                steps = calls.chain_steps(stage, t, prefer)
                if k > self.last_blocking:
                    t, outcome = run_steps(steps)
                else:
                    t, outcome = yield from steps
            ends.append(t)
            if outcome != CHAIN_OK and stage.blocks_delivery:
                if outcome == CHAIN_REVIEW:
                    failed, review = k, True
                elif (outcome != CHAIN_DEFINITIVE and stage.holds
                      and t - self.paid_at[i] < self.hold_s):
                    held = k
                else:
                    failed = k
                break
            if k == self.last_blocking:
                delivered_at = t
                if cpu is not None:
                    cpu.delivered(t)
                if risk is not None:
                    risk.delivered(now, allocation_at, t)
        return Plan(starts, ends, delivered_at, failed, t, resume, held, review)
