"""The upstream calls follow reference_shop/upstream.py and breaker.py (fast, pure)."""

import math
import random

import numpy as np
import pytest

from fakalab.reference_shop.breaker import Breaker, BreakerState
from fakalab.simulate.announcements import Announced
from fakalab.simulate.calls import (
    BREAKER_REFUSED,
    CHAIN_DEFINITIVE,
    CHAIN_OK,
    CHAIN_REVIEW,
    CHAIN_TRANSIENT,
    CLOSED,
    FAILED,
    HALF_OPEN,
    OK,
    OPEN,
    REFUSED,
    BreakerModel,
    Calls,
    full_jitter,
)
from fakalab.simulate.dists import Dist
from fakalab.simulate.params import Announcement, Stage, Upstream, UpstreamFault

STATES = {BreakerState.CLOSED: CLOSED, BreakerState.OPEN: OPEN, BreakerState.HALF_OPEN: HALF_OPEN}


def test_the_breaker_is_the_shops_breaker_on_random_histories() -> None:
    rng = random.Random(3)
    for _ in range(200):
        shop, model = Breaker(3, 2.0), BreakerModel(3, 2.0)
        now = 0.0
        for _ in range(60):
            now += rng.choice([0.1, 0.5, 1.0, 2.5])
            if rng.random() < 0.2:
                assert shop.refusing(now) == model.refusing(now)
            elif rng.random() < 0.5:
                assert shop.allow(now) == model.allow(now)
            else:
                ok = rng.random() < 0.4
                shop.record(ok, now)
                model.record(ok, now)
                model.allow(now)  # applies what was recorded up to now
                shop.allow(now)
            assert STATES[shop.state] == model.state
            assert shop.failures == model.failures


def test_a_recorded_outcome_counts_only_from_its_moment() -> None:
    breaker = BreakerModel(1, 5.0)
    breaker.record(False, 10.0)  # planned for later
    assert breaker.allow(9.0) and breaker.state == CLOSED
    assert not breaker.allow(10.0) and breaker.state == OPEN


def test_full_jitter_backoff_is_uniform_up_to_the_capped_exponential() -> None:
    assert full_jitter(1, 0.1, 2.0, 0.5) == pytest.approx(0.1)  # U[0, 0.2]
    assert full_jitter(2, 0.1, 2.0, 1.0) == pytest.approx(0.4)
    assert full_jitter(6, 0.1, 2.0, 1.0) == pytest.approx(2.0)  # capped


def _calls(faults: list[UpstreamFault], **upstream: object) -> Calls:
    ups = [Upstream(name=n, latency=Dist.const(0.01), **upstream) for n in ("a", "b")]
    return Calls(ups, faults, {"a": np.random.default_rng(1), "b": np.random.default_rng(2)})


def test_a_latency_below_the_timeout_adds_to_each_attempt() -> None:
    calls = _calls([UpstreamFault(target="a", start_s=0, end_s=100, added_latency_s=0.5)])
    end, result = calls.call("a", 10.0)
    assert result == OK and end == pytest.approx(10.51)


def test_a_latency_beyond_the_timeout_fails_every_attempt_at_the_timeout() -> None:
    calls = _calls([UpstreamFault(target="a", start_s=0, end_s=100, added_latency_s=3.0)],
                   timeout_s=2.0, retries=3)
    end, result = calls.call("a", 10.0)
    assert result == FAILED and calls.attempts["a"] == 3
    # three timeouts plus two full-jitter backoffs of at most 0.2 and 0.4 s
    assert 16.0 <= end <= 16.6


def test_refused_connections_fail_fast_and_open_the_breaker() -> None:
    calls = _calls([UpstreamFault(target="a", start_s=0, end_s=100, fails=True)],
                   breaker_threshold=5, breaker_cooldown_s=5.0)
    t = 10.0
    results = []
    for _ in range(4):
        t, result = calls.call("a", t)
        results.append(result)
    assert results[:1] == [FAILED] and BREAKER_REFUSED in results
    assert calls.attempts["a"] == 5  # then refused without an attempt
    assert t < 12.0


def test_503s_are_retried_and_a_409_goes_to_the_next_supplier() -> None:
    stage = Stage(name="allocation", service=Dist.const(0), upstreams=("a", "b"))
    calls = _calls([UpstreamFault(target="a", start_s=0, end_s=100, refuse_prob=1.0)])
    assert calls.chain(stage, 1.0)[1] == CHAIN_OK and calls.attempts == {"a": 1, "b": 1}
    both = _calls([UpstreamFault(target=n, start_s=0, end_s=100, refuse_prob=1.0)
                   for n in ("a", "b")])
    assert both.chain(stage, 1.0)[1] == CHAIN_DEFINITIVE
    errors = _calls([UpstreamFault(target=n, start_s=0, end_s=100, error_prob=1.0)
                     for n in ("a", "b")])
    assert errors.chain(stage, 1.0)[1] == CHAIN_TRANSIENT and errors.attempts["a"] == 3


def test_a_review_answer_is_final() -> None:
    stage = Stage(name="risk_check", service=Dist.const(0), upstreams=("a",))
    calls = _calls([UpstreamFault(target="a", start_s=0, end_s=100, review_prob=1.0)])
    assert calls.chain(stage, 1.0)[1] == CHAIN_REVIEW


def test_supplier_failover_uses_b_first_while_as_breaker_refuses_and_a_gets_its_trial() -> None:
    stage = Stage(name="allocation", service=Dist.const(0), upstreams=("a", "b"),
                  failover_on_breaker=True)
    calls = _calls([UpstreamFault(target="a", start_s=0, end_s=20, fails=True)],
                   breaker_threshold=2, breaker_cooldown_s=5.0)
    calls.chain(stage, 1.0)  # a fails (opens after 2 attempts), then b
    assert calls.breakers["a"].state == OPEN
    before = calls.attempts["a"]
    calls.chain(stage, 2.0)
    assert calls.attempts["a"] == before  # b first, a not tried
    # after the cooldown the chain's check (Breaker.refusing) leaves the half-open trial to the
    # call: a is asked again, answers (its fault is over) and the breaker closes
    calls.chain(stage, 30.0)
    assert calls.attempts["a"] == before + 1
    assert not calls.breakers["a"].refusing(31.0) and calls.breakers["a"].state == CLOSED


def test_a_later_outcome_does_not_open_the_breaker_for_an_earlier_call() -> None:
    """A call's retries are worked out at once: its failures at 10–12 s must not refuse a call
    that starts at 5 s, worked out after it."""
    breaker = BreakerModel(threshold=2, cooldown_s=5.0)
    breaker.record(False, 10.0)
    breaker.record(False, 12.0)
    assert breaker.allow(12.5) is False and breaker.refusing(12.5)  # open from 12 s
    assert breaker.allow(5.0) and not breaker.refusing(5.0)  # closed at 5 s
    assert breaker.refusing(13.0) and breaker.state == OPEN  # and still open after
    assert breaker.allow(17.5) and breaker.state == HALF_OPEN  # the trial after the cooldown
    assert breaker.refusing(18.0) and not breaker.allow(18.0)


def test_an_announced_outage_of_supplier_a_puts_b_first_while_it_stands() -> None:
    """fulfilment.supplier_chain with provider signals: A's word, before any failure."""
    stage = Stage(name="allocation", service=Dist.const(0), upstreams=("a", "b"),
                  failover_on_breaker=True)
    ups = [Upstream(name=n, latency=Dist.const(0.01)) for n in ("a", "b")]
    calls = Calls(ups, [], {"a": np.random.default_rng(1), "b": np.random.default_rng(2)},
                  announced=Announced([Announcement(target="a", start_s=10, end_s=20)]))
    for at in (5.0, 12.0, 19.0, 25.0):
        calls.chain(stage, at)
    assert calls.attempts == {"a": 2, "b": 2}


def test_toxicity_is_the_share_of_attempts_affected() -> None:
    calls = _calls([UpstreamFault(target="a", start_s=0, end_s=1e9, added_latency_s=1.0,
                                  share=0.3)])
    slow = sum(calls.attempt("a", float(k))[0] > 0.5 for k in range(4000))
    assert slow / 4000 == pytest.approx(0.3, abs=0.03)


def test_a_failing_attempt_is_cut_at_the_fault_or_the_timeout() -> None:
    reset = _calls([UpstreamFault(target="a", start_s=0, end_s=9, fails=True,
                                  fail_after_s=0.7)])
    assert reset.attempt("a", 1.0) == (pytest.approx(0.7), FAILED)
    hang = _calls([UpstreamFault(target="a", start_s=0, end_s=9, fails=True,
                                 fail_after_s=None)], timeout_s=1.5)
    assert hang.attempt("a", 1.0) == (pytest.approx(1.5), FAILED)
    assert math.isclose(hang.attempt("a", 20.0)[0], 0.01)  # after the fault
    assert REFUSED != FAILED
