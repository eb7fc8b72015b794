import numpy as np
import pytest
from pydantic import ValidationError

from fakalab.simulate.dists import Dist
from fakalab.simulate.erlang import mmc_mean_wait
from fakalab.simulate.model import SimulationResult, run
from fakalab.simulate.params import Buyer, Fault, LoadShape, PipelineModel, PriorityClass
from tests.simulate.reference_loop import reference_starts

PEAK = LoadShape(points=((0, 10), (300, 10), (330, 40), (600, 40), (630, 10)))
TWO_CLASSES = (PriorityClass(name="vip", share=0.2), PriorityClass(name="standard", share=0.8))
ALLOCATION_FAULT = Fault(target="allocation", start_s=350, end_s=650, latency_factor=4)


def _flash_sale(**changes: object) -> PipelineModel:
    base = PipelineModel(duration_s=1200, workers=4, arrivals=PEAK, classes=TWO_CLASSES)
    return base.model_copy(update=changes)


@pytest.fixture(scope="module")
def flash_sale() -> SimulationResult:
    return run(_flash_sale(faults=(ALLOCATION_FAULT,)), seed=3)


def test_same_seed_gives_identical_records(flash_sale: SimulationResult) -> None:
    again = run(flash_sale.model, seed=3)
    for name, column in flash_sale.records.columns().items():
        assert np.array_equal(column, again.records.columns()[name], equal_nan=True), name
    assert again.summary == flash_sale.summary


def test_other_seed_differs(flash_sale: SimulationResult) -> None:
    assert run(flash_sale.model, seed=4).summary != flash_sale.summary


def test_worker_pool_matches_the_reference_loop() -> None:
    result = run(PipelineModel.mmc(2.7, 1.0, 3, 3000), seed=9)
    records = result.records
    services = records.stage_time[:, 0]
    expected = reference_starts(records.paid_at.tolist(), services.tolist(), [0] * len(records), 3)
    assert records.paid_at + records.queue_wait == pytest.approx(expected, abs=1e-9)


def test_pipeline_as_m_m_c_is_near_erlang_c() -> None:
    summary = run(PipelineModel.mmc(8.0, 1.0, 10, 60_000), seed=1).summary
    assert summary.mean_queue_wait_s == pytest.approx(mmc_mean_wait(8, 1, 10), rel=0.15)
    assert summary.utilisation == pytest.approx(0.8, abs=0.02)


def test_common_random_numbers_across_worker_counts(flash_sale: SimulationResult) -> None:
    more = run(flash_sale.model.model_copy(update={"workers": 6}), seed=3)
    assert np.array_equal(more.records.created_at, flash_sale.records.created_at)
    assert np.array_equal(more.records.paid_at, flash_sale.records.paid_at)
    assert more.summary.delay_rate < flash_sale.summary.delay_rate


def test_the_peak_and_the_fault_delay_orders(flash_sale: SimulationResult) -> None:
    summary = flash_sale.summary
    assert 0 < summary.delay_rate < 1
    calm = run(_flash_sale(arrivals=LoadShape.constant(10)), seed=3).summary
    assert calm.delay_rate == 0
    by_window = {w.start_s: w for w in flash_sale.windows}
    assert by_window[0.0].delay_rate == 0 and by_window[540.0].delay_rate > 0.5
    assert sum(w.paid for w in flash_sale.windows) == summary.paid


def test_priority_lanes_protect_urgent_orders(flash_sale: SimulationResult) -> None:
    records = flash_sale.records
    vip, standard = (
        records.queue_wait[records.priority == 0],
        records.queue_wait[records.priority == 1],
    )
    assert np.nanmean(vip) < np.nanmean(standard) / 5
    fifo = run(flash_sale.model.model_copy(update={"priority_lanes": False}), seed=3).records
    assert np.nanmean(fifo.queue_wait[fifo.priority == 0]) > np.nanmean(vip) * 5


def test_what_buyers_see_drives_their_tickets(flash_sale: SimulationResult) -> None:
    def with_buyer(**fields: object) -> SimulationResult:
        return run(flash_sale.model.model_copy(update={"buyer": Buyer(**fields)}), 3)  # type: ignore[arg-type]

    opaque, stage_only = with_buyer(transparency="opaque"), with_buyer(queue_updates=False)
    assert opaque.summary.delay_rate == flash_sale.summary.delay_rate  # same orders, same fate
    stale = {
        name: r.summary.tickets_by_reason["stale_status"]
        for name, r in [("transparent", flash_sale), ("opaque", opaque), ("stage_only", stage_only)]
    }
    assert stale["transparent"] < stale["stage_only"] < stale["opaque"]
    assert opaque.summary.tickets_by_reason["eta_passed"] == 0
    assert flash_sale.summary.tickets_by_reason["eta_passed"] > 0  # promises broken at the peak
    assert flash_sale.records.eta_at[flash_sale.records.paid].min() > 0


def test_generous_grace_and_accurate_etas_cut_eta_tickets(flash_sale: SimulationResult) -> None:
    lenient = run(flash_sale.model.model_copy(update={"buyer": Buyer(eta_grace_s=600)}), 3)
    assert lenient.summary.tickets_by_reason["eta_passed"] == 0


def test_records_are_consistent(flash_sale: SimulationResult) -> None:
    r = flash_sale.records
    done = ~np.isnan(r.delivered_at)
    assert (r.paid_at[r.paid] >= r.paid_click_at[r.paid]).all()
    assert (r.paid_click_at[r.paid] >= r.created_at[r.paid]).all()
    assert (r.queue_wait[r.paid] >= 0).all()
    assert (r.delivered_at[done] >= r.paid_at[done]).all()
    assert np.array_equal(r.delayed, r.paid & ~(r.delivered_at - r.paid_at <= 30.0))
    ticketed = r.ticket_reason >= 0
    assert np.array_equal(ticketed, ~np.isnan(r.ticket_at))
    assert (r.ticket_at[ticketed] >= r.paid_click_at[ticketed]).all()
    assert set(r.columns()) >= {"created_at", "paid_at", "delivered_at", "allocation_time"}


def test_failures_leave_orders_needing_attention() -> None:
    broken = Fault(target="delivery", start_s=0, end_s=100, failure_prob=1.0)
    result = run(PipelineModel(duration_s=200, faults=(broken,)), seed=1)
    failed = result.records.failed_stage == 2
    assert failed.any() and np.isnan(result.records.delivered_at[failed]).all()
    assert result.summary.needs_attention == failed.sum()
    assert result.records.delayed[failed].all()


def test_a_horizon_cuts_the_run() -> None:
    model = PipelineModel(duration_s=300, horizon_s=200, arrivals=LoadShape.constant(40))
    result = run(model, seed=1)
    assert np.nanmax(result.records.delivered_at) <= 200
    assert result.summary.delivered < result.summary.paid


@pytest.mark.parametrize(
    "changes",
    [
        {"orders": None},
        {"duration_s": 10.0},
        {"faults": [{"target": "nowhere", "start_s": 0, "end_s": 1}]},
        {"classes": [{"name": "a", "share": 0.5}]},
        {"stages": [{"name": "n", "service": Dist.const(1.0), "blocks_delivery": False}]},
    ],
)
def test_inconsistent_models_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PipelineModel.model_validate({"orders": 10, **changes})


def test_an_arrival_trace_replaces_the_load_shape() -> None:
    trace = (0.5, 1.0, 1.0, 2.5, 7.0, 12.0)
    model = PipelineModel(arrivals=LoadShape.constant(50.0), duration_s=10.0, arrival_times=trace)
    for seed in (0, 1):
        assert run(model, seed).records.created_at.tolist() == [0.5, 1.0, 1.0, 2.5, 7.0]
    by_count = model.model_copy(update={"duration_s": None, "orders": 3})
    assert run(by_count, 0).records.created_at.tolist() == [0.5, 1.0, 1.0]
    with pytest.raises(ValidationError):
        PipelineModel(duration_s=10.0, arrival_times=(2.0, 1.0))
    with pytest.raises(ValidationError):
        PipelineModel(duration_s=10.0, arrival_times=(-1.0, 1.0))
