import math

import numpy as np
import pytest

from fakalab.simulate.buyer import Timeline, file_tickets, queue_stale_at

INF, NAN = math.inf, math.nan


def _tickets(
    changes: list[list[float]],
    etas: list[list[float]],
    delivered: list[float],
    patience: list[float],
    queue_stale: list[float] | None = None,
) -> tuple[list[float], list[int]]:
    timeline = Timeline(
        np.array(changes, dtype=float),
        np.array(etas, dtype=float),
        np.array(delivered),
        None if queue_stale is None else 1,
        None if queue_stale is None else np.array(queue_stale),
    )
    result = file_tickets(timeline, np.array(patience), max_wait_s=100.0, eta_grace_s=1.0)
    return result.at.tolist(), result.reason.tolist()


def test_ticket_rules() -> None:
    changes = [
        [0, 2, 3, 6],  # changes often enough, delivered at 6: no ticket
        [0, 30, 31, 40],  # payment confirmation took 30 s > patience 10: stale at 10
        [0, 2, 3, 20],  # first ETA 5 (shown at 2) passed at 6 (+1 grace); 3 showed a later one
        [0, 2, INF, INF],  # never delivered, endless patience: gave up at 100
        [INF, INF, INF, INF],  # never paid: never watched
    ]
    no_eta = [NAN] * 4
    etas = [[NAN, 5, 6, NAN], no_eta, [NAN, 5, 15, NAN], no_eta, no_eta]
    delivered = [6, 40, 20, INF, INF]
    at, reason = _tickets(changes, etas, delivered, [10, 10, 10, 1e9, 10])
    assert math.isnan(at[0]) and reason[0] == -1
    assert (at[1], reason[1]) == (10, 0)
    assert (at[2], reason[2]) == (6, 1)
    assert (at[3], reason[3]) == (100, 2)
    assert math.isnan(at[4]) and reason[4] == -1


def test_the_first_eta_is_the_promise() -> None:
    # First ETA 10 (kept: delivered at 8); a later, earlier ETA 5 does not count, as for the
    # Locust personas.
    at, _ = _tickets([[0, 2, 3, 8]], [[NAN, 10, 5, NAN]], [8], [30])
    assert math.isnan(at[0])


def test_a_promise_kept_within_the_grace_is_no_ticket() -> None:
    at, _ = _tickets([[0, 2, 5.5]], [[NAN, 5, NAN]], [5.5], [10])
    assert math.isnan(at[0])


def test_one_ticket_only_and_gave_up_only_without_one() -> None:
    at, reason = _tickets([[0, INF]], [[NAN, NAN]], [INF], [10])
    assert (at, reason) == ([10], [0])  # stale first; no second ticket when giving up


def test_no_ticket_after_delivery() -> None:
    at, _ = _tickets([[0, 1, 2]], [[NAN, NAN, NAN]], [2], [5])
    assert math.isnan(at[0])


def test_queue_moves_replace_the_gap_after_payment() -> None:
    changes, etas, delivered, patience = [[0, 1, 50, 51]], [[NAN] * 4], [51], [30]
    assert _tickets(changes, etas, delivered, patience) == ([31.0], [0])
    at, _ = _tickets(changes, etas, delivered, patience, queue_stale=[INF])
    assert math.isnan(at[0])  # the queue moved often enough between 1 and 50
    assert _tickets(changes, etas, delivered, patience, queue_stale=[40.0]) == ([40.0], [0])


def test_queue_stale_follows_the_queue() -> None:
    enqueued = np.array([0.0, 0.1, 0.2, 0.3, 0.3])
    starts = np.array([0.0, 1.0, 2.0, 20.0, NAN])
    patience = np.array([5.0, 5.0, 5.0, 1.5, 30.0])
    at = queue_stale_at(enqueued, patience, starts)
    assert at[:3].tolist() == [INF, INF, INF]
    assert at[3] == pytest.approx(3.5)  # no start between 2 and 20
    assert at[4] == pytest.approx(50.0)  # its last queue move: the start at 20


def _polled(
    changes: list[float], etas: list[float], delivered: float, patience: float
) -> tuple[float, int]:
    result = file_tickets(
        Timeline(np.array([changes]), np.array([etas]), np.array([delivered])),
        np.array([patience]),
        max_wait_s=100.0,
        eta_grace_s=0.0,
        poll_s=3.0,
    )
    return result.at[0], int(result.reason[0])


def test_buyers_who_poll_notice_at_their_looks() -> None:
    # Looks at 0, 3, 6, 9, ...: the ETA 5 has passed at the look at 6.
    assert _polled([0, 2, 8], [NAN, 5, NAN], 8, 60) == (6.0, 1)
    # Delivered at 5.5, before the look at 6: nobody saw the ETA pass.
    assert math.isnan(_polled([0, 2, 5.5], [NAN, 5, NAN], 5.5, 60)[0])
    # Stale: the view of 0 is 4 s old at the look at 6; the change at 7 is only seen at 9.
    assert _polled([0, 7, 20], [NAN] * 3, 20, 4) == (6.0, 0)
    # The change at 5.5 is seen at 6, when the view would have turned stale: no ticket.
    assert math.isnan(_polled([0, 5.5, 6.5], [NAN] * 3, 6.5, 4)[0])
    # Giving up happens at the first look at or after 100 s.
    assert _polled([0, INF], [NAN, NAN], INF, 1e9) == (102.0, 2)


def test_queue_stale_with_looks() -> None:
    starts = np.array([0.0, 7.0, 20.0])
    at = queue_stale_at(
        np.zeros(3), np.full(3, 4.0), starts, watch_from=np.full(3, -1.0), poll_s=3.0
    )
    # Looks at -1, 2, 5, 8, 11, 14, ...; all three orders joined at 0.
    assert at[0] == INF  # served at once
    # Joined at 0 (seen at 2); at the look at 8, 6 s later, the start at 7 is seen: no ticket.
    assert at[1] == INF
    # The third also sees the start at 7 at the look at 8; nothing then moves until 20, so
    # the look at 14 (after 8 + 4) finds the view stale.
    assert at[2] == pytest.approx(14.0)
