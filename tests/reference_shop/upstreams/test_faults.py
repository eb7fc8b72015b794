import random
import statistics

import pytest

from fakalab.reference_shop.upstreams.faults import (
    CallbackDelay,
    FaultError,
    FaultSwitch,
    NotifierFaults,
    PaymentFaults,
    RiskFaults,
    SupplierFaults,
    hits,
    merge,
    sample_delay,
)


def test_defaults_mean_no_faults() -> None:
    faults = PaymentFaults()
    assert faults.callback_delay == CallbackDelay(dist="fixed", mean_s=0.05, spread_s=0)
    assert faults.callback_drop_pct == faults.duplicate_pct == faults.error_pct == 0
    assert faults.retry_scale == 1.0
    assert SupplierFaults().out_of_stock_pct == 0
    assert RiskFaults().false_positive_pct == 0
    assert NotifierFaults().failure_pct == 0


def test_merge_keeps_unpatched_fields() -> None:
    merged = merge(PaymentFaults(duplicate_pct=5), {"callback_drop_pct": 10})
    assert (merged.duplicate_pct, merged.callback_drop_pct) == (5, 10)


def test_merge_merges_nested_objects() -> None:
    merged = merge(PaymentFaults(), {"callback_delay": {"dist": "uniform", "spread_s": 0.02}})
    assert merged.callback_delay == CallbackDelay(dist="uniform", mean_s=0.05, spread_s=0.02)


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"callback_drop_pct": 101}, "callback_drop_pct"),
        ({"error_pct": -1}, "error_pct"),
        ({"callback_delay": {"dist": "pareto"}}, "callback_delay.dist"),
        ({"callback_delay": {"mean_s": -0.1}}, "callback_delay.mean_s"),
        ({"latency_ms": "slow"}, "latency_ms"),
        ({"no_such_switch": 1}, "no_such_switch"),
    ],
)
def test_merge_names_the_bad_field(patch: dict[str, object], field: str) -> None:
    with pytest.raises(FaultError) as caught:
        merge(PaymentFaults(), patch)
    assert caught.value.field == field
    assert field in str(caught.value)


def test_merge_rejects_a_non_object() -> None:
    with pytest.raises(FaultError) as caught:
        merge(SupplierFaults(), [1, 2])
    assert caught.value.field == "body"


def test_switch_patch_and_reset() -> None:
    switch = FaultSwitch(RiskFaults(latency_ms=5))
    assert switch.patch({"false_positive_pct": 50}).false_positive_pct == 50
    assert switch.current.latency_ms == 5
    with pytest.raises(FaultError):
        switch.patch({"false_positive_pct": 500})
    assert switch.current.false_positive_pct == 50
    assert switch.reset() == RiskFaults()


def test_hits_extremes_and_rate() -> None:
    rng = random.Random(1)
    assert not any(hits(rng, 0) for _ in range(1000))
    assert all(hits(rng, 100) for _ in range(1000))
    assert 200 < sum(hits(rng, 25) for _ in range(1000)) < 300


def test_fixed_delay() -> None:
    assert sample_delay(CallbackDelay(mean_s=0.3), random.Random(0)) == 0.3


def test_uniform_delay_stays_in_range() -> None:
    rng = random.Random(0)
    delay = CallbackDelay(dist="uniform", mean_s=1.0, spread_s=0.5)
    draws = [sample_delay(delay, rng) for _ in range(2000)]
    assert min(draws) >= 0.5 and max(draws) <= 1.5


@pytest.mark.parametrize("dist", ["exponential", "lognormal"])
def test_skewed_delays_have_the_given_mean(dist: str) -> None:
    rng = random.Random(0)
    delay = CallbackDelay.model_validate({"dist": dist, "mean_s": 2.0, "spread_s": 1.0})
    draws = [sample_delay(delay, rng) for _ in range(20000)]
    assert min(draws) >= 0
    assert statistics.fmean(draws) == pytest.approx(2.0, rel=0.05)


def test_lognormal_spread_is_the_standard_deviation() -> None:
    rng = random.Random(0)
    delay = CallbackDelay(dist="lognormal", mean_s=2.0, spread_s=1.0)
    draws = [sample_delay(delay, rng) for _ in range(20000)]
    assert statistics.stdev(draws) == pytest.approx(1.0, rel=0.1)


def test_zero_mean_is_no_delay() -> None:
    assert sample_delay(CallbackDelay(dist="exponential", mean_s=0), random.Random(0)) == 0
