"""Render the report: metrics.json, report.md, index.html (self-contained) and the PNG figures."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from fakalab.reports.definitions import DEFINITIONS
from fakalab.reports.figures import Chart

__all__ = ["clean", "fmt", "metric_rows", "write_report"]

TEMPLATES = Path(__file__).with_name("templates")
DIGITS = 6


def clean(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN/inf to None, floats rounded to DIGITS decimals."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return round(value, DIGITS) if math.isfinite(value) else None
    return value


def fmt(value: Any, key: str = "") -> str:
    """A value as shown in the report: shares as percentages, seconds with one decimal."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {fmt(v)}" for k, v in value.items()) or "none"
    if isinstance(value, float):
        if key.endswith(("rate", "share", "visibility")):
            return f"{value:.1%}"
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"
    return str(value)


NOT_OBSERVABLE = "not observable from outside"


def metric_rows(
    section: str, values: dict[str, Any], hidden: Sequence[str] = ()
) -> list[dict[str, str]]:
    """(key, shown value, one-sentence definition, sources) for each metric of a section;
    `hidden` are metric keys a run seen from outside cannot know (shown as such)."""
    rows = []
    for key, value in values.items():
        definition = DEFINITIONS[f"{section}.{key}"]
        rows.append(
            {
                "key": key,
                "value": NOT_OBSERVABLE if f"{section}.{key}" in hidden else fmt(value, key),
                "definition": definition.sentence,
                "sources": ", ".join(definition.sources),
            }
        )
    return rows


def _environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=select_autoescape(["html"]) if autoescape else False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = fmt
    env.globals["metric_rows"] = metric_rows
    env.globals["definitions"] = list(DEFINITIONS.values())
    return env


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def write_report(
    out_dir: Path, document: dict[str, Any], runs: list[dict[str, Any]], compare_charts: list[Chart]
) -> None:
    """Write every file of the report into out_dir (created when missing).

    `runs` holds per run: metrics (cleaned), postmortem (reports.postmortem.Postmortem), charts.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    charts = [c for run in runs for c in run["charts"]] + compare_charts
    for chart in charts:
        (out_dir / chart.name).write_bytes(chart.png)
    (out_dir / "metrics.json").write_text(
        json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    context = {
        "document": document,
        "runs": runs,
        "compare_charts": compare_charts,
        "images": {chart.name: _data_uri(chart.png) for chart in charts},
    }
    for template, name, escape in (
        ("report.md.j2", "report.md", False),
        ("index.html.j2", "index.html", True),
    ):
        text = _environment(escape).get_template(template).render(**context)
        (out_dir / name).write_text(text, encoding="utf-8")
