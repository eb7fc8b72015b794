"""Pure parts of the drill: SLO verdicts, the live view's figures, run ids."""

import pandas as pd

from fakalab.contract.scenario import Slos
from fakalab.scenarios.live import late_share, snapshot
from fakalab.scenarios.runinfo import run_id
from fakalab.scenarios.slo import evaluate, observed


def test_observed_figures_and_verdicts() -> None:
    orders = pd.DataFrame({
        "paid_at": [0.0, 0.0, 0.0, None, 95.0],
        "delivered_at": [10.0, 40.0, None, None, None],
    })
    values = observed(orders, tickets=2, requests=200, failures=3, sla_s=30, ended_at=100)
    # decided: orders 0, 1, 2 (order 4 paid 5 s before the end is undecided); delayed: 1, 2
    assert values["delay_rate"] == 2 / 3
    assert values["error_rate"] == 3 / 200
    assert values["ticket_rate"] == 2 / 4
    verdicts = {v.name: v for v in evaluate(Slos(delay_rate=0.5, error_rate=0.02,
                                                 p95_paid_to_delivered_s=60), values)}
    assert verdicts["delay_rate"].passed is False and verdicts["delay_rate"].target == "<= 0.5"
    assert verdicts["error_rate"].passed is True
    assert verdicts["p95_paid_to_delivered_s"].passed is True
    assert "ticket_rate" not in verdicts


def test_no_data_is_not_a_pass() -> None:
    values = observed(pd.DataFrame({"paid_at": [None], "delivered_at": [None]}), 0, 0, 0, 30, 10)
    (verdict,) = evaluate(Slos(delay_rate=0.1, error_rate=None), values)
    assert verdict.observed is None and verdict.passed is None


def test_late_share_uses_the_largest_bound_within_the_sla() -> None:
    buckets = [(1.0, 5.0), (10.0, 8.0), (30.0, 9.0), (60.0, 10.0), (float("inf"), 10.0)]
    assert late_share(buckets, 30) == 0.1
    assert late_share(buckets, 20) == 0.2
    assert late_share([], 30) is None


def test_snapshot_counts_arrivals_and_in_flight_orders() -> None:
    metrics = ('fakalab_orders{state="paid"} 3.0\nfakalab_orders{state="risk_check"} 2.0\n'
               'fakalab_orders{state="delivered"} 7.0\n')
    snap = snapshot(12.0, 60.0, metrics, [{"started": 20, "dropped": 1}, {"started": 10}],
                    previous_arrivals=20, interval_s=2.0, target_rate=5.0, sla_s=30, plan=None)
    assert (snap.arrivals, snap.dropped, snap.arrival_rate) == (30, 1, 5.0)
    assert (snap.in_flight, snap.delivered, snap.faults) == (5, 7, [])


def test_run_id_is_utc_time_scenario_and_variant() -> None:
    assert run_id(0.0, "flash-sale", None) == "19700101-000000-flash-sale"
    assert run_id(0.0, "transparency-ab", "opaque") == "19700101-000000-transparency-ab-opaque"


def test_delay_clock_starts_when_the_buyer_paid() -> None:
    # the shop learnt of the payment 40 s after the buyer paid (a lost callback)
    orders = pd.DataFrame({"paid_at": [140.0], "buyer_paid_at": [100.0], "delivered_at": [141.0]})
    assert observed(orders, 0, 0, 0, sla_s=30, ended_at=1000)["delay_rate"] == 1.0
