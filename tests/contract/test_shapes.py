import pytest
from pydantic import TypeAdapter, ValidationError

from fakalab.contract.shapes import CompressedDay, DoubleWave, Ramp, Shape, Spike, Steady, Step

shape = TypeAdapter(Shape)


def test_steady() -> None:
    assert Steady(rate_per_s=5).rate(0) == Steady(rate_per_s=5).rate(99) == 5


def test_ramp_then_hold() -> None:
    ramp = Ramp(start_rate=2, end_rate=10, over="4s")
    assert [ramp.rate(t) for t in (0, 2, 4, 100)] == [2, 6, 10, 10]
    assert ramp.peak() == 10


def test_step_holds_last_rate() -> None:
    step = Step(rates=[1, 3, 2], every="10s")
    assert [step.rate(t) for t in (0, 9.9, 10, 25, 999)] == [1, 1, 3, 2, 2]


def test_spike_rise_hold_fall() -> None:
    spike = Spike(base=2, peak_rate=12, at="10s", rise="5s", hold="10s", fall="5s")
    assert [spike.rate(t) for t in (0, 12.5, 15, 24.9, 27.5, 30, 60)] == [
        2, 7, 12, 12, 7, 2, 2]


def test_double_wave_has_two_peaks_per_period() -> None:
    wave = DoubleWave(base=1, peak_rate=9, period="40s")
    assert wave.rate(0) == pytest.approx(1)
    assert wave.rate(10) == pytest.approx(9)
    assert wave.rate(20) == pytest.approx(1)
    assert wave.rate(30) == pytest.approx(9)


def test_compressed_day_peaks_in_the_evening() -> None:
    day = CompressedDay(peak_rate=10, day="24s")
    rates = [day.rate(t) for t in range(24)]
    assert max(rates) == pytest.approx(10) and rates.index(max(rates)) == 20
    assert min(rates) < 1
    assert all(0 <= day.rate(t / 10) <= day.peak() for t in range(480))


def test_shape_by_kind_and_validation() -> None:
    assert isinstance(shape.validate_python({"kind": "spike", "base": 1, "peak_rate": 5,
                                             "at": "1m"}), Spike)
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        shape.validate_python({"kind": "steady", "rate_per_s": -1})
    with pytest.raises(ValidationError):
        shape.validate_python({"kind": "zigzag"})
    with pytest.raises(ValidationError, match="every must be above 0"):
        Step(rates=[1], every=0)
