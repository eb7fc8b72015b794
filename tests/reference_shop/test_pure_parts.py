"""Breaker, queue, ETA, rate limit, status page, signing: pure logic with an explicit clock."""

import random

from fakalab.contract.stages import Transparency
from fakalab.reference_shop import signing
from fakalab.reference_shop.breaker import Breaker, BreakerState
from fakalab.reference_shop.eta import StageClock, estimate_eta
from fakalab.reference_shop.messages import opaque_label, visible_in
from fakalab.reference_shop.queue import WorkQueue
from fakalab.reference_shop.ratelimit import RateLimiter
from fakalab.reference_shop.states import OrderState as S
from fakalab.reference_shop.statuspage import ComponentState, IncidentUpdate, StatusPage
from fakalab.reference_shop.upstream import jittered_backoff


def test_breaker_opens_after_threshold_and_recovers_through_half_open() -> None:
    b = Breaker(failure_threshold=3, cooldown_s=5)
    for t in range(3):
        assert b.allow(t)
        b.record(False, t)
    assert b.state is BreakerState.OPEN and not b.allow(3)
    assert b.allow(8) and b.state is BreakerState.HALF_OPEN
    assert not b.allow(8.1)  # one trial at a time
    b.record(True, 8.2)
    assert b.state is BreakerState.CLOSED and b.allow(8.3)


def test_breaker_reopens_when_the_trial_fails_and_can_be_disabled() -> None:
    b = Breaker(failure_threshold=1, cooldown_s=1)
    b.record(False, 0)
    assert b.allow(1.5)
    b.record(False, 1.6)
    assert b.state is BreakerState.OPEN and not b.allow(2.0)
    off = Breaker(failure_threshold=1, enabled=False)
    off.record(False, 0)
    assert off.allow(0.1)


def test_queue_serves_higher_priority_first_and_knows_positions() -> None:
    q = WorkQueue(lanes=True)
    for i, prio in enumerate([1, 1, 0, 2, 0]):
        q.push(f"o{i}", prio, float(i))
    assert q.position("o4") == 1 and q.position("o1") == 3 and q.position("o3") == 4
    assert not q.push("o0", 1, 9.0)  # already queued
    assert [q.pop_nowait() for _ in range(5)] == ["o2", "o4", "o0", "o1", "o3"]
    assert q.pop_nowait() is None


def test_an_order_waiting_past_the_limit_is_served_before_the_lanes_above_it() -> None:
    # Regression: under a 3x overload the last of three lanes waited 46 s (99th percentile,
    # a 30 s SLA) behind orders of the lanes above, which never ran dry.
    q = WorkQueue(lanes=True, max_wait_s=10.0)
    q.push("low-old", 2, 0.0)
    q.push("mid-old", 1, 1.0)
    for i in range(3):
        q.push(f"vip{i}", 0, 20.0 + i)
    q.push("low-new", 2, 25.0)
    assert q.pop_nowait(5.0) == "vip0"  # nobody overdue yet: strict priority
    # At 30 s both old ones are overdue: the oldest first, then the other, then priority again.
    assert [q.pop_nowait(30.0) for _ in range(4)] == ["low-old", "mid-old", "vip1", "vip2"]
    assert q.pop_nowait(30.0) == "low-new"
    assert q.pop_nowait() is None


def test_queue_without_lanes_is_fifo() -> None:
    q = WorkQueue(lanes=False)
    for i, prio in enumerate([2, 0, 1]):
        q.push(f"o{i}", prio, float(i))
    assert q.position("o2") == 2 and q.oldest_wait(10.0) == 10.0
    assert [q.pop_nowait() for _ in range(3)] == ["o0", "o1", "o2"]


def test_eta_grows_with_queue_and_shrinks_with_workers() -> None:
    clock = StageClock(prior_s=0.1)
    base = estimate_eta(0.0, S.PAID, queue_ahead=0, workers=4, clock=clock)
    assert base is not None and abs(base - 0.3) < 1e-9
    deep = estimate_eta(0.0, S.PAID, queue_ahead=40, workers=4, clock=clock)
    wide = estimate_eta(0.0, S.PAID, queue_ahead=40, workers=8, clock=clock)
    assert deep is not None and wide is not None and deep > wide > base
    assert estimate_eta(0.0, S.DELIVERED, queue_ahead=0, workers=4, clock=clock) is None
    for _ in range(50):
        clock.observe(S.RISK_CHECK, 2.0)
    later = estimate_eta(0.0, S.RISK_CHECK, queue_ahead=0, workers=4, clock=clock)
    assert later is not None and later > 2.0


def test_rate_limiter_refills_over_time() -> None:
    rl = RateLimiter(per_minute=3)
    assert all(rl.allow("ip", 0.0) for _ in range(3))
    assert not rl.allow("ip", 0.5)
    assert rl.allow("other", 0.5)
    assert rl.allow("ip", 21.0)


def test_status_page_opens_identifies_monitors_and_resolves() -> None:
    page = StatusPage(["risk"], identify_after_s=5, resolve_after_s=5)
    for t in range(5):
        page.health["risk"].record(float(t) / 10, False, 10.0)
    assert page.states(1.0)["risk"] is ComponentState.MAJOR
    assert [u.state for u in page.evaluate(1.0)] == ["investigating"]
    assert page.evaluate(2.0) == []
    assert [u.state for u in page.evaluate(6.0)] == ["identified"]
    # the window (10 s) forgets the failures; successes make it healthy
    for t in range(5):
        page.health["risk"].record(12.0 + t / 10, True, 10.0)
    assert [u.state for u in page.evaluate(12.5)] == ["monitoring"]
    updates = page.evaluate(18.0)
    assert [u.state for u in updates] == ["resolved"] and not page.open
    assert "security check" in updates[0].message


def test_opaque_mode_hides_internal_stages() -> None:
    assert opaque_label(S.RISK_CHECK) == opaque_label(S.NEEDS_ATTENTION) == "processing"
    assert not visible_in(Transparency.OPAQUE, S.PAID, S.RISK_CHECK)
    assert visible_in(Transparency.OPAQUE, S.DELIVERING, S.DELIVERED)
    assert visible_in(Transparency.TRANSPARENT, S.PAID, S.RISK_CHECK)


def test_signature_round_trip_and_tampering() -> None:
    fields = {"trade_no": "X1", "amount": "10.00", "status": "paid"}
    signed = {**fields, "sign": signing.sign(fields, "k")}
    assert signing.verify(signed, "k")
    assert not signing.verify(signed, "other")
    assert not signing.verify({**signed, "amount": "1.00"}, "k")
    assert not signing.verify(fields, "k")


def test_backoff_is_bounded_and_jittered() -> None:
    rng = random.Random(1)
    values = [jittered_backoff(5, 0.1, 1.0, rng) for _ in range(200)]
    assert max(values) <= 1.0 and min(values) >= 0.0 and len(set(values)) > 100


def test_eta_follows_measured_throughput_when_the_pipeline_slows() -> None:
    from fakalab.reference_shop.eta import Throughput

    clock = StageClock(prior_s=0.1)
    meter = Throughput(window_s=10)
    assert meter.rate(0.0) is None
    for i in range(20):  # 2 orders/s left the pipeline recently
        meter.record(i * 0.5)
    assert meter.rate(10.0) == 2.0
    fast = estimate_eta(10.0, S.PAID, queue_ahead=40, workers=4, clock=clock)
    slow = estimate_eta(10.0, S.PAID, queue_ahead=40, workers=4, clock=clock,
                        throughput_per_s=meter.rate(10.0))
    assert fast is not None and slow is not None
    assert abs((slow - 10.0) - (40 / 2.0 + 0.3)) < 1e-9 and slow > fast
    assert meter.rate(100.0) is None  # the window forgets


def test_eta_accounts_for_higher_classes_overtaking() -> None:
    clock = StageClock(prior_s=0.1)  # 0.3 s per order: 4 workers serve 13.3 orders/s
    alone = estimate_eta(0.0, S.PAID, queue_ahead=40, workers=4, clock=clock)
    overtaken = estimate_eta(0.0, S.PAID, queue_ahead=40, workers=4, clock=clock,
                             overtaking_per_s=10.0)
    starved = estimate_eta(0.0, S.PAID, queue_ahead=40, workers=4, clock=clock,
                           overtaking_per_s=50.0)
    assert alone is not None and overtaken is not None and starved is not None
    assert abs(overtaken - (40 / (4 / 0.3 - 10.0) + 0.3)) < 1e-9
    assert alone < overtaken < starved


def test_queue_knows_the_position_of_an_order_about_to_be_queued_and_who_overtakes() -> None:
    q = WorkQueue(lanes=True)
    for i, prio in enumerate([0, 1, 1, 2]):
        q.push(f"o{i}", prio, float(i))
    assert q.ahead_of_new(1) == 3 and q.ahead_of_new(0) == 1 and q.ahead_of_new(2) == 4
    # One push into lane 0, 5 s ago: measured over the 5 s since (contract/rates.py)
    assert q.overtaking_rate(1, now=5.0, window_s=10) == 0.2
    assert q.overtaking_rate(0, now=5.0) == 0.0
    assert q.overtaking_rate(2, now=50.0) == 0.0  # the window forgot them


def test_queue_positions_follow_service_order() -> None:
    q = WorkQueue(lanes=True)
    for i, prio in enumerate([1, 0, 1, 2]):
        q.push(f"o{i}", prio, float(i))
    assert list(q.positions()) == [("o1", 0), ("o0", 1), ("o2", 2), ("o3", 3)]
    assert all(q.position(o) == n for o, n in q.positions())


def test_status_page_carries_on_after_a_restart() -> None:
    stored = [IncidentUpdate("INC-0001", "risk", "investigating", 10.0, "m"),
              IncidentUpdate("INC-0001", "risk", "resolved", 30.0, "m"),
              IncidentUpdate("INC-0002", "supplier-a", "investigating", 40.0, "m"),
              IncidentUpdate("INC-0002", "supplier-a", "identified", 50.0, "m")]
    page = StatusPage(["risk", "supplier-a", "fulfilment"], resolve_after_s=5)
    page.restore(stored)
    (still,) = page.open_incidents()  # the supplier's incident stays open where it was
    assert (still.incident_id, still.state, still.opened_at) == ("INC-0002", "identified", 40.0)
    note = page.restarted(60.0, resumed=7)
    assert note.incident_id == "INC-0003" and note.state == "monitoring"  # numbering goes on
    assert "7 orders that were in progress are being resumed" in note.message
    page.evaluate(61.0)  # every component healthy: the supplier's incident starts recovering
    closing = page.evaluate(66.0)
    assert {(u.incident_id, u.state) for u in closing} == {("INC-0002", "resolved"),
                                                           ("INC-0003", "resolved")}
    assert page.open_incidents() == []


def test_asking_whether_a_breaker_refuses_leaves_its_trial_call() -> None:
    """Failover asks before it calls; taking the half-open trial then left the breaker
    refusing every call for good (a channel never used again after a brownout)."""
    b = Breaker(failure_threshold=1, cooldown_s=5.0)
    b.record(False, 100.0)
    assert b.refusing(101.0)
    assert not b.refusing(106.0) and not b.refusing(106.0)  # asking twice takes nothing
    assert b.allow(106.0)  # the trial is still there
    assert b.refusing(106.5)
    b.record(True, 107.0)
    assert not b.refusing(107.0)
