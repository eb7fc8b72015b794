from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from fakalab.cli import cli
from fakalab.contract.rundir import FORMAT_VERSION
from tests.reports.conftest import TINY


def test_report_command(run_copy: Callable[[Path], Path], tmp_path: Path) -> None:
    run = run_copy(TINY)
    result = CliRunner().invoke(cli, ["report", str(run), "--window", "20"])
    assert result.exit_code == 0, result.output
    assert f"report written to {run / 'report' / 'index.html'}" in result.output
    document = json.loads((run / "report" / "metrics.json").read_text())
    assert document["runs"][0]["over_time"]["window_s"] == 20.0


def test_newer_format_exits_2_without_traceback(run_copy: Callable[[Path], Path]) -> None:
    run = run_copy(TINY)
    meta = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**meta, "format_version": 99}))
    result = CliRunner().invoke(cli, ["report", str(run)])
    assert result.exit_code == 2
    assert (f"format_version 99 is newer than this fakalab reads (format_version "
            f"{FORMAT_VERSION})") in result.output
    assert "Traceback" not in result.output
    assert not (run / "report").exists()


def test_missing_file_exits_2(run_copy: Callable[[Path], Path], tmp_path: Path) -> None:
    run = run_copy(TINY)
    (run / "polls.csv").unlink()
    result = CliRunner().invoke(cli, ["report", str(run), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert f"fakalab report: {run / 'polls.csv'}: file is missing" in result.output


def test_needs_a_run_dir() -> None:
    assert CliRunner().invoke(cli, ["report"]).exit_code == 2
