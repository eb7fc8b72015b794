"""JUnit XML of a drill's verdicts (pure): what CI systems render as test results.

One `<testsuite>` per run (a scenario, or each variant), one `<testcase>` per SLO and per audit
check: a breached SLO or a broken invariant is a `<failure>`, an SLO with nothing to judge is
`<skipped>`, a run that could not be judged (an error, an invalid run) is an `<error>`. The
exit codes stay as they are; this is the same verdict in the format CI dashboards read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Case", "Suite", "render"]

Outcome = Literal["passed", "failure", "error", "skipped"]


@dataclass(frozen=True)
class Case:
    classname: str  # e.g. "flash-sale.slo", "flash-sale.audit"
    name: str
    outcome: Outcome
    message: str = ""
    detail: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class Suite:
    name: str
    cases: Sequence[Case] = field(default_factory=tuple)
    seconds: float = 0.0
    timestamp: str = ""  # ISO 8601
    properties: dict[str, str] = field(default_factory=dict)


def _count(suite: Suite, outcome: Outcome) -> int:
    return sum(case.outcome == outcome for case in suite.cases)


def render(suites: Sequence[Suite], name: str = "fakalab") -> str:
    """The JUnit XML document of `suites`."""
    root = ET.Element("testsuites", name=name, tests=str(sum(len(s.cases) for s in suites)),
                      failures=str(sum(_count(s, "failure") for s in suites)),
                      errors=str(sum(_count(s, "error") for s in suites)),
                      skipped=str(sum(_count(s, "skipped") for s in suites)),
                      time=f"{sum(s.seconds for s in suites):.3f}")
    for suite in suites:
        attributes = {"name": suite.name, "tests": str(len(suite.cases)),
                      "failures": str(_count(suite, "failure")),
                      "errors": str(_count(suite, "error")),
                      "skipped": str(_count(suite, "skipped")), "time": f"{suite.seconds:.3f}"}
        if suite.timestamp:
            attributes["timestamp"] = suite.timestamp
        element = ET.SubElement(root, "testsuite", attributes)
        if suite.properties:
            props = ET.SubElement(element, "properties")
            for key, value in suite.properties.items():
                ET.SubElement(props, "property", name=key, value=value)
        for case in suite.cases:
            test = ET.SubElement(element, "testcase", classname=case.classname, name=case.name,
                                 time=f"{case.seconds:.3f}")
            if case.outcome != "passed":
                tag = {"failure": "failure", "error": "error", "skipped": "skipped"}[case.outcome]
                child = ET.SubElement(test, tag, message=case.message)
                if case.detail:
                    child.text = case.detail
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
