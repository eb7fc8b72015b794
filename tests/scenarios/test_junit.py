"""JUnit XML (pure): the counts and elements CI systems read."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from fakalab.scenarios.junit import Case, Suite, render


def test_render_counts_and_marks_each_outcome() -> None:
    suite = Suite("fakalab drill r1", [
        Case("s.slo", "delay_rate", "failure", "observed 0.2, target <= 0.05"),
        Case("s.slo", "error_rate", "passed"),
        Case("s.slo", "ticket_rate", "skipped", "observed no data"),
        Case("s.run", "valid", "error", "generator saturated", "details"),
        Case("s.audit", "keys_sold_once", "failure", "2 violations", '{"order_no": "A"}'),
    ], seconds=12.5, timestamp="2026-12-01T00:00:00+00:00", properties={"run_dir": "runs/r1"})
    root = ET.fromstring(render([suite]))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) \
        == ("5", "2", "1", "1")
    (element,) = root.findall("testsuite")
    assert element.get("time") == "12.500" and element.get("timestamp").startswith("2026")
    cases = {c.get("name"): c for c in element.findall("testcase")}
    assert cases["delay_rate"].find("failure").get("message") == "observed 0.2, target <= 0.05"
    assert list(cases["error_rate"]) == []
    assert cases["ticket_rate"].find("skipped") is not None
    assert cases["valid"].find("error").text == "details"
    assert cases["keys_sold_once"].get("classname") == "s.audit"
    assert element.find("properties/property").get("value") == "runs/r1"


def test_text_is_escaped() -> None:
    xml = render([Suite("x", [Case("c", "n", "failure", 'a < b & "c"', "<tag>")])])
    assert ET.fromstring(xml).find("testsuite/testcase/failure").text == "<tag>"
