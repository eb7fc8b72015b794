"""The shop's CPU calendar (fast, pure)."""

import numpy as np
import pytest

from fakalab.simulate.cpu import CpuCalendar
from fakalab.simulate.params import Cpu

NONE = np.zeros(0)


def test_work_runs_at_once_on_an_idle_cpu_and_queues_behind_work_planned_before() -> None:
    cpu = CpuCalendar(Cpu(), NONE, NONE)
    assert cpu.reserve(1.0, 0.5, 1.0) == 1.5
    assert cpu.reserve(1.2, 0.5, 1.2) == 2.0  # waits for the first
    assert cpu.reserve(0.0 + 3.0, 0.1, 1.2) == pytest.approx(3.1)


def test_a_gap_is_filled_by_work_that_fits_in_it() -> None:
    cpu = CpuCalendar(Cpu(), NONE, NONE)
    cpu.reserve(0.0, 1.0, 0.0)
    cpu.reserve(2.0, 1.0, 0.0)
    assert cpu.reserve(0.5, 0.8, 0.0) == pytest.approx(1.8)  # the gap [1, 2)
    assert cpu.reserve(0.5, 0.5, 0.0) == pytest.approx(3.5)  # no gap left: after the last
    assert cpu.intervals() == [(0.0, pytest.approx(1.8)), (2.0, pytest.approx(3.5))]


def test_a_saturated_cpu_finishes_one_unit_of_work_per_second_whatever_the_workers() -> None:
    cpu = CpuCalendar(Cpu(), NONE, NONE)
    ends = [cpu.reserve(0.0, 0.01, 0.0) for _ in range(1000)]
    assert max(ends) == pytest.approx(10.0)


def test_nothing_runs_while_the_shop_is_down() -> None:
    cpu = CpuCalendar(Cpu(outages=((1.0, 3.0),)), NONE, NONE)
    assert cpu.reserve(0.9, 0.5, 0.9) == pytest.approx(3.5)


def test_background_work_and_speed_slow_the_cpu() -> None:
    created = np.arange(0, 10, 0.1)  # 10 orders/s
    cpu = CpuCalendar(Cpu(per_created_s=0.05), created, NONE)  # half the CPU
    assert cpu.background(5.0) == pytest.approx(0.5)
    assert cpu.reserve(5.0, 0.1, 5.0) == pytest.approx(5.2)
    slow = CpuCalendar(Cpu(speed=0.5), NONE, NONE)
    assert slow.reserve(0.0, 0.1, 0.0) == pytest.approx(0.2)


def test_waiting_buyers_poll_and_stop_when_delivered() -> None:
    paid = np.array([0.0, 0.0, 0.0, 0.0])
    cpu = CpuCalendar(Cpu(per_poll_s=0.01, polls_per_watcher=10.0), NONE, paid)
    assert cpu.background(1.0) == pytest.approx(0.4)
    cpu.delivered(2.0)
    cpu.delivered(2.0)
    assert cpu.background(3.0) == pytest.approx(0.2)
