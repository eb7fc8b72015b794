"""The report's entry: `build_report(run_dirs, out_dir)`, for `fakalab report` and the drill."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fakalab.reports.analysis import Analysis, analyze
from fakalab.reports.compare import RESAMPLES, SEED, compare
from fakalab.reports.disputes import compare_disputes, disputes
from fakalab.reports.figures import comparison_charts, run_charts
from fakalab.reports.postmortem import postmortem
from fakalab.reports.render import clean, write_report
from fakalab.reports.rundir import RunDirError, load_run
from fakalab.reports.signals import blast_radius, compare_signals

__all__ = ["METRICS_VERSION", "RunDirError", "build_report", "default_out_dir", "metrics_document"]

METRICS_VERSION = 1


def default_out_dir(run_dirs: Sequence[str | Path]) -> Path:
    """`report/` inside the first run directory (for one run or several)."""
    return Path(run_dirs[0]) / "report"


def _prefix(index: int, a: Analysis, count: int) -> str:
    if count == 1:
        return ""
    return f"run{index + 1}_{re.sub(r'[^A-Za-z0-9_.-]+', '-', a.run.label)}_"


def metrics_document(
    analyses: Sequence[Analysis], comparison: dict[str, Any] | None
) -> dict[str, Any]:
    """The content of metrics.json (keys defined in reports/definitions.py, docs/reports.md)."""
    return clean(
        {
            "metrics_version": METRICS_VERSION,
            "runs": [a.metrics for a in analyses],
            "comparison": comparison,
        }
    )


def build_report(
    run_dirs: Sequence[str | Path],
    out_dir: str | Path | None = None,
    *,
    window_s: float | None = None,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    on_warning: Callable[[str], None] | None = None,
) -> Path:
    """Read the run directories, write the report into out_dir (default_out_dir) and return it.

    Raises RunDirError (the message names the file) when a run directory cannot be read;
    `on_warning` hears what looks wrong in one that can (the report shows it too).
    """
    if not run_dirs:
        raise RunDirError("no run directory given")
    runs_read = [load_run(path) for path in run_dirs]
    for run in runs_read:
        for warning in run.warnings:
            if on_warning is not None:
                on_warning(warning)
    analyses = [analyze(run, window_s) for run in runs_read]
    postmortems = [postmortem(a) for a in analyses]
    for a, pm in zip(analyses, postmortems, strict=True):
        a.metrics["postmortem"] = pm.facts
        a.metrics["disputes"] = disputes(a.run.disputes, a.out)
    comparison = compare(analyses, resamples, seed) if len(analyses) > 1 else None
    if comparison is not None:
        comparison["rows"] += compare_signals(analyses, resamples, seed)
        comparison["rows"] += compare_disputes(analyses, resamples, seed)
    document = metrics_document(analyses, comparison)
    runs = [
        {
            "metrics": metrics,
            "postmortem": pm,
            "charts": run_charts(a, _prefix(i, a, len(analyses))),
            "model_rows": [] if a.model is None else clean(a.model.to_dict("records")),
        }
        for i, (a, pm, metrics) in enumerate(
            zip(analyses, postmortems, document["runs"], strict=True)
        )
    ]
    target = Path(out_dir) if out_dir is not None else default_out_dir(run_dirs)
    write_report(target, document, runs, comparison_charts(analyses) if len(analyses) > 1 else [])
    _write_signals(target, analyses, comparison)
    return target


def _write_signals(target: Path, analyses: Sequence[Analysis],
                   comparison: dict[str, Any] | None) -> None:
    """signals.json: the blast radius of each announced fault (reports/signals.py), when a
    run's plan announced one."""
    runs = [{"run_id": a.run.run_id, "label": a.run.label, "faults": blast_radius(a)}
            for a in analyses]
    if not any(r["faults"] for r in runs):
        return
    rows = [r for r in (comparison or {}).get("rows", [])
            if r["metric"] in ("blast_radius_share", "delayed_share")]
    (target / "signals.json").write_text(json.dumps(clean({"runs": runs, "comparison": rows}),
                                                    indent=1))
