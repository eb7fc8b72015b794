"""Payments the shop's way (simulate/channels.py; reference_shop/payments.py)."""

import numpy as np
import pytest

from fakalab.simulate.announcements import Announced
from fakalab.simulate.channels import CALLBACK, PROVIDER_RETRY, RECONCILIATION, settle_shop_payments
from fakalab.simulate.dists import Dist
from fakalab.simulate.faults import FaultSchedule
from fakalab.simulate.params import (
    Announcement,
    Channel,
    Fault,
    Payment,
    Upstream,
    UpstreamFault,
)
from fakalab.simulate.streams import Streams

CREATED = np.arange(0.0, 100.0, 0.05)  # 20 orders/s
UPSTREAMS = (Upstream(name="payment-a", latency=Dist.const(0.003)),
             Upstream(name="payment-b", latency=Dist.const(0.003)))


def _payment(**kwargs: object) -> Payment:
    defaults: dict[str, object] = {
        "pay_time": Dist.const(0.01),
        "channels": (Channel(name="payment-a", callback_delay=Dist.const(0.05)),
                     Channel(name="payment-b", callback_delay=Dist.const(0.05))),
        "failover_rule": "shop", "provider_retry_s": None, "reconcile_after_s": 5.0,
        "reconcile_interval_s": 1.0, "reconcile_latency": Dist.const(0.0),
    }
    return Payment.model_validate({**defaults, **kwargs})


def _settle(payment: Payment, faults=(), upstream_faults=(), outages=(), announced=None):  # type: ignore[no-untyped-def]
    return settle_shop_payments(payment, CREATED, Streams(1), FaultSchedule(faults), UPSTREAMS,
                                list(upstream_faults), outages, announced=announced)


def test_without_faults_every_order_pays_at_a_and_is_confirmed_by_its_callback() -> None:
    p = _settle(_payment())
    assert (p.channel == 0).all() and (p.confirmed_by == CALLBACK).all()
    assert np.allclose(p.paid_at - p.paid_click_at, 0.05)


def test_a_slow_channel_a_sends_new_orders_to_b_once_its_mean_latency_passes_slow_ms() -> None:
    slow = UpstreamFault(target="payment-a", start_s=40, end_s=70, added_latency_s=0.8)
    p = _settle(_payment(), upstream_faults=[slow])
    to_b = CREATED[(p.channel == 1)]
    # ComponentHealth: the 10 s mean passes 500 ms once 62.5% of its samples are slow:
    # 0.8 + 0.5 * (10 - 0.8) / 0.8 = 6.55 s into the fault
    assert to_b.min() == pytest.approx(46.55, abs=0.2)
    assert (p.channel[CREATED < 40] == 0).all() and (p.channel[CREATED > 85] == 0).all()


def test_a_channel_that_is_down_fails_over_and_its_breaker_keeps_it_off() -> None:
    down = UpstreamFault(target="payment-a", start_s=40, end_s=70, fails=True)
    p = _settle(_payment(), upstream_faults=[down])
    inside = (CREATED >= 40) & (CREATED < 70)
    assert (p.channel[inside] == 1).all() and p.created.all()
    without = _settle(_payment(failover=False), upstream_faults=[down])
    assert not without.created[inside].any() and not without.paid[inside].any()


def test_dropped_callbacks_are_confirmed_by_the_next_reconciliation_round() -> None:
    drop = Fault(target="payment-a", start_s=0, end_s=200, failure_prob=1.0)
    p = _settle(_payment(), faults=[drop])
    assert (p.confirmed_by == RECONCILIATION).all()
    waited = p.paid_at - p.paid_click_at
    assert waited.min() >= 5.0 and waited.max() <= 6.01  # after 5 s, at the next 1 s round
    never = _settle(_payment(reconciliation=False), faults=[drop])
    assert np.isnan(never.paid_at).all()


def test_slow_queries_delay_reconciliation() -> None:
    drop = Fault(target="payment-a", start_s=0, end_s=200, failure_prob=1.0)
    slow = UpstreamFault(target="payment-a", start_s=0, end_s=200, added_latency_s=0.3,
                         calls="query")
    p = _settle(_payment(failover=False), faults=[drop], upstream_faults=[slow])
    waited = p.paid_at - p.paid_click_at
    assert waited.min() >= 5.3 and waited.max() <= 6.31


def test_callbacks_to_a_shop_that_is_down_are_sent_again() -> None:
    p = _settle(_payment(reconciliation=False), outages=[(50.0, 52.0)])
    hit = (p.paid_click_at + 0.05 >= 50) & (p.paid_click_at + 0.05 < 52)
    assert (p.confirmed_by[hit] == PROVIDER_RETRY).all()
    assert (p.paid_at[hit] >= 52).all()


def test_an_announced_outage_of_a_sends_new_orders_to_b_at_once() -> None:
    """payments.channel_chain: A's word is enough, before any of its calls is slow."""
    said = Announced([Announcement(target="payment-a", start_s=40, end_s=70)])
    p = _settle(_payment(), announced=said)
    inside = (CREATED >= 40) & (CREATED < 70)
    assert (p.channel[inside] == 1).all() and (p.channel[~inside] == 0).all()
    both = Announced([Announcement(target=n, start_s=40, end_s=70)
                      for n in ("payment-a", "payment-b")])
    assert (_settle(_payment(), announced=both).channel == 0).all()  # B no better: A first
    assert (_settle(_payment(failover=False), announced=said).channel == 0).all()


def test_queries_close_a_breaker_that_choosing_the_channel_left_alone() -> None:
    """Reconciliation queries that time out open A's breaker; choosing B first while it is
    open must not take A's half-open trial (Breaker.refusing), or A's unconfirmed payments
    would never be confirmed: they are, once its queries answer again."""
    drop = Fault(target="payment-a", start_s=10, end_s=30, failure_prob=1.0)
    stall = UpstreamFault(target="payment-a", start_s=10, end_s=30, added_latency_s=3.0,
                          calls="query")
    p = _settle(_payment(), faults=[drop], upstream_faults=[stall])
    stalled = (p.channel == 0) & (p.paid_click_at >= 10) & (p.paid_click_at < 30)
    assert stalled.any() and (p.channel == 1).any()
    assert (p.paid_at[stalled] > 30).all() and (p.paid_at[stalled] < 40).all()
    assert (p.confirmed_by[stalled] == RECONCILIATION).all()


def test_one_loop_runs_the_rounds_so_the_queries_of_a_run_share_one_phase() -> None:
    """payments.reconcile_loop is one loop: every query of the run goes out at one of its
    rounds, whatever the order (each order used to have a phase of its own)."""
    drop = Fault(target="payment-a", start_s=0, end_s=200, failure_prob=1.0)
    p = _settle(_payment(failover=False), faults=[drop])
    rounds = p.paid_at[p.paid] - 0.003  # the query's latency
    assert np.allclose(rounds - rounds[0], np.round(rounds - rounds[0]), atol=1e-6)


def test_a_failed_query_is_asked_again_at_the_round_five_seconds_later() -> None:
    """``not_queried_since = now − max(2, reconcile_after)``: queried at a round, an order is
    due again at the fifth round after it, not the sixth (a moment on a round is that round)."""
    drop = Fault(target="payment-a", start_s=0, end_s=200, failure_prob=1.0)
    refused = UpstreamFault(target="payment-a", start_s=0, end_s=20, fails=True,
                            fail_after_s=0.0, calls="query")
    ups = [Upstream(name=n, latency=Dist.const(0.003), retries=1, breaker=False)
           for n in ("payment-a", "payment-b")]
    p = settle_shop_payments(_payment(failover=False), CREATED, Streams(1), FaultSchedule([drop]),
                             ups, [refused])
    early = p.paid & (p.paid_click_at < 10)
    assert early.any()
    assert (p.paid_at[early] >= 20).all() and (p.paid_at[early] <= 25.01).all()
