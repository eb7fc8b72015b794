"""The chaos monkey's fault timeline (pure) and its expansion into a scenario's drill plan."""

from __future__ import annotations

import pytest
import yaml

from fakalab.chaos.plan import Plan
from fakalab.contract.monkey import Monkey, monkey_faults
from fakalab.contract.scenario import ScenarioError, dump_scenario, load_scenario, parse_scenario


def _plan(faults: list[dict[str, object]]) -> Plan:
    return Plan.model_validate({"title": "t", "faults": faults})


def test_same_seed_same_timeline_other_seed_other_timeline() -> None:
    monkey = Monkey(network_per_min=30, business_per_min=30, kill=["shop", "supplier-a"])
    first, again = monkey_faults(monkey, 20, seed=5), monkey_faults(monkey, 20, seed=5)
    assert first == again
    assert monkey_faults(monkey, 20, seed=6) != first
    assert monkey_faults(monkey.model_copy(update={"seed": 6}), 20, seed=5) == \
        monkey_faults(monkey, 20, seed=6)


@pytest.mark.parametrize("seed", range(30))
def test_timelines_are_valid_plans_inside_the_window(seed: int) -> None:
    monkey = Monkey(network_per_min=40, business_per_min=40, kill=["shop", "shop", "risk"],
                    start=1.0, quiet=3.0)
    faults = monkey_faults(monkey, 15, seed)
    plan = _plan(faults)  # validates every fault, ids and kill overlaps
    assert all(f.start >= 1.0 and f.end <= 12.0 for f in plan.faults)
    kills = [f for f in plan.faults if f.fault.kind == "kill"]
    assert sorted(f.service for f in kills) == ["risk", "shop", "shop"]
    network = [f for f in plan.faults if "->" in f.link and f.fault.kind in ("toxic", "down")]
    business = [f for f in plan.faults if f.fault.kind == "business"]
    assert len(network) == round(40 * 11 / 60) and len(business) == round(40 * 11 / 60)
    # a killed upstream restarts with default switches: no business fault targets it
    assert all(f.service != "risk" for f in business)
    assert len({f.id for f in plan.faults}) == len(plan.faults)


def test_nothing_to_do_gives_only_the_kills() -> None:
    faults = monkey_faults(Monkey(network_per_min=0, business_per_min=0, kill=["shop"]), 10, 1)
    assert [(f["link"], f["fault"]) for f in faults] == [("shop", "kill")]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("kill", ["mainframe"], "cannot kill mainframe"),
    ("links", ["bank"], "no upstream bank"),
    ("fault_s", [3, 1], "0 < low <= high"),
    ("down_s", [1, 60], "outlast"),
    ("network_per_min", -1, "greater than or equal to 0"),
])
def test_bad_monkey_settings_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario("chaos-monkey", [f"monkey.{field}={yaml.safe_dump(value).strip()}"])
    assert message in str(caught.value)
    assert "monkey" in str(caught.value)


def test_a_window_too_short_for_the_faults_is_refused() -> None:
    with pytest.raises(ScenarioError, match="the monkey needs at least"):
        load_scenario("chaos-monkey", ["duration=4s"])


def test_the_builtin_expands_into_explicit_faults_that_survive_a_round_trip() -> None:
    scenario = load_scenario("chaos-monkey", ["duration=12s", "seed=9"])
    assert scenario.monkey is None and scenario.drill is not None
    kinds = {f.fault.kind for f in scenario.drill.faults}
    assert "kill" in kinds
    assert {f.service for f in scenario.drill.faults if f.fault.kind == "kill"} == \
        {"shop", "supplier-a"}
    text = dump_scenario(scenario)
    assert "monkey:" not in text
    again = parse_scenario(text, "resolved.yaml")
    assert again.drill == scenario.drill  # re-reading the run's scenario.yaml adds nothing
    assert again.slos.delay_rate is None and again.slos.error_rate is None  # null stays null
    assert load_scenario("chaos-monkey", ["duration=12s", "seed=10"]).drill != scenario.drill


def test_monkey_faults_are_added_to_a_scenarios_own_faults() -> None:
    scenario = load_scenario("chaos-monkey", [
        "duration=20s", "drill={faults: [{id: mine, link: shop->risk, fault: down, "
        "start: 2s, duration: 1s}]}"])
    assert scenario.drill is not None
    assert scenario.drill.faults[0].id == "mine"
    assert all(f.id.startswith("monkey-") for f in scenario.drill.faults[1:])


def test_a_payment_channel_may_be_killed_it_keeps_its_payments_in_a_journal() -> None:
    scenario = load_scenario("chaos-monkey", ["duration=12s", "monkey.kill=[payment-a]"])
    assert scenario.drill is not None
    assert [f.service for f in scenario.drill.faults if f.fault.kind == "kill"] == ["payment-a"]
