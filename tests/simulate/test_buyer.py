import math

import numpy as np
import pytest

from simulate.buyer import QueueEta, Timeline, file_tickets, queue_triggers

INF, NAN = math.inf, math.nan


def _tickets(
    changes: list[list[float]],
    etas: list[list[float]],
    delivered: list[float],
    patience: list[float],
    **timeline: object,
) -> tuple[list[float], list[int]]:
    result = file_tickets(
        Timeline(np.array(changes), np.array(etas), np.array(delivered), **timeline),  # type: ignore[arg-type]
        np.array(patience),
        max_wait_s=100.0,
        eta_grace_s=1.0,
    )
    return result.at.tolist(), result.reason.tolist()


def test_ticket_rules() -> None:
    changes = [
        [0, 2, 3, 6],  # changes often enough, delivered at 6: no ticket
        [0, 30, 31, 40],  # payment confirmation took 30 s > patience 10: stale at 10
        [0, 2, 19, 20],  # ETA 5 shown at 2 passed at 6 (+1 grace), before patience (12)
        [0, 2, INF, INF],  # never delivered, endless patience: gave up at 100
        [INF, INF, INF, INF],  # never paid: never watched
    ]
    no_eta = [NAN] * 4
    etas = [no_eta, no_eta, [NAN, 5, NAN, NAN], no_eta, no_eta]
    delivered = [6, 40, 20, INF, INF]
    at, reason = _tickets(changes, etas, delivered, [10, 10, 10, 1e9, 10])
    assert math.isnan(at[0]) and reason[0] == -1
    assert (at[1], reason[1]) == (10, 0)
    assert (at[2], reason[2]) == (6, 1)
    assert (at[3], reason[3]) == (100, 2)
    assert math.isnan(at[4]) and reason[4] == -1


def test_one_ticket_only_and_gave_up_only_without_one() -> None:
    at, reason = _tickets([[0, INF]], [[NAN, NAN]], [INF], [10])
    assert (at, reason) == ([10], [0])  # stale first; no second ticket when giving up


def test_no_ticket_after_delivery() -> None:
    at, _ = _tickets([[0, 1, 2]], [[NAN, NAN, NAN]], [2], [5])
    assert math.isnan(at[0])


def test_queue_phase_override() -> None:
    changes, etas, delivered, patience = [[0, 1, 50, 51]], [[NAN] * 4], [51], [30]
    assert _tickets(changes, etas, delivered, patience) == ([31.0], [0])
    at, _ = _tickets(
        changes, etas, delivered, patience,
        queued_column=1, queue_at=np.array([INF]), queue_reason=np.array([0]),
    )
    assert math.isnan(at[0])  # the queue moved often enough between 1 and 50


def test_queue_triggers_follow_the_queue() -> None:
    enqueued = np.array([0.0, 0.1, 0.2, 0.3, 0.3])
    starts = np.array([0.0, 1.0, 2.0, 20.0, NAN])
    patience = np.array([5.0, 5.0, 5.0, 1.5, 30.0])
    first_eta = np.full(5, NAN)
    eta = QueueEta(per_order_s=1.0, own_s=1.0, workers=1)
    at, reason = queue_triggers(enqueued, first_eta, patience, starts, eta, eta_grace_s=1.0)
    assert at[:3].tolist() == [INF, INF, INF]
    assert (at[3], reason[3]) == (pytest.approx(3.5), 0)  # no start between 2 and 20
    # Never started: at 2 the shop showed ETA 2 + 1 ahead (the order started at 20) + 1 own;
    # with 1 s of grace it passed at 5, long before the next start.
    assert (at[4], reason[4]) == (pytest.approx(5.0), 1)
