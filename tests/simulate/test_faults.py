import numpy as np
import pytest

from fakalab.simulate.faults import FaultSchedule
from fakalab.simulate.params import Fault


def test_lookup_inside_and_outside_windows() -> None:
    schedule = FaultSchedule([Fault(target="delivery", start_s=10, end_s=20, latency_factor=3)])
    assert schedule.at("delivery", 9.99, 0.1) == (1.0, 0.0, 0.1)
    assert schedule.at("delivery", 10.0, 0.1) == (3.0, 0.0, 0.1)
    assert schedule.at("delivery", 20.0, 0.1) == (1.0, 0.0, 0.1)
    assert schedule.at("risk_check", 15.0, 0.1) == (1.0, 0.0, 0.1)
    assert schedule.affects("delivery") and not schedule.affects("risk_check")


def test_overlapping_faults_combine() -> None:
    schedule = FaultSchedule(
        [
            Fault(target="x", start_s=0, end_s=10, latency_factor=2, failure_prob=0.3),
            Fault(target="x", start_s=5, end_s=15, added_latency_s=1.5, failure_prob=0.0),
        ]
    )
    assert schedule.at("x", 7, 0.05) == (2.0, 1.5, 0.3)
    assert schedule.at("x", 12, 0.05) == (1.0, 1.5, 0.0)  # a set probability replaces the base


def test_vector_form_agrees_with_scalar_form() -> None:
    schedule = FaultSchedule(
        [
            Fault(target="x", start_s=2, end_s=6, latency_factor=4, failure_prob=0.5),
            Fault(target="x", start_s=5, end_s=8, added_latency_s=2),
        ]
    )
    t = np.linspace(0, 10, 41)
    base = np.full(len(t), 0.5)
    latency, failure = schedule.apply("x", t, base, 0.1)
    for k, moment in enumerate(t):
        factor, added, probability = schedule.at("x", float(moment), 0.1)
        assert latency[k] == pytest.approx(0.5 * factor + added)
        assert failure[k] == pytest.approx(probability)


def test_active_mask_waits_for_detection() -> None:
    schedule = FaultSchedule([Fault(target="payment-a", start_s=10, end_s=20)])
    mask = schedule.active_mask("payment-a", np.array([9.0, 12.0, 16.0, 21.0]), delay_s=5)
    assert mask.tolist() == [False, False, True, False]
