import pytest
from pydantic import ValidationError

from fakalab.simulate.capacity import Slo, _search, at_peak, capacity, parse_slo
from fakalab.simulate.params import LoadShape, PipelineModel
from fakalab.simulate.stats import Estimate
from fakalab.simulate.whatif import aggregate, grid, metric, sweep, with_params

SMALL = PipelineModel(
    duration_s=180, arrivals=LoadShape(points=((0, 10), (60, 60), (120, 10))), workers=4
)


def test_with_params_sets_nested_values_by_name() -> None:
    changed = with_params(
        SMALL,
        {
            "workers": 8,
            "stages.delivery.service.mean": 0.5,
            "payment.channels.payment-b.drop_prob": 0.1,
        },
    )
    assert changed.workers == 8
    assert {s.name: s.service.mean for s in changed.stages}["delivery"] == 0.5
    assert changed.payment.channels[1].drop_prob == 0.1
    assert SMALL.workers == 4  # the original is untouched


def test_with_params_explains_bad_levers() -> None:
    with pytest.raises(KeyError, match="known"):
        with_params(SMALL, {"wokers": 8})
    with pytest.raises(KeyError, match="risk_check"):
        with_params(SMALL, {"stages.fraud.timeout_s": 1})
    with pytest.raises(ValidationError):
        with_params(SMALL, {"workers": 0})


def test_grid_is_the_cartesian_product() -> None:
    assert grid({"workers": [4, 6], "priority_lanes": [True, False]}) == [
        {"workers": 4, "priority_lanes": True},
        {"workers": 4, "priority_lanes": False},
        {"workers": 6, "priority_lanes": True},
        {"workers": 6, "priority_lanes": False},
    ]


def test_sweep_in_processes_equals_sweep_in_process() -> None:
    levers = {"workers": [4, 6]}
    serial = sweep(SMALL, levers, seeds=[0, 1], processes=1)
    parallel = sweep(SMALL, levers, seeds=[0, 1], processes=2)
    assert repr(serial) == repr(parallel)  # repr: NaN figures compare equal
    assert [(p.params["workers"], p.seed) for p in serial] == [(4, 0), (4, 1), (6, 0), (6, 1)]


def test_more_workers_fewer_delays_with_common_random_numbers() -> None:
    seen: list[int] = []
    points = sweep(
        SMALL,
        {"workers": [3, 4, 6]},
        seeds=[0, 1, 2],
        processes=1,
        progress=lambda done, total: seen.append(done),
    )
    assert seen == list(range(1, 10))
    rates = {p["workers"]: e for p, e in aggregate(points, "delay_rate")}
    assert rates[3].mean > rates[4].mean > rates[6].mean
    for seed in (0, 1, 2):  # per seed, not only on average
        by_workers = {p.params["workers"]: p.summary.delay_rate for p in points if p.seed == seed}
        assert by_workers[3] >= by_workers[4] >= by_workers[6]


@pytest.mark.parametrize(
    ("text", "slo"),
    [
        ("delay_rate<=1%", Slo("delay_rate", "<=", 0.01)),
        (" p95_s < 30 ", Slo("p95_s", "<", 30.0)),
        ("utilisation>=0.5", Slo("utilisation", ">=", 0.5)),
    ],
)
def test_parse_slo(text: str, slo: Slo) -> None:
    assert parse_slo(text) == slo


def test_parse_slo_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="delay_rate<=1%"):
        parse_slo("delay rate is low")


def test_slo_judges_the_interval_when_conservative() -> None:
    slo = Slo("delay_rate", "<=", 0.01)
    assert slo.met_by(Estimate(0.008, 0.006, 0.010))
    assert not slo.met_by(Estimate(0.008, 0.004, 0.012))
    assert slo.met_by(Estimate(0.008, 0.004, 0.012), conservative=False)


def test_metric_rejects_unknown_names() -> None:
    summary = sweep(SMALL, {"workers": [6]}, [0], processes=1)[0].summary
    assert metric(summary, "tickets_per_100_delayed") == 0.0  # nothing delayed
    with pytest.raises(KeyError):
        metric(summary, "tickets_by_reason")


@pytest.mark.parametrize("answer", [1, 5, 6, 17, 40])
def test_search_finds_the_smallest_count(answer: int) -> None:
    calls: list[int] = []

    def meets(n: int) -> bool:
        calls.append(n)
        return n >= answer

    assert _search(meets, 1, 64) == answer
    assert len(calls) <= 2 * 6 + 2
    assert _search(lambda n: False, 1, 64) is None


def test_capacity_agrees_with_erlang_c() -> None:
    # M/M/c with λ = 9, μ = 1: Wq is 0.669 (c = 10), 0.215 (11), 0.089 (12).
    model = PipelineModel.mmc(9.0, 1.0, 10, 10_000)
    plan = capacity(model, "mean_queue_wait_s<=0.15", seeds=(0, 1, 2), processes=2)
    assert plan.workers == 12
    assert set(plan.tried) >= {10, 11, 12}
    assert plan.tried[12].hi <= 0.15 < plan.tried[11].hi


def test_capacity_holds_the_peak() -> None:
    assert at_peak(SMALL).arrivals == LoadShape.constant(60)
    peak = capacity(SMALL, "delay_rate<=1%", seeds=(0, 1), processes=1)
    shaped = capacity(SMALL, "delay_rate<=1%", seeds=(0, 1), processes=1, hold_peak=False)
    assert peak.workers is not None and shaped.workers is not None
    assert peak.workers >= int(60 * SMALL.job_mean_s) + 1
    assert shaped.workers <= peak.workers
