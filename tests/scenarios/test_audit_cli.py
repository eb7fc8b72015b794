"""`fakalab audit` runs the audit a run needs (inside: against the shop's database; outside:
from what buyers and the gateway saw) and writes its checks as JUnit on request."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner

from fakalab.cli import cli
from tests.scenarios.outside_run import write_outside_run


def test_an_outside_run_gets_the_external_audit_and_junit(tmp_path: Path) -> None:
    run = write_outside_run(tmp_path / "run")
    junit = tmp_path / "audit.xml"
    result = CliRunner().invoke(cli, ["audit", str(run), "--junit", str(junit)])
    assert result.exit_code == 1, result.output
    assert "FAIL acknowledged_notifies_applied (1 violations)" in result.output
    assert "skip other_merchant_refused (no other_pid probe in this run)" in result.output
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases["acknowledged_notifies_applied"].find("failure") is not None
    assert cases["other_merchant_refused"].find("skipped") is not None
    assert cases["forged_notify_refused"].find("failure") is None
    assert "D" in (cases["acknowledged_notifies_applied"].find("failure").text or "")


def test_an_outside_run_has_no_database_to_check_against(tmp_path: Path) -> None:
    run = write_outside_run(tmp_path / "run")
    result = CliRunner().invoke(cli, ["audit", str(run), "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 2
    assert "an outside run has no shop database" in result.output
    missing = CliRunner().invoke(cli, ["audit", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "not a run directory" in missing.output
