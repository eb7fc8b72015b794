"""simulate.schedule places exactly the orders of the drill's dispatcher and journeys.

The drill's side runs in a child process (``journey_probe.py``): importing Locust patches the
standard library with gevent, which must not happen inside the test process.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from fakalab.contract.scenario import load_scenario
from fakalab.simulate.schedule import drill_orders

PROBE = Path(__file__).parent / "journey_probe.py"


def _dispatched(name: str, duration: float, traced: float = 0.0) -> list[list[object]]:
    done = subprocess.run([sys.executable, str(PROBE), name, str(duration), str(traced)],
                          capture_output=True, text=True, check=True, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("name", "traced"), [("flash-sale", 0.0), ("steady", 0.0),
                                              ("upgrade-vs-sync", 0.0), ("risk-ab", 0.0),
                                              ("risk-ab", 1.0), ("risk-ab", 0.5)])
def test_the_schedule_is_the_drills(name: str, traced: float) -> None:
    """Also when the drill traces its journeys (its default): the trace ids and the sampling
    draw must not come from the journey's seeded random source, or a traced drill would choose
    other products than its schedule (risk-ab has two)."""
    expected = _dispatched(name, 40.0, traced)
    got = drill_orders(load_scenario(name), duration_s=40.0)
    assert len(got.created_at) == len(expected) > 20
    for k, (offset, persona, product, patience, sse) in enumerate(expected):
        assert got.created_at[k] == offset and got.persona[k] == persona
        assert got.product[k] == product and got.sse[k] == sse
        assert (patience is None and math.isnan(got.patience_s[k])) or \
            got.patience_s[k] == patience


def test_a_longer_drill_starts_with_the_same_orders() -> None:
    scenario = load_scenario("flash-sale")
    short, long = drill_orders(scenario, duration_s=60), drill_orders(scenario)
    assert long.created_at[: len(short.created_at)] == short.created_at
    assert max(long.created_at) < scenario.duration


def test_generators_split_the_rate_with_seeds_of_their_own() -> None:
    scenario = load_scenario("steady")
    one, two = drill_orders(scenario), drill_orders(scenario, generators=2)
    assert one.created_at != two.created_at
    assert len(two.created_at) == pytest.approx(len(one.created_at), rel=0.15)
