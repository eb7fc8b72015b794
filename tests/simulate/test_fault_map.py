"""One test per fault mapping (simulate/fault_map.py): what each drill fault becomes."""

import pytest

from fakalab.chaos.plan import FaultSpec
from fakalab.simulate.fault_map import MESSAGE_BYTES, RESTART_S, map_fault


def _map(link: str, fault: object, **extra: object):  # type: ignore[no-untyped-def]
    spec = FaultSpec.model_validate({"id": "f", "link": link, "fault": fault, "start": 10,
                                     "duration": 20, **extra})
    return map_fault(spec, timeout_s=2.0)


def _only(mapped):  # type: ignore[no-untyped-def]
    assert len(mapped.upstream_faults) == 1 and not mapped.ignored
    return mapped.upstream_faults[0]


def test_latency_with_jitter_adds_to_every_attempt_of_that_upstream() -> None:
    f = _only(_map("shop->supplier-a", {"latency": {"latency": 500, "jitter": 100}}))
    assert (f.target, f.start_s, f.end_s) == ("supplier-a", 10, 30)
    assert (f.added_latency_s, f.jitter_s, f.share, f.fails) == (0.5, 0.1, 1.0, False)


def test_a_latency_beyond_the_timeout_is_said_to_time_out() -> None:
    mapped = _map("shop->risk", {"latency": {"latency": 2500}})
    assert "every attempt times out" in mapped.notes[0]
    assert _only(mapped).added_latency_s == 2.5  # the timeout itself is the model's (calls.py)


def test_toxicity_is_the_share_of_attempts() -> None:
    f = _only(_map("shop->risk", {"latency": {"latency": 300}}, toxicity=0.4))
    assert f.share == 0.4


def test_bandwidth_costs_the_message_over_the_rate_in_its_direction() -> None:
    down = _only(_map("shop->risk", {"bandwidth": {"rate": 1}}))
    up = _only(_map("shop->risk", {"bandwidth": {"rate": 1}}, stream="upstream"))
    assert down.added_latency_s == pytest.approx(MESSAGE_BYTES["risk"][1] / 1000)
    assert up.added_latency_s == pytest.approx(MESSAGE_BYTES["risk"][0] / 1000)
    assert _map("shop->risk", {"bandwidth": {"rate": 0}}).ignored


def test_the_slicer_costs_its_delay_per_slice() -> None:
    f = _only(_map("shop->supplier-b", {"slicer": {"average_size": 50, "size_variation": 0,
                                                   "delay": 10_000}}))
    # 220 bytes halved down to at most 50: 8 slices of 27-28 bytes, 10 ms each
    assert f.added_latency_s == pytest.approx(0.08)


def test_the_timeout_toxic_fails_attempts_after_its_timeout_or_at_the_shops() -> None:
    cut = _only(_map("shop->risk", {"timeout": {"timeout": 700}}))
    assert cut.fails and cut.fail_after_s == 0.7
    hang = _only(_map("shop->risk", {"timeout": {"timeout": 0}}))
    assert hang.fails and hang.fail_after_s is None  # no answer: the shop's timeout


def test_reset_peer_fails_attempts_after_its_timeout() -> None:
    f = _only(_map("shop->supplier-a", {"reset_peer": {"timeout": 250}}))
    assert f.fails and f.fail_after_s == 0.25


def test_limit_data_cuts_every_attempt_or_one_in_a_connections_worth() -> None:
    every = _only(_map("shop->risk", {"limit_data": {"bytes": 100}}))
    assert every.fails and every.fail_after_s == 0.0 and every.share == 1.0
    some = _only(_map("shop->risk", {"limit_data": {"bytes": 1000}}))
    assert some.share == pytest.approx(1 / (1000 // MESSAGE_BYTES["risk"][1] + 1))


def test_slow_close_changes_nothing_on_kept_alive_connections() -> None:
    mapped = _map("shop->payment-a", {"slow_close": {"delay": 1000}})
    assert not mapped.upstream_faults and "kept alive" in mapped.ignored[0]


def test_down_refuses_every_attempt_at_once() -> None:
    f = _only(_map("shop->supplier-a", "down"))
    assert f.fails and f.fail_after_s == 0.0 and f.share == 1.0


def test_a_killed_shop_is_an_outage_until_it_is_back() -> None:
    mapped = _map("shop", "kill")
    assert mapped.outages == [(10, 30 + RESTART_S)] and not mapped.upstream_faults


def test_a_killed_upstream_refuses_calls_until_it_is_back() -> None:
    f = _only(_map("supplier-a", "kill"))
    assert (f.target, f.end_s, f.fails, f.fail_after_s) == ("supplier-a", 30 + RESTART_S,
                                                            True, 0.0)


def test_dropped_and_wrong_amount_callbacks_leave_reconciliation_to_confirm() -> None:
    drop = _map("shop->payment-a", {"business": {"callback_drop_pct": 30}})
    assert [(f.target, f.failure_prob) for f in drop.channel_faults] == [("payment-a", 0.3)]
    both = _map("shop->payment-b", {"business": {"callback_drop_pct": 50,
                                                 "wrong_amount_pct": 50}})
    assert both.channel_faults[0].failure_prob == pytest.approx(0.75)


def test_business_switches_ignore_toxicity() -> None:
    drop = _map("shop->payment-a", {"business": {"callback_drop_pct": 30}}, toxicity=0.5)
    assert drop.channel_faults[0].failure_prob == pytest.approx(0.3)


def test_payment_latency_and_errors_hit_creation_and_query_latency_the_queries() -> None:
    mapped = _map("shop->payment-a", {"business": {"latency_ms": 800, "error_pct": 20,
                                                   "query_latency_ms": 300}})
    calls = {(f.calls, f.added_latency_s, f.error_prob) for f in mapped.upstream_faults}
    assert calls == {("create", 0.8, 0.0), ("create", 0.0, 0.2), ("query", 0.3, 0.0)}


def test_a_callback_delay_switch_sets_the_callbacks_delay() -> None:
    mapped = _map("shop->payment-a", {"business": {"callback_delay": {"dist": "fixed",
                                                                      "mean_s": 2.0}}})
    (fault,) = mapped.channel_faults
    assert (fault.latency_factor, fault.added_latency_s) == (0.0, 2.0)


def test_duplicates_change_no_delay() -> None:
    mapped = _map("shop->payment-a", {"business": {"duplicate_pct": 50}})
    assert not mapped.upstream_faults and not mapped.channel_faults and mapped.ignored


def test_supplier_switches_are_latency_503s_and_definitive_409s() -> None:
    f = _only(_map("shop->supplier-a", {"business": {"latency_ms": 200, "error_pct": 10,
                                                     "out_of_stock_pct": 5}}))
    assert (f.added_latency_s, f.error_prob, f.refuse_prob) == (0.2, 0.1, 0.05)


def test_risk_false_positives_send_orders_to_review() -> None:
    f = _only(_map("shop->risk", {"business": {"false_positive_pct": 20, "error_pct": 5}}))
    assert (f.review_prob, f.error_prob) == (0.2, 0.05)


@pytest.mark.parametrize("fault", [{"business": {"failure_pct": 50}},
                                   {"latency": {"latency": 3000}}, "down"])
def test_nothing_on_notify_delays_a_delivery(fault: object) -> None:
    mapped = _map("shop->notify", fault)
    assert not mapped.upstream_faults and "side task" in mapped.ignored[0]


def test_a_false_announcement_is_no_fault() -> None:
    spec = FaultSpec.model_validate({"link": "shop->payment-a", "fault": "down",
                                     "duration": 10, "announce": "false_alarm"})
    mapped = map_fault(spec)
    assert mapped.upstream_faults == [] and "false announcement" in mapped.ignored[0]
    # ... but the provider says it is down: a subscribed shop hears it for the whole window
    (said,) = mapped.announcements
    assert (said.target, said.start_s, said.end_s) == ("payment-a", 0.0, 10.0)


def test_an_announced_fault_is_heard_from_the_providers_lag_to_its_end() -> None:
    mapped = _map("shop->supplier-a", "down", announce=True, announce_after="4s")
    (said,) = mapped.announcements
    assert (said.target, said.start_s, said.end_s) == ("supplier-a", 14.0, 30.0)
    assert len(mapped.upstream_faults) == 1  # and the fault itself
    assert _map("shop->supplier-a", "down").announcements == []  # silent


def test_only_an_outage_status_steers() -> None:
    mild = _map("shop->payment-a", "down", announce=True,
                announce_status="degraded_performance")
    assert mild.announcements == [] and "steers nothing" in mild.ignored[0]
