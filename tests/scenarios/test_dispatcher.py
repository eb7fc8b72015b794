"""The dispatcher's end: once stopped it takes no arrival, and its last summary says so."""

from __future__ import annotations

import random
from typing import Any

import gevent

from fakalab.contract.scenario import parse_scenario
from fakalab.scenarios.locust.dispatcher import Dispatcher

SCENARIO = """\
name: brief
duration: 5s
seed: 1
load:
  shape: {kind: steady, rate_per_s: 40}
"""


def test_a_stopped_dispatcher_takes_no_more_arrivals_and_its_last_summary_is_final() -> None:
    summaries: list[dict[str, Any]] = []

    def journey(persona: str, rng: random.Random) -> None:
        gevent.sleep(30)  # still going when the run ends

    dispatcher = Dispatcher(parse_scenario(SCENARIO), journey, summaries.append, index=1,
                            processes=2, generator="here")
    running = gevent.spawn(dispatcher.run)
    gevent.sleep(0.5)
    dispatcher.stop()
    final = summaries[-1]
    assert final["schedule_done"] and final["in_flight"] == 0
    assert (final["generator"], final["index"], final["share"]) == ("here", 1, 0.5)
    assert 0 < final["started"] == final["scheduled"] < 40
    running.join(timeout=5)
    assert running.dead and dispatcher.scheduled == final["scheduled"]
