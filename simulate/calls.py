"""Calls to the shop's upstreams, as the shop makes them (pure; no SimPy).

Mirrors ``reference_shop/upstream.py`` and ``reference_shop/breaker.py`` line by line:

- ``Upstream.call``: up to ``retries`` attempts; before attempt k ≥ 1 a full-jitter backoff
  U[0, min(backoff_max_s, backoff_base_s · 2^k)] (``jittered_backoff``); before *every* attempt
  the breaker is asked (``breaker.allow``) and a refusal raises at once, costing nothing; an
  attempt that times out (``timeout_s``), cannot connect or is answered 5xx is a failure, which
  the breaker records; any other answer (2xx, or the supplier's 409) ends the call and is a
  success for the breaker.
- ``Breaker``: closed → open after ``breaker_threshold`` consecutive failures; open → half open
  once ``breaker_cooldown_s`` has passed, when ``allow`` lets one trial through; a success
  closes it, a failure opens it again.
- ``call_with_failover``: each upstream of the chain in turn; the first accepted answer wins; a
  definitive refusal of every one (409) is not transient (the order is parked), anything else is
  (the order is held).
- ``supplier_chain`` (``reference_shop/fulfilment.py``): with failover, supplier B first while
  A's breaker is refusing calls (``Breaker.refusing``, which asks without taking the half-open
  trial) or A has announced an outage that B has not (``announced``, ``provider_signals``).

A worker's calls are steps (``call_steps``, ``chain_steps``): before an attempt that other
calls can change (``settled``: near a fault of its upstream, or a breaker that has counted
failures) the steps yield its moment, and the worker sleeps until then, so every attempt that
starts earlier, by any worker, has been worked out and recorded. Each breaker applies the
outcomes recorded up to the moment it is asked (``_pending``), not those that end later.
Payments are settled outside the pool, one order after another (``call``, ``run_steps``).
"""

from __future__ import annotations

import bisect
import heapq
import math
from array import array
from collections import deque
from collections.abc import Callable, Generator, Sequence
from typing import TypeVar, cast

import numpy as np
import numpy.typing as npt

from fakalab.simulate.announcements import Announced
from fakalab.simulate.params import Stage, Upstream, UpstreamFault

__all__ = ["BREAKER_REFUSED", "FAILED", "OK", "REFUSED", "REVIEW", "BreakerModel", "Calls",
           "Steps", "full_jitter", "health_penalty", "run_steps"]

# outcomes of an attempt, a call and a chain
OK, FAILED, REFUSED, REVIEW, BREAKER_REFUSED = 0, 1, 2, 3, 4
# what a chain means for the order
CHAIN_OK, CHAIN_TRANSIENT, CHAIN_DEFINITIVE, CHAIN_REVIEW = 0, 1, 2, 3
CLOSED, OPEN, HALF_OPEN = 0, 1, 2
_CODES = {CLOSED: 0.0, HALF_OPEN: 0.5, OPEN: 1.0}
BLOCK = 1024
T = TypeVar("T")
# a call or pass worked out step by step: yields the moments it must not be worked out
# before (``Calls.call_steps``), returns its outcome
Steps = Generator[float, None, T]


class BreakerModel:
    """``reference_shop.breaker.Breaker`` with its clock passed in, plus outcomes recorded for
    a later moment (``record`` at ``now`` takes effect for ``allow`` calls at or after it).

    A call's attempts are worked out at once, so the breaker is asked at a retry's moment
    before calls that start earlier are worked out. Asked about a moment before the latest it
    has applied outcomes up to, it answers from its state at that moment (``_history``) and
    changes nothing: a later outcome never opens the breaker for an earlier call."""

    __slots__ = (
        "_history",
        "_now",
        "_pending",
        "_seq",
        "cooldown_s",
        "enabled",
        "failures",
        "opened_at",
        "state",
        "threshold",
        "trial_out",
    )

    def __init__(self, threshold: int = 5, cooldown_s: float = 5.0, enabled: bool = True) -> None:
        self.threshold, self.cooldown_s, self.enabled = threshold, cooldown_s, enabled
        self.state, self.failures, self.opened_at, self.trial_out = CLOSED, 0, 0.0, False
        self._pending: list[tuple[float, int, bool]] = []
        self._seq = 0
        self._now = -math.inf  # the latest moment applied
        # (moment, state, opened_at, trial_out) after each change, in order of moment
        self._history: list[tuple[float, int, float, bool]] = []

    def allow(self, now: float) -> bool:
        if not self.enabled:
            return True
        if self._catch_up(now):
            state, opened_at, trial_out = self._at(now)
            if state == OPEN:
                return now - opened_at >= self.cooldown_s
            return state == CLOSED or not trial_out
        if self.state == CLOSED:
            return True
        if self.state == OPEN and now - self.opened_at >= self.cooldown_s:
            self.state, self.trial_out = HALF_OPEN, False
            self._changed(now)
        if self.state == HALF_OPEN and not self.trial_out:
            self.trial_out = True
            self._changed(now)
            return True
        return False

    def refusing(self, now: float) -> bool:
        """``Breaker.refusing``: would a call be refused at ``now``? Asks without taking the
        half-open trial (choosing a failover order must not use up the call that could close
        the breaker)."""
        if not self.enabled:
            return False
        state, opened_at, trial_out = (self._at(now) if self._catch_up(now)
                                       else (self.state, self.opened_at, self.trial_out))
        if state == CLOSED:
            return False
        if state == OPEN:
            return now - opened_at < self.cooldown_s
        return trial_out

    def code(self, now: float) -> float:
        """The delay-risk feature of the breaker at ``now``: 0 closed, 0.5 half open, 1 open."""
        state = self._at(now)[0] if self._catch_up(now) else self.state
        return _CODES[state]

    def record(self, ok: bool, now: float) -> None:
        self._seq += 1
        heapq.heappush(self._pending, (now, self._seq, ok))

    def _catch_up(self, now: float) -> bool:
        """Apply the outcomes recorded up to ``now``; True when ``now`` is before a moment
        already applied (then answer from ``_at``)."""
        pending = self._pending
        while pending and pending[0][0] <= now:
            at, _, ok = heapq.heappop(pending)
            self._apply(ok, at)
        if now < self._now:
            return True
        self._now = now
        return False

    def _at(self, now: float) -> tuple[int, float, bool]:
        """(state, opened_at, trial_out) as they were at ``now``."""
        history = self._history
        k = bisect.bisect_right(history, now, key=lambda h: h[0])
        if not k:
            return CLOSED, 0.0, False
        _, state, opened_at, trial_out = history[k - 1]
        return state, opened_at, trial_out

    def _changed(self, now: float) -> None:
        moment = max(now, self._history[-1][0]) if self._history else now
        self._history.append((moment, self.state, self.opened_at, self.trial_out))

    def _apply(self, ok: bool, now: float) -> None:
        before = (self.state, self.opened_at, self.trial_out)
        if ok:
            self.failures, self.state = 0, CLOSED
        else:
            self.failures += 1
            if self.state == HALF_OPEN or self.failures >= self.threshold:
                if self.enabled:
                    self.state = OPEN
                self.opened_at = now
                self.trial_out = False
        if (self.state, self.opened_at, self.trial_out) != before:
            self._changed(now)


def run_steps(steps: Steps[T]) -> T:
    """Work out ``steps`` at once, not waiting for the moments it yields (outside a
    simulation, or where nothing else runs meanwhile)."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return cast(T, done.value)


def _merged(windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Overlapping (start, end) windows joined, by start."""
    out: list[tuple[float, float]] = []
    for start, end in sorted(windows):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def full_jitter(attempt: int, base: float, cap: float, uniform: float) -> float:
    """``jittered_backoff``: U[0, min(cap, base · 2^attempt)], from a uniform draw in [0, 1)."""
    return uniform * min(cap, base * 2**attempt)


class _Draws:
    """Buffered draws for one upstream: base latencies and uniforms."""

    __slots__ = ("_latencies", "_uniforms", "latency", "rng")

    def __init__(self, upstream: Upstream, rng: np.random.Generator) -> None:
        self.latency, self.rng = upstream.latency, rng
        self._latencies: list[float] = []
        self._uniforms: list[float] = []

    def base(self) -> float:
        if not self._latencies:
            self._latencies = self.latency.sample(self.rng, BLOCK).tolist()
        return self._latencies.pop()

    def uniform(self) -> float:
        if not self._uniforms:
            self._uniforms = self.rng.random(BLOCK).tolist()
        return self._uniforms.pop()


class Calls:
    """The upstreams of one run: their breakers, faults and random draws."""

    def __init__(
        self,
        upstreams: Sequence[Upstream],
        faults: Sequence[UpstreamFault],
        rngs: dict[str, np.random.Generator],
        track_health: Sequence[str] = (),
        log_health: Sequence[str] = (),
        speed: float = 1.0,
        announced: Announced | None = None,
    ) -> None:
        self.upstreams = {u.name: u for u in upstreams}
        self.announced = announced or Announced()
        self.speed = speed  # the machine's speed: base latencies are divided by it
        self.track = frozenset(track_health)
        # every attempt's (end, latency, failed) of these upstreams, for the status page's
        # health afterwards (``health_penalty``)
        self.log = {name: (array("d"), array("d"), array("b")) for name in log_health
                    if name in self.upstreams}
        self.breakers = {
            u.name: BreakerModel(u.breaker_threshold, u.breaker_cooldown_s, u.breaker)
            for u in upstreams
        }
        self.faults: dict[str, list[UpstreamFault]] = {u.name: [] for u in upstreams}
        for fault in sorted(faults, key=lambda f: f.start_s):
            self.faults[fault.target].append(fault)
        # faults by start, and the longest one, to find the active ones by bisection
        self._starts = {name: [f.start_s for f in fs] for name, fs in self.faults.items()}
        self._longest = {name: max((f.end_s - f.start_s for f in fs), default=0.0)
                         for name, fs in self.faults.items()}
        # where another call can change an attempt's fate (``settled``): each fault's window
        # (merged), widened by a call's longest span plus the breaker's cooldown
        self._windows = {name: _merged([(f.start_s, f.end_s) for f in fs])
                         for name, fs in self.faults.items()}
        self._reach = {u.name: u.retries * (u.timeout_s + u.backoff_max_s) + u.breaker_cooldown_s
                       for u in upstreams}
        self.draws = {u.name: _Draws(u, rngs[u.name]) for u in upstreams}
        self.attempts = dict.fromkeys(self.upstreams, 0)
        self.failures = dict.fromkeys(self.upstreams, 0)
        # ``ComponentHealth``: (end, latency) of every attempt, for the mean over a window
        # (end, latency, failed) of every attempt, for the mean and error rate over a window
        self.samples: dict[str, deque[tuple[float, float, int]]] = {
            u: deque() for u in self.upstreams}
        self._ahead: dict[str, list[tuple[float, float, int]]] = {u: [] for u in self.upstreams}
        self._sums = dict.fromkeys(self.upstreams, 0.0)
        self._failed = dict.fromkeys(self.upstreams, 0)

    def _window(self, name: str, now: float, window_s: float) -> int:
        """Bring ``name``'s window to ``now``: the attempts that ended in the last
        ``window_s`` (an attempt planned to end later is not seen yet); their count."""
        samples, ahead = self.samples[name], self._ahead[name]
        while ahead and ahead[0][0] <= now:
            sample = heapq.heappop(ahead)
            samples.append(sample)
            self._sums[name] += sample[1]
            self._failed[name] += sample[2]
        while samples and samples[0][0] < now - window_s:
            _, latency, failed = samples.popleft()
            self._sums[name] -= latency
            self._failed[name] -= failed
        return len(samples)

    def mean_latency_s(self, name: str, now: float, window_s: float) -> float:
        """``ComponentHealth.mean_latency_ms`` (in seconds): the mean latency of the attempts
        that ended in the last ``window_s`` (0 when there were none)."""
        count = self._window(name, now, window_s)
        return self._sums[name] / count if count else 0.0

    def health(self, name: str, now: float, window_s: float) -> tuple[float, float, float]:
        """What the delay-risk features say of ``name`` at ``now``: its mean latency (s) and
        error rate over ``window_s`` (``ComponentHealth``), and its breaker (0 closed, 0.5
        half open, 1 open)."""
        count = self._window(name, now, window_s)
        if not count:
            latency, errors = 0.0, 0.0
        else:
            latency, errors = self._sums[name] / count, self._failed[name] / count
        return latency, errors, self.breakers[name].code(now)

    def attempt(self, name: str, t: float, kind: str = "all") -> tuple[float, int]:
        """One attempt starting at ``t``: (seconds it takes, OK/FAILED/REFUSED/REVIEW)."""
        upstream, draws = self.upstreams[name], self.draws[name]
        latency, fail_after, failing, result = draws.base() / self.speed, math.inf, False, OK
        faults = self.faults[name]
        if not faults:
            self.attempts[name] += 1
            if latency >= upstream.timeout_s:
                self.failures[name] += 1
                return upstream.timeout_s, FAILED
            return latency, OK
        starts = self._starts[name]
        first = bisect.bisect_left(starts, t - self._longest[name])
        last = bisect.bisect_right(starts, t)
        for fault in faults[first:last]:
            if not fault.start_s <= t < fault.end_s:
                continue
            if fault.calls != "all" and fault.calls != kind:
                continue
            if fault.share >= 1.0 or draws.uniform() < fault.share:
                added = fault.added_latency_s
                if fault.jitter_s:
                    added += fault.jitter_s * (2 * draws.uniform() - 1)
                latency += max(added, 0.0)
                if fault.fails:
                    failing = True
                    after = math.inf if fault.fail_after_s is None else fault.fail_after_s
                    fail_after = min(fail_after, after)
            for prob, outcome in ((fault.error_prob, FAILED), (fault.refuse_prob, REFUSED),
                                  (fault.review_prob, REVIEW)):
                if prob and result == OK and draws.uniform() < prob:
                    result = outcome
        self.attempts[name] += 1
        if failing or latency >= upstream.timeout_s:  # no answer: cut off, or the timeout
            self.failures[name] += 1
            return min(fail_after, upstream.timeout_s), FAILED
        if result == FAILED:
            self.failures[name] += 1
        return latency, result

    def call(self, name: str, t: float, kind: str = "all") -> tuple[float, int]:
        """``Upstream.call`` from ``t``, worked out at once (see ``call_steps``)."""
        return run_steps(self.call_steps(name, t, kind))

    def call_steps(self, name: str, t: float, kind: str = "all") -> Steps[tuple[float, int]]:
        """``Upstream.call`` from ``t``: (end time, OK/FAILED/REFUSED/REVIEW/BREAKER_REFUSED).
        ``kind`` selects the faults of a payment channel's calls ("create" or "query"). Yields
        the moment of each attempt that other calls can change (``settled``) before asking the
        breaker, so a driver that waits until then has worked out every earlier attempt."""
        upstream, breaker, draws = self.upstreams[name], self.breakers[name], self.draws[name]
        for attempt in range(upstream.retries):
            if attempt:
                t += full_jitter(
                    attempt, upstream.backoff_base_s, upstream.backoff_max_s, draws.uniform()
                )
            if not self.settled(name, t):
                yield t
            if not breaker.allow(t):
                return t, BREAKER_REFUSED
            took, result = self.attempt(name, t, kind)
            t += took
            breaker.record(result != FAILED, t)
            if name in self.track:
                heapq.heappush(self._ahead[name], (t, took, int(result == FAILED)))
            log = self.log.get(name)
            if log is not None:
                log[0].append(t)
                log[1].append(took)
                log[2].append(result == FAILED)
            if result != FAILED:
                return t, result
        return t, FAILED

    def settled(self, name: str, t: float) -> bool:
        """Nothing another call does can change an attempt of ``name`` at ``t``: no fault of
        it is active within ``reach`` of ``t`` and its breaker is closed with no failure
        counted. (Outside faults, a failure needs a base latency beyond the timeout.)"""
        reach, windows = self._reach[name], self._windows[name]
        if windows:
            k = bisect.bisect_right(windows, t + reach, key=lambda w: w[0])
            if k and windows[k - 1][1] + reach >= t:
                return False
        breaker = self.breakers[name]
        return breaker.state == CLOSED and not breaker.failures

    def failover_order(self, chain: tuple[str, ...], t: float) -> tuple[str, ...]:
        """``supplier_chain`` before the delay-risk model's word: reversed while the first one's
        breaker refuses calls or it has announced an outage the second has not (``chain``
        itself otherwise)."""
        if len(chain) > 1 and (self.breakers[chain[0]].refusing(t)
                               or self.announced.steers_away(chain[0], chain[1], t)):
            return chain[::-1]
        return chain

    def chain(self, stage: Stage, t: float,
              prefer: Callable[[tuple[str, ...], float], tuple[str, ...]] | None = None
              ) -> tuple[float, int]:
        """``call_with_failover`` over the stage's chain, worked out at once (``chain_steps``)."""
        return run_steps(self.chain_steps(stage, t, prefer))

    def chain_steps(self, stage: Stage, t: float,
                    prefer: Callable[[tuple[str, ...], float], tuple[str, ...]] | None = None
                    ) -> Steps[tuple[float, int]]:
        """``call_with_failover`` over the stage's chain: (end time, CHAIN_…). ``prefer``
        (the delay-risk model acting) may reorder a chain neither the breaker nor an
        announcement has. Yields as ``call_steps`` does, and before choosing the order."""
        chain = stage.upstreams
        if stage.failover_on_breaker:
            if len(chain) > 1 and not self.settled(chain[0], t):
                yield t
            ordered = self.failover_order(chain, t)
            chain = prefer(chain, t) if ordered is chain and prefer is not None else ordered
        answered = False
        for name in chain:
            t, result = yield from self.call_steps(name, t)
            if result == OK:
                return t, CHAIN_OK
            if result == REVIEW:
                return t, CHAIN_REVIEW
            if result == REFUSED:
                answered = True
        return t, CHAIN_DEFINITIVE if answered else CHAIN_TRANSIENT

    def quiet(self, name: str) -> bool:
        """No fault ever touches ``name`` (a call is then one attempt of its base latency)."""
        return not self.faults[name]


def health_penalty(
    log: tuple[array[float], array[float], array[int]],
    at: npt.NDArray[np.float64],
    *,
    window_s: float = 10.0,
    slow_s: float = 0.5,
) -> npt.NDArray[np.float64]:
    """The upstream's part of the shop's ETA penalty at each of ``at`` (``Shop._upstream_penalty``
    with ``statuspage.ComponentHealth``): its mean latency over the last ``window_s`` when it is
    not operational — at least 3 attempts, and 5% of them failed or 20% slower than ``slow_s``;
    0 otherwise."""
    ends = np.frombuffer(log[0], dtype=np.float64)
    if not len(ends):
        return np.zeros(len(at))
    order = np.argsort(ends, kind="stable")
    ends = ends[order]
    latency = np.frombuffer(log[1], dtype=np.float64)[order]
    failed = np.frombuffer(log[2], dtype=np.int8)[order].astype(np.float64)
    sums = [np.concatenate(([0.0], np.cumsum(v))) for v in (latency, failed,
                                                           (latency > slow_s).astype(float))]
    upto = np.searchsorted(ends, at, side="right")
    since = np.searchsorted(ends, at - window_s, side="left")
    count = upto - since
    safe = np.maximum(count, 1)
    mean = (sums[0][upto] - sums[0][since]) / safe
    errors = (sums[1][upto] - sums[1][since]) / safe
    slow = (sums[2][upto] - sums[2][since]) / safe
    degraded = (count >= 3) & ((errors >= 0.05) | (slow >= 0.2))
    return np.where(degraded, mean, 0.0)
