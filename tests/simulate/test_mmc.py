import numpy as np
import pytest

from fakalab.simulate.mmc import (
    InputStream,
    MMcModel,
    fcfs_starts,
    priority_starts,
    run_mmc,
    simulate_waits,
)
from tests.simulate.reference_loop import reference_starts


def _lists(model: MMcModel, seed: int) -> tuple[list[float], list[float], list[int]]:
    inputs = InputStream(model, seed).next(model.orders)
    return inputs.arrivals.tolist(), inputs.services.tolist(), inputs.classes.tolist()


@pytest.mark.parametrize("rho", [0.5, 0.95, 1.3])
def test_fcfs_matches_the_reference_loop_exactly(rho: float) -> None:
    model = MMcModel(rho * 3, 1.0, 3, 4000)
    arrivals, services, classes = _lists(model, seed=7)
    fast = fcfs_starts(arrivals, services, [0.0] * 3)
    assert fast == reference_starts(arrivals, services, classes, 3)


@pytest.mark.parametrize("rho", [0.7, 0.95, 1.2])
def test_priority_loop_matches_the_reference_loop_exactly(rho: float) -> None:
    model = MMcModel(rho * 4, 1.0, 4, 4000, (0.2, 0.3, 0.5))
    arrivals, services, classes = _lists(model, seed=3)
    fast = priority_starts(arrivals, services, classes, 4)
    assert fast == reference_starts(arrivals, services, classes, 4)


def test_both_loops_agree_on_one_class() -> None:
    arrivals, services, classes = _lists(MMcModel(9.0, 1.0, 10, 20_000), seed=1)
    assert fcfs_starts(arrivals, services, [0.0] * 10) == priority_starts(
        arrivals, services, classes, 10
    )


def test_chunked_draws_equal_one_draw() -> None:
    model = MMcModel(2.0, 1.0, 3, 1000, (0.5, 0.5))
    whole = InputStream(model, 5).next(1000)
    stream = InputStream(model, 5)
    parts = [stream.next(300), stream.next(700)]
    assert np.array_equal(whole.arrivals, np.concatenate([p.arrivals for p in parts]))
    assert np.array_equal(whole.services, np.concatenate([p.services for p in parts]))
    assert np.array_equal(whole.classes, np.concatenate([p.classes for p in parts]))


def test_chunked_run_equals_in_memory_run() -> None:
    model = MMcModel(9.0, 1.0, 10, 250_000, warmup=0)
    _, waits = simulate_waits(model, seed=2)
    report = run_mmc(model, seed=2)
    assert report.mean_wait.mean == pytest.approx(waits[: len(waits) // 30 * 30].mean(), rel=1e-12)


def test_same_seed_same_output_and_other_seed_differs() -> None:
    model = MMcModel(9.0, 1.0, 10, 20_000, (0.3, 0.7))
    assert np.array_equal(simulate_waits(model, 4)[1], simulate_waits(model, 4)[1])
    assert not np.array_equal(simulate_waits(model, 4)[1], simulate_waits(model, 5)[1])


def test_server_count_does_not_change_the_customers() -> None:
    few = InputStream(MMcModel(9.0, 1.0, 10, 1000), 1).next(1000)
    many = InputStream(MMcModel(9.0, 1.0, 20, 1000), 1).next(1000)
    assert np.array_equal(few.arrivals, many.arrivals)
    assert np.array_equal(few.services, many.services)


def test_more_servers_never_wait_longer_with_common_random_numbers() -> None:
    tight = simulate_waits(MMcModel(9.0, 1.0, 10, 20_000), 1)[1]
    loose = simulate_waits(MMcModel(9.0, 1.0, 12, 20_000), 1)[1]
    assert loose.mean() < tight.mean()


def test_priorities_serve_urgent_classes_first() -> None:
    report = run_mmc(MMcModel(9.0, 1.0, 10, 100_000, (0.3, 0.7)), seed=1)
    urgent, standard = report.class_mean_waits
    assert urgent.mean < standard.mean / 3


def test_report_figures_are_consistent() -> None:
    report = run_mmc(MMcModel(9.0, 1.0, 10, 100_000), seed=1, t=0.5)
    assert report.p_wait_gt_t.mean < report.p_wait.mean <= 1
    assert report.mean_wait.lo < report.mean_wait.mean < report.mean_wait.hi
    assert report.utilisation == pytest.approx(0.9, abs=0.02)
    assert report.orders_per_s > 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"arrival_rate": 0.0},
        {"servers": 0},
        {"class_shares": (0.5, 0.4)},
        {"class_shares": (1.2, -0.2)},
    ],
)
def test_invalid_models_are_refused(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"arrival_rate": 1.0, "service_rate": 1.0, "servers": 2, "orders": 10}
    with pytest.raises(ValueError):
        MMcModel(**{**base, **kwargs})  # type: ignore[arg-type]
