import math

import numpy as np
import pytest
import simpy

from fakalab.simulate.dists import Dist
from fakalab.simulate.faults import FaultSchedule
from fakalab.simulate.params import Fault, Stage
from fakalab.simulate.workers import HeapQueue, PoolInputs, RetryDraws, run_pool


def _inputs(paid_at: list[float], priority: list[int], stages: int, service: float) -> PoolInputs:
    n = len(paid_at)
    return PoolInputs(
        queue_order=sorted(range(n), key=lambda i: paid_at[i]),
        paid_at=paid_at,
        priority=priority,
        first_service=[[service] * n for _ in range(stages)],
        first_uniform=[[0.5] * n for _ in range(stages)],
    )


def _retries(stages: list[Stage]) -> list[RetryDraws]:
    return [RetryDraws(s, np.random.default_rng(k)) for k, s in enumerate(stages)]


def _run(stages: list[Stage], inputs: PoolInputs, workers: int = 1, **kwargs: object):  # type: ignore[no-untyped-def]
    return run_pool(
        workers,
        stages,
        inputs,
        FaultSchedule(kwargs.pop("faults", [])),  # type: ignore[arg-type]
        _retries(stages),
        **kwargs,
    )  # type: ignore[arg-type]


def test_heap_queue_serves_by_class_then_arrival() -> None:
    queue = HeapQueue(simpy.Environment(), classes=2)
    for key, cls in [(1 * 10 + 0, 1), (0 * 10 + 1, 0), (1 * 10 + 2, 1), (0 * 10 + 3, 0)]:
        queue.put(key, cls)
    assert queue.ahead_of(0) == 2 and queue.ahead_of(1) == 4
    assert [queue.get(10) for _ in range(4)] == [1, 3, 10, 12]


def test_urgent_orders_overtake_in_the_queue() -> None:
    stage = Stage(name="work", service=Dist.const(1.0), timeout_s=None)
    records = _run([stage], _inputs([0.0, 0.1, 0.2, 0.3], [1, 1, 0, 1], 1, 1.0), classes=2)
    assert list(records.started_at) == [0.0, 2.0, 1.0, 3.0]
    assert list(records.delivered_at) == [1.0, 3.0, 2.0, 4.0]
    assert list(records.ahead) == [0, 0, 0, 2]  # waiting orders it would queue behind


def test_timeouts_retry_with_backoff_then_need_attention() -> None:
    stage = Stage(
        name="supplier",
        service=Dist.const(5.0),
        timeout_s=1.0,
        attempts=3,
        backoff_s=0.5,
        backoff_max_s=2.0,
    )
    records = _run([stage], _inputs([0.0], [0], 1, 5.0))
    assert list(records.failed_stage) == [0] and math.isnan(records.delivered_at[0])
    # 3 timed-out attempts, backoffs 0.5 and 1.0 times a jitter in [0.5, 1.5).
    assert 3 + 0.75 <= records.busy_s < 3 + 2.25


def test_failing_notification_does_not_block_delivery() -> None:
    stages = [
        Stage(name="delivery", service=Dist.const(1.0)),
        Stage(
            name="notification",
            service=Dist.const(1.0),
            failure_prob=1.0,
            attempts=2,
            backoff_s=0.0,
            blocks_delivery=False,
        ),
    ]
    records = _run(stages, _inputs([0.0], [0], 2, 1.0))
    assert list(records.delivered_at) == [1.0] and list(records.failed_stage) == [-1]
    assert list(records.stage_end[1]) == [3.0]


def test_a_fault_window_slows_attempts_that_start_inside_it() -> None:
    stage = Stage(name="risk", service=Dist.const(1.0), timeout_s=None)
    fault = Fault(target="risk", start_s=10, end_s=20, latency_factor=3, added_latency_s=1)
    records = _run([stage], _inputs([0.0, 15.0, 25.0], [0, 0, 0], 1, 1.0), faults=[fault])
    assert [e - s for s, e in zip(records.stage_start[0], records.stage_end[0], strict=True)] == [
        1.0,
        4.0,
        1.0,
    ]


def test_horizon_leaves_orders_unfinished() -> None:
    stages = [
        Stage(name="work", service=Dist.const(1.0), timeout_s=None),
        Stage(name="notify", service=Dist.const(1.0), timeout_s=None, blocks_delivery=False),
    ]
    records = _run(stages, _inputs([0.0, 0.0, 0.0], [0, 0, 0], 2, 1.0), horizon_s=3.5)
    assert list(records.delivered_at)[:2] == [1.0, 3.0]  # the second before its notification
    assert math.isnan(records.delivered_at[2])
    assert records.stage_end[1][0] == 2.0 and math.isnan(records.stage_end[1][1])


def test_retry_draws_are_buffered_from_one_stream() -> None:
    stage = Stage(name="x", service=Dist.exp(1.0))
    first = [RetryDraws(stage, np.random.default_rng(5)).next() for _ in range(1)]
    draws = RetryDraws(stage, np.random.default_rng(5))
    again = [draws.next() for _ in range(2000)]
    assert again[0] == first[0]
    assert all(0.5 <= jitter < 1.5 and 0 <= u < 1 for _, u, jitter in again)
    assert np.mean([s for s, _, _ in again]) == pytest.approx(1.0, rel=0.1)


def _shop_pool(workers: int, paid_at: list[float]):  # type: ignore[no-untyped-def]
    """A risk check through one upstream that times out every attempt (2 s, 3 attempts, no
    backoff, a breaker opening on 5 failures), one order per worker."""
    from fakalab.simulate.calls import Calls
    from fakalab.simulate.params import Upstream, UpstreamFault

    stage = Stage(name="risk_check", service=Dist.const(0.0), upstreams=("risk",))
    risk = Upstream(name="risk", latency=Dist.const(0.01), backoff_base_s=0.0)
    hang = UpstreamFault(target="risk", start_s=0.0, end_s=100.0, fails=True, fail_after_s=None)
    calls = Calls([risk], [hang], {"risk": np.random.default_rng(0)})
    records = _run([stage], _inputs(paid_at, [0] * len(paid_at), 1, 0.0), workers=workers,
                   calls=calls)
    return records, calls


def test_the_breaker_counts_every_workers_failures_in_the_order_they_happen() -> None:
    """The shop's breaker (one per upstream, shared by the workers) opens at the fifth failure,
    whichever worker's: order 0's second attempt ends at 4.0 s after the first attempts of all
    four have failed (2.0, 2.5, 3.0, 3.5 s), so every third attempt — 4.0 s for order 0, 4.5 s
    for order 1, 5.0 and 5.5 s for the others — is refused at once. Planned a pass at a time,
    order 0's third attempt went out (it saw only its own failures) and ended at 6.0 s."""
    records, calls = _shop_pool(4, [0.0, 0.5, 1.0, 1.5])
    assert list(records.stage_end[0]) == pytest.approx([4.0, 4.5, 5.0, 5.5])
    assert calls.attempts["risk"] == 8  # two attempts each, the third refused
    alone, _ = _shop_pool(1, [0.0])
    assert list(alone.stage_end[0]) == pytest.approx([6.0])  # three attempts: 4 < 5 failures
