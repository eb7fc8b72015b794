from pathlib import Path

import pytest

from fakalab.contract.overrides import apply_overrides, parse_override
from fakalab.contract.scenario import (
    ScenarioError,
    builtin_names,
    dump_scenario,
    load_scenario,
    parse_scenario,
)

GOOD = """\
name: mine
duration: 90s
load:
  shape: {kind: steady, rate_per_s: 2}
"""


def test_every_builtin_loads_and_round_trips() -> None:
    assert {"steady", "flash-sale", "payment-brownout", "supplier-outage",
            "risk-false-positives", "transparency-ab", "upgrade-vs-sync"} <= set(builtin_names())
    for name in builtin_names():
        scenario = load_scenario(name)
        assert parse_scenario(dump_scenario(scenario)) == scenario


def test_flash_sale_browns_out_payment_mid_spike() -> None:
    sale = load_scenario("flash-sale")
    assert sale.drill is not None and sale.load.shape.kind == "spike"
    fault = sale.drill.faults[0]
    assert fault.service == "payment-a"
    assert sale.load.shape.rate(fault.start) == sale.load.shape.peak()


def test_variants_apply_their_overrides() -> None:
    ab = load_scenario("transparency-ab")
    assert ab.variant("opaque").shop["transparency"] == "opaque"
    assert ab.variant("opaque").variants == []
    with pytest.raises(ScenarioError, match="no variant 'x'"):
        ab.variant("x")


def test_a_path_works_like_a_name(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD)
    scenario = load_scenario(str(path), ["load.shape.rate_per_s=7", "shop.workers=8"])
    assert scenario.duration == 90 and scenario.load.shape.peak() == 7
    assert scenario.shop == {"workers": 8}


def test_unknown_name() -> None:
    with pytest.raises(ScenarioError, match=r"built-ins: .*flash-sale"):
        load_scenario("no-such-thing")


@pytest.mark.parametrize(("text", "expected"), [
    (GOOD.replace("90s", "soon"), "<scenario>:2: duration: not a duration"),
    (GOOD.replace("rate_per_s: 2", "rate_per_s: -2"), "<scenario>:4: load.shape.rate_per_s:"),
    (GOOD + "shop: {workerz: 3}\n", "<scenario>:5: shop.workerz: unknown shop setting 'workerz'"),
    (GOOD + "shop:\n  workers: 2\n  workerz: 3\n", "<scenario>:7: shop.workerz: unknown shop"),
    (GOOD + "shop: {workers: 0}\n", "<scenario>:5: shop.workers: Input should be greater"),
    (GOOD + "slos:\n  delay_rate: 2\n", "<scenario>:6: slos.delay_rate:"),
    (GOOD + "drill:\n  faults:\n    - {link: shop->payment-a, fault: down, duration: x}\n",
     "<scenario>:7: drill.faults[0].duration: not a duration"),
    (GOOD + "colour: red\n", "<scenario>:5: colour: Extra inputs are not permitted"),
    ("name: [\n", "not valid YAML"),
    ("- 1\n", "a scenario is a YAML mapping"),
])
def test_errors_name_line_and_field(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text)
    assert expected in str(caught.value)


def test_bad_override_is_named() -> None:
    with pytest.raises(ScenarioError, match="--set: 'oops'"):
        parse_scenario(GOOD, sets=["oops"])


@pytest.mark.parametrize(("sets", "expected"), [
    (["shop.nosuch=1"], "--set shop.nosuch=1: shop.nosuch: unknown shop setting 'nosuch'"),
    (["shop.workers=0"], "--set shop.workers=0: shop.workers: Input should be greater"),
    (["load.shape.rate_per_s=-1"], "--set load.shape.rate_per_s=-1: load.shape.rate_per_s:"),
    (["load.shape={kind: steady, rate_per_s: -1}"], "--set load.shape={kind: steady, "),
])
def test_a_field_set_on_the_command_line_is_blamed_on_the_set_not_a_line(
        sets: list[str], expected: str) -> None:
    """It used to read "steady.yaml:10: shop: unknown shop setting" for a --set: a line of a
    catalog file the user never wrote."""
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(GOOD + "shop: {workers: 2}\n", "mine.yaml", sets=sets)
    assert expected in str(caught.value)
    assert "mine.yaml:" not in str(caught.value)


def test_overrides_are_pure_and_dotted() -> None:
    data = {"a": {"b": 1}, "items": [{"x": 1}]}
    out = apply_overrides(data, ["a.b=2", "a.c.d=true", "items.0.x=[1, 2]", "s=hello"])
    assert out == {"a": {"b": 2, "c": {"d": True}}, "items": [{"x": [1, 2]}], "s": "hello"}
    assert data == {"a": {"b": 1}, "items": [{"x": 1}]}
    assert parse_override("k=") == (["k"], "")
    for bad in ("=1", "a..b=1", "novalue"):
        with pytest.raises(ValueError, match="KEY=VALUE"):
            parse_override(bad)
    with pytest.raises(ValueError, match="has no item 3"):
        apply_overrides(data, ["items.3.x=1"])


def test_fakalab_scenarios_lists_every_builtin() -> None:
    from click.testing import CliRunner

    from fakalab.cli import cli

    result = CliRunner().invoke(cli, ["scenarios"])
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()] == builtin_names()
    assert "variants: transparent, opaque" in result.output


FAULT = GOOD + "drill:\n  faults:\n    - {fault}\n"


@pytest.mark.parametrize(("fault", "expected"), [
    ("{link: shop->bank, fault: down, duration: 5s}", "no link 'shop->bank' in a drill"),
    ("{link: risk->notify, fault: down, duration: 5s}", "no link 'risk->notify' in a drill"),
    ("{link: database, fault: kill, duration: 5s}", "no process 'database' to kill"),
    ("{link: shop->risk, fault: down, start: 90s, duration: 5s}", "start after the load ends"),
    ("{link: shop->risk, fault: down, start: 10s, duration: -5s}", "cannot be negative"),
    ("{link: shop->risk, fault: down, start: 10s, duration: 0s}", "duration must be above 0"),
    ("{link: shop->risk, fault: kill, duration: 3s}", "a kill names a process, not a link"),
])
def test_contradictory_or_absurd_drills_are_refused(fault: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(FAULT.replace("{fault}", fault), "mine.yaml")
    assert expected in str(caught.value)
    assert str(caught.value).startswith("mine.yaml:"), caught.value


@pytest.mark.parametrize(("extra", "expected"), [
    ("duration: -1m\n", "cannot be negative"),
    ("duration: 0\n", "duration must be above 0"),
    ("sla_s: 0\n", "sla_s: Input should be greater than 0"),
    ("load:\n  shape: {kind: steady, rate_per_s: 2}\n  buyers: {patience_s: [30, 10]}\n",
     "patience_s is [low, high]"),
    ("load:\n  shape: {kind: steady, rate_per_s: 2}\n  personas: {buyer: 0}\n",
     "at least one persona"),
    ("shop: {port: 8000}\n", "unknown shop setting 'port'"),
    ("shop: {db_url: 'sqlite:///x.db'}\n", "db_url is for a PostgreSQL server"),
    ("variants: [{name: a}, {name: a}]\n", "two variants have the same name"),
])
def test_absurd_scenarios_are_refused(extra: str, expected: str) -> None:
    base = GOOD if not extra.startswith(("duration", "load")) else (
        GOOD.replace("duration: 90s\n", "") if extra.startswith("duration") else
        GOOD.split("load:")[0])
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(base + extra, "mine.yaml")
    assert expected in str(caught.value)
