"""The written report: golden metrics.json, self-contained HTML, every metric defined."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from fakalab.reports.build import build_report, default_out_dir
from fakalab.reports.definitions import DEFINITIONS
from fakalab.reports.render import fmt
from tests.reports.conftest import TINY, V0, WINDOW_S

GOLDEN = Path(__file__).with_name("golden") / "tiny-metrics.json"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "reports.md"
FREE_FORM = {"tickets_by_reason", "summary"}  # dicts whose keys come from the data


def test_golden_metrics_json(tiny_report: Path) -> None:
    produced = json.loads((tiny_report / "metrics.json").read_text())
    if os.environ.get("FAKALAB_REGENERATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(produced, indent=2, ensure_ascii=False) + "\n")
    assert produced == json.loads(GOLDEN.read_text())


def test_files(tiny_report: Path) -> None:
    names = {p.name for p in tiny_report.iterdir()}
    assert {
        "index.html",
        "report.md",
        "metrics.json",
        "over_time.png",
        "ttd_cdf.png",
        "where_time_went.png",
        "vacuum.png",
        "model.png",
    } <= names
    for png in tiny_report.glob("*.png"):
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v or "" for k, v in attrs if k in ("src", "href")]


def test_html_is_self_contained(tiny_report: Path) -> None:
    parser = _Links()
    parser.feed((tiny_report / "index.html").read_text())
    images = [u for u in parser.urls if u.startswith("data:image/png;base64,")]
    assert len(images) == 5
    assert all(u.startswith(("data:", "#")) for u in parser.urls), parser.urls


def _keys(value: Any, prefix: str) -> Iterator[str]:
    if isinstance(value, dict) and prefix.rsplit(".", 1)[-1] not in FREE_FORM:
        for key, item in value.items():
            yield from _keys(item, f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for item in value:
            yield from _keys(item, f"{prefix}[]")
    else:
        yield prefix


def _document_keys(report: Path) -> set[str]:
    document = json.loads((report / "metrics.json").read_text())
    keys = {k for run in document["runs"] for k in _keys(run, "")}
    if document["comparison"]:
        keys |= set(_keys(document["comparison"], "comparison"))
    return keys


def test_every_metric_is_defined(tiny_report: Path, ab_report: Path) -> None:
    keys = _document_keys(tiny_report) | _document_keys(ab_report)
    sections = {key.split(".")[0].removesuffix("[]") for key in DEFINITIONS}
    keys -= sections  # a section may be null (model without simulation/)
    assert keys - set(DEFINITIONS) == set()
    assert set(DEFINITIONS) - keys == set()  # no stale definition either


def test_definitions_are_in_the_report(tiny_report: Path) -> None:
    markdown = (tiny_report / "report.md").read_text()
    html = (tiny_report / "index.html").read_text()
    for definition in DEFINITIONS.values():
        assert f"| `{definition.key}` | {definition.sentence} |" in markdown
        assert f"<code>{definition.key}</code>" in html


def test_docs_document_every_key() -> None:
    text = DOCS.read_text()
    rows = [
        f"| `{d.key}` | {d.sentence} | {', '.join(d.sources) or '—'} |"
        for d in DEFINITIONS.values()
    ]
    assert [row for row in rows if row not in text] == []  # docs/reports.md is in sync


def test_comparison_report(ab_report: Path) -> None:
    document = json.loads((ab_report / "metrics.json").read_text())
    assert [r["run"]["variant"] for r in document["runs"]] == ["transparent", "opaque"]
    assert document["comparison"]["resamples"] == 200
    names = {p.name for p in ab_report.iterdir()}
    assert {
        "compare_ttd_cdf.png",
        "compare_delay_rate.png",
        "compare_tickets.png",
        "run1_transparent_over_time.png",
        "run2_opaque_over_time.png",
    } <= names
    markdown = (ab_report / "report.md").read_text()
    assert "Comparison against 19700101-001640-tiny" in markdown
    assert "Variants of scenario tiny. Deltas are" in markdown


def test_default_out_dir_and_version_0(run_copy: Callable[[Path], Path]) -> None:
    run = run_copy(V0)
    out = build_report([run], window_s=WINDOW_S)
    assert out == default_out_dir([run]) == run / "report"
    document = json.loads((out / "metrics.json").read_text())
    assert document["runs"][0]["run"]["format_version"] == 0
    assert document["runs"][0]["headline"]["delay_rate"] == 0.5
    assert "No SLO verdicts in run.json" in (out / "report.md").read_text()


def test_markdown_tables_are_well_formed(tiny_report: Path) -> None:
    for line in (tiny_report / "report.md").read_text().splitlines():
        if line.startswith("|"):
            assert line.endswith("|"), line


def test_fmt() -> None:
    assert [fmt(None), fmt(True), fmt(0.5, "delay_rate"), fmt(12.34), fmt(1.234), fmt({})] == [
        "n/a",
        "yes",
        "50.0%",
        "12.3",
        "1.23",
        "none",
    ]


def test_reference_tiny_run_dir_untouched() -> None:
    assert not (TINY / "report").exists()


def test_empty_run_renders(tmp_path: Path) -> None:
    run = tmp_path / "empty"
    run.mkdir()
    (run / "run.json").write_text((TINY / "run.json").read_text())
    for name in ("orders", "events", "polls", "tickets", "faults", "incidents"):
        header = (TINY / f"{name}.csv").read_text().splitlines()[0]
        (run / f"{name}.csv").write_text(header + "\n")
    document = json.loads((build_report([run]) / "metrics.json").read_text())
    headline = document["runs"][0]["headline"]
    assert headline["orders"] == 0 and headline["delay_rate"] is None
    assert document["runs"][0]["over_time"]["window_s"] == 2.0
    text = (run / "report" / "report.md").read_text()
    summary = next(line for line in text.splitlines() if line.startswith("**Summary.**"))
    assert summary.endswith("The drill left no journal (chaos.json).")
