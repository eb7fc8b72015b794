"""Target files: the model, its templates, file:line errors, and scenarios that carry one."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakalab.contract.scenario import ScenarioError, dump_scenario, load_scenario, parse_scenario
from fakalab.contract.target import (
    TargetError,
    fill,
    links,
    load_target,
    processes,
    template_env,
    template_names,
)
from tests.contract.test_profile import MINIMAL

TARGET = """\
name: mine
url: http://127.0.0.1:{port:shop}
profile: tiny.yaml
start:
  - name: shop
    run: ./shop --port {port:shop} --db-host {proxy:database} --epay {gateway_url}
    ready: {url: "http://127.0.0.1:{port:shop}/", timeout: 5s}
dependencies:
  database: 127.0.0.1:3306
gateway: {pid: "42", key: k}
"""


def write(tmp_path: Path, text: str = TARGET, name: str = "mine.yaml") -> Path:
    (tmp_path / "tiny.yaml").write_text(MINIMAL)
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(TargetError) as caught:
        load_target(write(tmp_path, text))
    return caught.value.problems


def test_a_target_file_loads_with_paths_resolved(tmp_path: Path) -> None:
    target = load_target(write(tmp_path))
    assert target.external and target.profile == str(tmp_path / "tiny.yaml")
    assert target.start[0].cwd == str(tmp_path)
    assert target.dependencies["database"].address == "127.0.0.1:3306"
    assert links(target) == ["shop->database", "shop->gateway", "buyers->shop"]
    assert processes(target) == ["shop"]
    assert target.buyer_profile().name == "tiny"


def test_the_builtins() -> None:
    assert load_target("reference").external is False
    assert links(load_target("reference"))[0] == "shop->payment-a"
    epay = load_target("reference-epay")
    assert set(epay.dependencies) == {"risk", "supplier-a", "supplier-b", "notify"}
    assert processes(epay) == ["upstreams", "shop"]


@pytest.mark.parametrize(("change", "expected"), [
    (("url: http://127.0.0.1:{port:shop}\n", ""), "mine.yaml:1: (target): an external target "
                                                   "needs the url its buyers use"),
    (("gateway: {pid: \"42\", key: k}", "gateway: {pid: \"42\", key: k, colour: red}"),
     "mine.yaml:10: gateway.colour: Extra inputs are not permitted"),
    (("{gateway_url}", "{gateway_adress}"),
     "mine.yaml:6: start[0].run: {gateway_adress} is not a template here"),
    (("{proxy:database}", "{proxy:cache}"), "{proxy:cache} names no dependency"),
    (("  database: 127.0.0.1:3306", "  gateway: 127.0.0.1:3306"), "cannot name a dependency"),
    (("  database: 127.0.0.1:3306", "  database: localhost"),
     "mine.yaml:9: dependencies.database.address: Value error, 'localhost' is not host:port"),
    (("profile: tiny.yaml", "profile: nosuch.yaml"),
     "mine.yaml:3: profile: no profile file 'nosuch.yaml'"),
    (("gateway:", "plugin: nosuch\ngateway:"),
     "mine.yaml:10: plugin: no entry point 'nosuch' in group fakalab.targets"),
])
def test_problems_name_file_line_and_field(tmp_path: Path, change: tuple[str, str],
                                           expected: str) -> None:
    found = problems(tmp_path, TARGET.replace(*change))
    assert any(expected.replace("Value error, ", "") in p.replace("Value error, ", "")
               for p in found), found


def test_an_inline_profile_is_checked_at_its_own_lines(tmp_path: Path) -> None:
    inline = TARGET.replace("profile: tiny.yaml\n", "profile:\n  name: x\n  status:\n"
                            "    request: {path: /s}\n    extract: {state: s}\n")
    found = problems(tmp_path, inline)
    assert any(p.startswith(f"{tmp_path / 'mine.yaml'}:3:") and "create_order" in p
               for p in found), found


def test_templates() -> None:
    assert template_names("a {port:shop} {gateway_url} {{literal}}") == [
        ("port", "shop"), ("gateway_url", None)]
    assert fill("http://x:{port:shop}/{{id}}", {"port:shop": "81"}) == "http://x:81/{id}"
    with pytest.raises(KeyError):
        fill("{run_dir}", {})
    env = template_env({"proxy:supplier-a": "h:1", "shop_url": "u", "python": "/py"})
    assert env == {"FAKALAB_PROXY_SUPPLIER_A": "h:1", "FAKALAB_TARGET_URL": "u"}


SCENARIO = """\
name: s
duration: 10s
load:
  shape: {kind: steady, rate_per_s: 1}
target: mine.yaml
drill:
  faults:
    - {link: shop->database, fault: {latency: {latency: 100}}, start: 1s, duration: 2s}
    - {link: shop->gateway, fault: {business: {callback_drop_pct: 10}}, start: 1s,
       duration: 2s}
"""


def test_a_scenario_names_its_target_and_its_links_follow(tmp_path: Path) -> None:
    write(tmp_path)
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    scenario = load_scenario(path)
    assert scenario.target is not None and scenario.target.name == "mine"
    assert [f.kind for f in scenario.drill.faults] == ["latency", "payment.callback_drop_pct"]
    again = parse_scenario(dump_scenario(scenario), "resolved.yaml")  # the run's scenario.yaml
    assert again.target == scenario.target
    with pytest.raises(ScenarioError) as caught:  # the reference shop has no such links
        load_scenario(path, target=load_target("reference"))
    assert "no link 'shop->database' in a drill of the reference shop" in caught.value.problems[0]


def test_a_classic_scenario_is_unchanged_and_a_target_s_products_replace_the_scenario_s(
        tmp_path: Path) -> None:
    assert "target" not in dump_scenario(load_scenario("steady"))
    target = load_target(write(tmp_path, TARGET + 'products: {"7": 1}\n'))
    scenario = load_scenario("steady", target=target)
    assert scenario.load.buyers.products == {"7": 1.0}
    with pytest.raises(ScenarioError) as caught:
        load_scenario("payment-brownout", target=target)
    assert "no link 'shop->payment-a' in a drill of target mine" in caught.value.problems[0]
