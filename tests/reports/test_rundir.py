"""Loading run directories: versions, missing files and columns, clear errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fakalab.contract.rundir import FORMAT_VERSION
from fakalab.reports.build import build_report
from fakalab.reports.rundir import RunDirError, load_run
from tests.reports.conftest import TINY, V0

Copy = Callable[[Path], Path]


def _edit_run_json(run: Path, **changes: object) -> None:
    meta = json.loads((run / "run.json").read_text())
    meta.update(changes)
    (run / "run.json").write_text(json.dumps(meta))


def test_loads_tiny() -> None:
    run = load_run(TINY)
    assert run.run_id == "19700101-001640-tiny" and run.label == "transparent"
    assert len(run.orders) == 6 and len(run.events) == 27 and len(run.polls) == 18
    assert run.polls["oid"].tolist()[:3] == [0, 0, 1]
    assert run.journal is not None and run.journal["status"] == "completed"
    assert run.simulation is not None and run.simulation.summary == {"model": "tiny", "workers": 2}


def test_newer_format_is_refused_naming_both_versions(run_copy: Copy) -> None:
    run = run_copy(TINY)
    _edit_run_json(run, format_version=FORMAT_VERSION + 1)
    with pytest.raises(
        RunDirError,
        match=rf"format_version {FORMAT_VERSION + 1} is newer .*"
        rf"\(format_version {FORMAT_VERSION}\)",
    ):
        load_run(run)


@pytest.mark.parametrize("bad", ["1", -1, 1.5, True])
def test_malformed_format_version(run_copy: Copy, bad: object) -> None:
    run = run_copy(TINY)
    _edit_run_json(run, format_version=bad)
    with pytest.raises(RunDirError, match="format_version must be a non-negative integer"):
        load_run(run)


def test_version_0_is_read_with_defaults() -> None:
    run = load_run(V0)
    assert run.meta["format_version"] == 0 and run.meta["slos"] == []
    assert set(run.polls["via"]) == {"poll"}
    assert run.incidents.empty and run.journal is None and run.simulation is None


@pytest.mark.parametrize(
    "name",
    [
        "run.json",
        "orders.csv",
        "events.csv",
        "polls.csv",
        "tickets.csv",
        "faults.csv",
        "incidents.csv",
    ],
)
def test_missing_file_is_named(run_copy: Copy, name: str) -> None:
    run = run_copy(TINY)
    (run / name).unlink()
    with pytest.raises(RunDirError, match=rf"{name}: file is missing"):
        load_run(run)


def test_missing_column_is_named(run_copy: Copy) -> None:
    run = run_copy(TINY)
    text = (run / "orders.csv").read_text().replace("paid_at,", "paid,", 1)
    (run / "orders.csv").write_text(text)
    with pytest.raises(RunDirError, match=r"orders.csv: missing column\(s\) paid_at"):
        load_run(run)


def test_bad_number_is_reported_with_the_file(run_copy: Copy) -> None:
    run = run_copy(TINY)
    text = (run / "events.csv").read_text().replace(",1005.0,", ",soon,", 1)
    (run / "events.csv").write_text(text)
    with pytest.raises(RunDirError, match=r"events\.csv"):
        load_run(run)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sla_s": "30"}, "sla_s must be a number"),
        ({"ended_at": 10.0}, "ended_at is before started_at"),
    ],
)
def test_bad_run_json_values(run_copy: Copy, change: dict[str, object], message: str) -> None:
    run = run_copy(TINY)
    _edit_run_json(run, **change)
    with pytest.raises(RunDirError, match=message):
        load_run(run)


def test_missing_key_and_bad_json(run_copy: Copy) -> None:
    run = run_copy(TINY)
    meta = json.loads((run / "run.json").read_text())
    del meta["sla_s"]
    (run / "run.json").write_text(json.dumps(meta))
    with pytest.raises(RunDirError, match="missing key 'sla_s'"):
        load_run(run)
    (run / "run.json").write_text("{not json")
    with pytest.raises(RunDirError, match=r"run\.json: not readable JSON"):
        load_run(run)


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="no such directory"):
        load_run(tmp_path / "nope")


def test_duplicate_orders(run_copy: Copy) -> None:
    run = run_copy(TINY)
    lines = (run / "orders.csv").read_text().splitlines()
    (run / "orders.csv").write_text("\n".join([*lines, lines[1]]) + "\n")
    with pytest.raises(RunDirError, match="order_no is not unique"):
        load_run(run)


def test_a_truncated_table_is_reported_not_silently_halved(run_copy: Copy, tmp_path: Path
                                                           ) -> None:
    run = run_copy(TINY)
    _edit_run_json(run, load={"counts": {"orders": 6, "events": 27, "polls": 18, "tickets": 3}})
    assert load_run(run).warnings == ()
    lines = (run / "orders.csv").read_text().splitlines()
    (run / "orders.csv").write_text("\n".join(lines[:4]) + "\n" + lines[4][:12])  # cut mid-row
    warnings = load_run(run).warnings
    assert len(warnings) == 1
    assert "orders.csv: 4 rows, but the drill wrote 6" in warnings[0]
    heard: list[str] = []
    build_report([run], tmp_path / "report", on_warning=heard.append)
    assert heard == list(warnings)
    assert "orders.csv: 4 rows, but the drill wrote 6" in (tmp_path / "report" / "report.md"
                                                          ).read_text()


def test_a_last_line_cut_off_is_reported_without_counts(run_copy: Copy) -> None:
    run = run_copy(TINY)
    text = (run / "polls.csv").read_text()
    (run / "polls.csv").write_text(text.rstrip("\n"))
    assert [w for w in load_run(run).warnings if "polls.csv" in w and "cut off" in w]
