"""Plan validation: shapes, durations, and errors naming the field and the YAML line."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakalab.chaos.plan import PlanError, load_plan, parse_duration, parse_plan, proxy_name

GOOD = """\
title: payment A slows down
upstreams: {payment-a: "http://127.0.0.1:9101"}
steady_state:
  interval: 2s
  probes:
    - {name: shop up, type: http, url: "http://127.0.0.1:8000/healthz", json_path: ok,
       tolerance: true}
    - {name: delayed, type: metric, url: "http://127.0.0.1:8000/metrics",
       metric: fakalab_delayed_total, labels: {channel: a}, tolerance: [0, 5]}
faults:
  - link: shop->payment-a
    fault: {latency: {latency: 500, jitter: 50}}
    start: 10s
    duration: 2m
    toxicity: 0.5
    stream: upstream
  - {id: outage, link: shop->payment-b, fault: down, start: 1m, duration: 500ms}
  - link: shop->payment-a
    fault: {business: {callback_drop_pct: 30}}
    duration: 90
"""


def test_good_plan() -> None:
    plan = parse_plan(GOOD)
    first, outage, business = plan.faults
    assert (first.id, first.start, first.duration, first.end) == ("f1", 10, 120, 130)
    assert (first.kind, first.proxy, first.toxicity, first.stream) == (
        "latency", "shop_payment-a", 0.5, "upstream")
    assert (outage.id, outage.kind, outage.start, outage.duration) == ("outage", "down", 60, 0.5)
    assert (business.kind, business.service) == ("payment.callback_drop_pct", "payment-a")
    assert plan.end == 130 and plan.steady_state.interval == 2


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("2m", 120), ("500ms", 0.5), ("1h", 3600), (5, 5), ("1.5", 1.5), (0, 0)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-1s", True, "3 days"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_link_maps_to_proxy_name() -> None:
    assert proxy_name("shop->payment-a") == "shop_payment-a"


def _problems(text: str) -> list[str]:
    with pytest.raises(PlanError) as caught:
        parse_plan(text, "plan.yaml")
    return caught.value.problems


@pytest.mark.parametrize(("edit", "expected"), [
    (("duration: 2m", "duration: 2x"), "plan.yaml:14: faults[0].duration: not a duration"),
    (("jitter: 50", "jiter: 50"), "plan.yaml:12: faults[0].fault: latency has no attribute"),
    (("toxicity: 0.5", "toxicity: 5"), "plan.yaml:15: faults[0].toxicity: Input should be"),
    (("stream: upstream", "stream: sideways"), "plan.yaml:16: faults[0].stream: Input should"),
    (("callback_drop_pct", "drop_all"), "plan.yaml:18: faults[2]: payment-a has no fault switch"),
    (("link: shop->payment-a\n    fault: {latency", "link: shop->\n    fault: {latency"),
     "plan.yaml:11: faults[0].link: String should match pattern"),
    (("tolerance: [0, 5]", "tolerance: [5, 0]"),
     "plan.yaml:9: steady_state.probes[1].tolerance: range low 5 is above high 0"),
    (("type: metric", "type: sql"), "plan.yaml:8: steady_state.probes[1]: Input tag 'sql'"),
    (("interval: 2s", "interval: 0"), "plan.yaml:4: steady_state.interval: interval must be"),
    (("title: payment A slows down\n", ""), "plan.yaml:1: title: Field required"),
])
def test_errors_name_line_and_field(edit: tuple[str, str], expected: str) -> None:
    problems = _problems(GOOD.replace(*edit))
    assert any(p.startswith(expected) for p in problems), problems


def test_unknown_field_and_fault() -> None:
    problems = _problems(GOOD.replace("toxicity: 0.5", "toxicty: 0.5"))
    assert any(p.startswith("plan.yaml:15: faults[0].toxicty: Extra inputs") for p in problems)
    problems = _problems(GOOD.replace("fault: down", "fault: {explode: {}}"))
    assert any("plan.yaml:17: faults[1].fault: unknown fault 'explode'" in p for p in problems)


def test_duplicate_ids_and_empty_timeline() -> None:
    assert any("two faults have the id" in p for p in
               _problems(GOOD.replace("id: outage", "id: f1")))
    assert any("faults" in p for p in _problems("title: t\nfaults: []\n"))


def test_business_fault_on_a_service_without_switches() -> None:
    problems = _problems(GOOD.replace("- link: shop->payment-a\n    fault: {business",
                                      "- link: shop->db\n    fault: {business"))
    assert any("business faults apply to" in p for p in problems), problems


def test_yaml_syntax_error_has_a_line() -> None:
    problems = _problems("title: t\nfaults:\n  - link: [unclosed\n")
    assert problems[0].startswith("plan.yaml:4: not valid YAML") or \
        problems[0].startswith("plan.yaml:3: not valid YAML"), problems


def test_not_a_mapping_and_unreadable(tmp_path: Path) -> None:
    assert _problems("- a\n- b\n")[0].startswith("plan.yaml:1: a plan is a YAML mapping")
    with pytest.raises(PlanError) as caught:
        load_plan(tmp_path / "missing.yaml")
    assert "cannot read the plan" in str(caught.value)


def test_kill_faults_name_a_process() -> None:
    plan = parse_plan("title: t\nfaults:\n  - {link: shop, fault: kill, start: 2s, duration: 1s}\n"
                      "  - {link: supplier-a, fault: kill, start: 2s, duration: 1s}\n")
    assert [(f.service, f.kind) for f in plan.faults] == [("shop", "sigkill"),
                                                          ("supplier-a", "sigkill")]


@pytest.mark.parametrize(("fault", "message"), [
    ("{link: shop->risk, fault: kill, duration: 1s}", "a kill names a process, not a link"),
    ("{link: risk, fault: down, duration: 1s}", "down faults need a link SOURCE->TARGET"),
    ("{link: shop, fault: kill, duration: 0s}", "duration must be above 0"),
    ("{link: shop->risk, fault: down, duration: 0}", "duration must be above 0"),
    ("{link: shop->risk, fault: down, duration: -3s}", "cannot be negative"),
    ("{link: shop->risk, fault: down, start: -1, duration: 2s}", "cannot be negative"),
])
def test_absurd_faults_are_refused(fault: str, message: str) -> None:
    problems = _problems(f"title: t\nfaults:\n  - {fault}\n")
    assert any(message in p and p.startswith("plan.yaml:3: faults[0]") for p in problems), \
        problems


def test_overlapping_kills_of_one_process_are_refused() -> None:
    problems = _problems("title: t\nfaults:\n"
                         "  - {id: k1, link: shop, fault: kill, start: 2s, duration: 3s}\n"
                         "  - {id: k2, link: shop, fault: kill, start: 4s, duration: 1s}\n")
    assert any("kills k1 and k2 of shop overlap" in p for p in problems), problems
    parse_plan("title: t\nfaults:\n"  # one after the other is fine
               "  - {id: k1, link: shop, fault: kill, start: 2s, duration: 1s}\n"
               "  - {id: k2, link: shop, fault: kill, start: 3s, duration: 1s}\n")
