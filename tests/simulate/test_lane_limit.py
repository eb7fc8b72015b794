"""The lane wait limit: the model's queue discipline is the shop's `WorkQueue` (reference_shop/
queue.py), on a hand-worked case and against the real `WorkQueue` driven on the same arrivals."""

import math

import numpy as np
import pytest

from fakalab.contract.scenario import load_scenario
from fakalab.reference_shop.queue import WorkQueue
from fakalab.simulate.dists import Dist
from fakalab.simulate.faults import FaultSchedule
from fakalab.simulate.params import Stage
from fakalab.simulate.scenario_model import scenario_model
from fakalab.simulate.workers import PoolInputs, RetryDraws, run_pool

STAGE = Stage(name="work", service=Dist.const(1.0), timeout_s=None, attempts=1)


def _starts(paid_at: list[float], priority: list[int], service: list[float], workers: int,
            max_wait_s: float | None) -> list[float]:
    n = len(paid_at)
    inputs = PoolInputs(queue_order=sorted(range(n), key=lambda i: paid_at[i]), paid_at=paid_at,
                        priority=priority, first_service=[service], first_uniform=[[0.5] * n])
    records = run_pool(workers, [STAGE], inputs, FaultSchedule([]),
                       [RetryDraws(STAGE, np.random.default_rng(0))],
                       classes=max(priority) + 1, lane_max_wait_s=max_wait_s)
    return list(records.started_at)


def _shop_starts(paid_at: list[float], priority: list[int], service: list[float], workers: int,
                 max_wait_s: float | None) -> list[float]:
    """The same arrivals through the shop's own WorkQueue: each worker, when free, pops at
    that moment (`pop_nowait(now)`, as `pop(clock)` does)."""
    queue = WorkQueue(lanes=True, max_wait_s=max_wait_s)
    order = sorted(range(len(paid_at)), key=lambda i: paid_at[i])
    free = [0.0] * workers
    starts = [math.nan] * len(paid_at)
    nxt = 0
    while True:
        w = min(range(workers), key=lambda k: free[k])
        now = free[w]
        while nxt < len(order) and paid_at[order[nxt]] <= now:
            queue.push(str(order[nxt]), priority[order[nxt]], paid_at[order[nxt]])
            nxt += 1
        if not len(queue):
            if nxt == len(order):
                return starts
            free[w] = paid_at[order[nxt]]  # idle until the next order
            continue
        popped = queue.pop_nowait(now)
        assert popped is not None
        i = int(popped)
        starts[i], free[w] = now, now + service[i]


def test_hand_worked_case() -> None:
    """One worker, 1 s an order, a limit of 2.5 s: the steam order (class 1) paid at 0.1 waits
    behind VIP orders until, at 3.0, it has waited 2.9 s and is older than the VIP head (paid
    at 0.4), so it is served then; strictly it would wait until the VIPs are done (6.0)."""
    paid = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    cls = [0, 1, 0, 0, 0, 0, 0]
    service = [1.0] * 7
    assert _starts(paid, cls, service, 1, None) == [0.0, 6.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert _starts(paid, cls, service, 1, 2.5) == pytest.approx([0.0, 3.0, 1.0, 2.0, 4.0, 5.0,
                                                                6.0])
    assert _shop_starts(paid, cls, service, 1, 2.5) == pytest.approx(
        _starts(paid, cls, service, 1, 2.5))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("max_wait_s", [None, 0.5, 3.0])
def test_same_discipline_as_the_shop_queue(seed: int, max_wait_s: float | None) -> None:
    """Random arrivals at ρ ≈ 1.2 over three lanes (the last one starves without the limit),
    2 workers, random service times: every order starts at the same moment in both."""
    rng = np.random.default_rng(seed)
    n = 400
    paid = np.cumsum(rng.exponential(0.4, n)).tolist()
    cls = rng.choice(3, size=n, p=[0.3, 0.3, 0.4]).tolist()
    service = rng.exponential(0.95, n).tolist()
    ours = _starts(paid, cls, service, 2, max_wait_s)
    shop = _shop_starts(paid, cls, service, 2, max_wait_s)
    assert ours == pytest.approx(shop, abs=1e-9)
    waits = np.array(ours) - np.array(paid)
    if max_wait_s is not None:  # the limit acts: the last lane waits less than strictly
        strict = np.array(_starts(paid, cls, service, 2, None)) - np.array(paid)
        last = np.array(cls) == 2
        assert waits[last].max() < strict[last].max()


def test_the_scenario_takes_the_shops_limit() -> None:
    model, _ = scenario_model(load_scenario("steady", ["duration=20s"]))
    assert model.lane_max_wait_s == pytest.approx(model.sla_s / 3)
    model, _ = scenario_model(load_scenario("steady", ["duration=20s",
                                                           "shop.lane_max_wait_s=4"]))
    assert model.lane_max_wait_s == 4
    model, _ = scenario_model(load_scenario("steady", ["duration=20s",
                                                           "shop.priority_lanes=false"]))
    assert model.lane_max_wait_s is None
