"""Admission control in a run: every visitor's try at placing an order meets the shop's door
(``simulate.admission.Door``) at that moment, with the pool's live queue, busy workers and CPU;
a refused buyer acts as the personas do (``scenarios/locust/journeys.py``).

A refused buyer comes back after the Retry-After × U(1, 1.5), unless that was the last of
``busy_retries`` retries, the wait is longer than ``max_wait_s``, or they give up
(``busy_give_up`` of buyers at each refusal). An order let in is created then; its payment is
the one settled for the visitor's first try, shifted to the moment it was let in (the pay time
and callback delay are the buyer's and the channel's; a payment fault active at the first try
but not at the retry, or the reverse, is not followed). Paid orders join the pool's queue when
the shop confirms them. The shop's CPU counts each order where and when it was created (a
refusal's own cost, a few microseconds at the connection, is left out). When the load ends
(the drill's Locust run time) buyers still waiting to retry are stopped, as Locust stops them.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from fakalab.simulate.admission import Door, Health, Log
from fakalab.simulate.cpu import CpuCalendar
from fakalab.simulate.params import Admission
from fakalab.simulate.payment import Payments
from fakalab.simulate.plan import Plan
from fakalab.simulate.results import OrderRecords

if TYPE_CHECKING:
    from fakalab.simulate.workers import Process, _Pool

__all__ = ["DoorCounts", "Doorway", "created_only", "doorway", "shifted"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DoorCounts:
    """What the door did to a run's visitors (the report's ``admission`` figures)."""

    buyers: int  # visitors who tried to place an order
    attempts: int
    refusals: int
    buyers_refused: int  # refused at least once
    buyers_served_after_refusal: int
    buyers_gave_up: int

    def as_dict(self) -> dict[str, int]:
        return {"buyers": self.buyers, "attempts": self.attempts, "refusals": self.refusals,
                "buyers_refused": self.buyers_refused,
                "buyers_served_after_refusal": self.buyers_served_after_refusal,
                "buyers_gave_up": self.buyers_gave_up}


class Doorway:
    """The visitors' tries in time order, each admitted or refused when it happens."""

    def __init__(self, rule: Admission, door: Door, first_try: FloatArray, pay_offset: FloatArray,
                 rng: np.random.Generator, cpu: CpuCalendar | None = None,
                 watch_offset: FloatArray | None = None, until: float = math.inf) -> None:
        self.rule, self.door, self.rng, self.cpu = rule, door, rng, cpu
        self.until = until  # the load's end: journeys still waiting to retry are stopped
        self.first_try = first_try
        self.pay_offset = pay_offset  # shop confirmation − creation (NaN: never paid)
        self.watch_offset = watch_offset  # when the buyer starts watching − creation
        n = len(first_try)
        self.created = np.full(n, np.nan)
        self.tries = np.zeros(n, dtype=np.int64)
        self.refused = np.zeros(n, dtype=np.int64)
        self.gave_up = np.zeros(n, dtype=bool)

    def planned(self, plan: Plan, blocking: Sequence[int]) -> None:
        first = max(plan.resume, 0)
        for offset, (start, end) in enumerate(zip(plan.starts, plan.ends, strict=True)):
            k = first + offset
            if k in blocking and k != plan.held and end == end:
                self.door.stage_ends(end, blocking.index(k), end - start)
        if plan.delivered_at == plan.delivered_at:
            self.door.leaves(plan.delivered_at)
        elif plan.failed_stage >= 0:
            self.door.leaves(plan.ends[plan.failed_stage - first])

    def arrivals(self, pool: _Pool) -> Process:
        env = pool.env
        tries = [(float(t), i) for i, t in enumerate(self.first_try) if math.isfinite(t)]
        heapq.heapify(tries)
        while tries:
            at, i = heapq.heappop(tries)
            if at > self.until:
                return
            if at > env.now:
                yield env.timeout(at - env.now)
            now = env.now
            self.tries[i] += 1
            share = self.cpu.busy_share(now) if self.cpu is not None else 0.0
            retry = self.door.check(now, pool.queue.waiting, pool.busy, share)
            if retry is None:
                self._admit(pool, i, now)
                continue
            self.refused[i] += 1
            delay = retry * self.rng.uniform(1.0, 1.5)
            if self.tries[i] > self.rule.busy_retries or delay > self.rule.max_wait_s \
                    or self.rng.random() < self.rule.busy_give_up:
                self.gave_up[i] = True
                if self.cpu is not None:
                    self.cpu.moved(self.first_try[i], None, self._watch(i, self.first_try[i]),
                                   None)
                continue
            heapq.heappush(tries, (now + delay, i))

    def _watch(self, i: int, created: float) -> float | None:
        if self.watch_offset is None or not math.isfinite(self.watch_offset[i]):
            return None
        return created + float(self.watch_offset[i])

    def _admit(self, pool: _Pool, i: int, now: float) -> None:
        self.created[i] = now
        offset = float(self.pay_offset[i])
        first = float(self.first_try[i])
        if self.cpu is not None and now != first:
            self.cpu.moved(first, now, self._watch(i, first), self._watch(i, now))
        if not math.isfinite(offset):
            self.door.admitted(now, None, now + self.rule.order_ttl_s)
            return
        paid_at = now + offset
        pool.inputs.paid_at[i] = paid_at
        self.door.admitted(now, paid_at, None)
        pool.env.timeout(offset).callbacks.append(lambda _: pool.enqueue(i))

    def counts(self) -> DoorCounts:
        tried = self.tries > 0
        refused = self.refused > 0
        return DoorCounts(
            buyers=int(tried.sum()), attempts=int(self.tries.sum()),
            refusals=int(self.refused.sum()), buyers_refused=int(refused.sum()),
            buyers_served_after_refusal=int((refused & np.isfinite(self.created)).sum()),
            buyers_gave_up=int(self.gave_up.sum()))


def doorway(rule: Admission, workers: int, blocking: int, created: FloatArray,
            payments: Payments, rng: np.random.Generator, *, cpu: CpuCalendar | None = None,
            logs: Mapping[str, Log] | None = None, slow_s: float = 0.5,
            until: float | None = None) -> Doorway:
    """The door of one run: each visitor's first try at ``created``; payments as settled for
    it (``payments``), shifted to when the order is let in."""
    health = {name: Health(log, slow_s) for name, log in (logs or {}).items()}
    door = Door(rule.budget_s, workers, blocking, health)
    watching = np.fmin(payments.paid_at, payments.paid_click_at) - created
    return Doorway(rule, door, created, payments.paid_at - created, rng, cpu, watching,
                   math.inf if until is None else until)


def shifted(payments: Payments, first_try: FloatArray, created: FloatArray) -> Payments:
    """The payments of the orders let in, moved with their creation (NaN: never created)."""
    shift = created - first_try
    admitted = np.isfinite(created)
    return Payments(payments.paid & admitted, payments.paid_click_at + shift,
                    payments.paid_at + shift, payments.channel, payments.confirmed_by)


def created_only(records: OrderRecords) -> OrderRecords:
    """The records of the orders that were created (the door let them in)."""
    keep = np.isfinite(records.created_at)
    if keep.all():
        return records
    fields = {f.name: getattr(records, f.name) for f in dataclasses.fields(records)}
    return OrderRecords(**{name: value if name == "stage_names" else value[keep]
                           for name, value in fields.items()})
