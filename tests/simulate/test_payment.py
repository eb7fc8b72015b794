import numpy as np
import pytest

from fakalab.simulate.dists import Dist
from fakalab.simulate.faults import FaultSchedule
from fakalab.simulate.params import Channel, Fault, Payment
from fakalab.simulate.payment import CONFIRMED_BY, choose_channels, settle_payments
from fakalab.simulate.streams import Streams

N = 20_000
CREATED = np.linspace(0, 1_000, N)


def _payment(**kwargs: object) -> Payment:
    channels = (
        Channel(name="a", callback_delay=Dist.const(1.0)),
        Channel(name="b", callback_delay=Dist.const(2.0)),
    )
    defaults: dict[str, object] = {"pay_time": Dist.const(10.0), "channels": channels}
    return Payment.model_validate({**defaults, **kwargs})


def test_callbacks_confirm_after_pay_time_and_delay() -> None:
    payments = settle_payments(_payment(), CREATED, Streams(1), FaultSchedule([]))
    assert np.allclose(payments.paid_click_at, CREATED + 10)
    assert np.allclose(payments.paid_at, CREATED + 11)
    assert set(payments.confirmed_by.tolist()) == {CONFIRMED_BY.index("callback")}


def test_dropped_callbacks_are_caught_by_reconciliation() -> None:
    lossy = (Channel(name="a", callback_delay=Dist.const(1.0), drop_prob=0.3),)
    payment = _payment(channels=lossy, reconcile_after_s=5.0, reconcile_latency=Dist.const(0.5))
    payments = settle_payments(payment, CREATED, Streams(1), FaultSchedule([]))
    reconciled = payments.confirmed_by == CONFIRMED_BY.index("reconciliation")
    assert reconciled.mean() == pytest.approx(0.3, abs=0.015)
    assert np.allclose(payments.paid_at[reconciled], CREATED[reconciled] + 15.5)


def test_without_reconciliation_the_provider_retry_confirms_or_nothing_does() -> None:
    lossy = (Channel(name="a", callback_delay=Dist.const(1.0), drop_prob=0.3),)
    retried = settle_payments(
        _payment(channels=lossy, reconciliation=False, provider_retry_s=60.0),
        CREATED,
        Streams(1),
        FaultSchedule([]),
    )
    late = retried.confirmed_by == CONFIRMED_BY.index("provider_retry")
    assert np.allclose(retried.paid_at[late], CREATED[late] + 71)
    lost = settle_payments(
        _payment(channels=lossy, reconciliation=False, provider_retry_s=None),
        CREATED,
        Streams(1),
        FaultSchedule([]),
    )
    assert np.isnan(lost.paid_at).mean() == pytest.approx(0.3, abs=0.015)
    assert np.array_equal(np.isnan(lost.paid_at), late)  # same draws: common random numbers


def test_failover_moves_orders_to_the_backup_during_a_primary_fault() -> None:
    fault = Fault(target="a", start_s=200, end_s=400, added_latency_s=30)
    payment = _payment(failover_detect_s=10.0)
    channel = choose_channels(payment, CREATED, FaultSchedule([fault]))
    switched = (CREATED >= 210) & (CREATED < 400)
    assert np.array_equal(channel == 1, switched)
    assert not choose_channels(_payment(failover=False), CREATED, FaultSchedule([fault])).any()


def test_channel_faults_slow_callbacks_when_failover_is_off() -> None:
    fault = Fault(target="a", start_s=200, end_s=400, added_latency_s=30)
    payment = _payment(failover=False, reconciliation=False)
    payments = settle_payments(payment, CREATED, Streams(1), FaultSchedule([fault]))
    click = CREATED + 10
    hit = (click >= 200) & (click < 400)
    assert np.allclose(payments.paid_at[hit], click[hit] + 31)
    assert np.allclose(payments.paid_at[~hit], click[~hit] + 1)


def test_buyers_who_do_not_pay_are_never_confirmed() -> None:
    payments = settle_payments(_payment(pay_prob=0.8), CREATED, Streams(2), FaultSchedule([]))
    assert payments.paid.mean() == pytest.approx(0.8, abs=0.01)
    assert np.array_equal(np.isnan(payments.paid_at), ~payments.paid)
    assert (payments.confirmed_by[~payments.paid] == -1).all()
