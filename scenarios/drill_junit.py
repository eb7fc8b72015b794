"""A drill's results as JUnit suites: each SLO verdict and each audit check is a test case."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fakalab.scenarios.audit_cli import audit_cases
from fakalab.scenarios.drill import RunResult
from fakalab.scenarios.junit import Case, Suite

__all__ = ["suites_of"]


def _run_json(run_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _suite(result: RunResult) -> Suite:
    meta = _run_json(result.run_dir)
    prefix = str(meta.get("scenario") or result.run_dir.name)
    if meta.get("variant"):
        prefix += f".{meta['variant']}"
    cases: list[Case] = []
    if result.error or result.invalid_reasons:
        why = result.error or "; ".join(result.invalid_reasons)
        cases.append(Case(f"{prefix}.run", "valid", "error", why,
                          "\n".join(result.invalid_reasons)))
    for v in result.verdicts:
        shown = "no data" if v.observed is None else f"{v.observed:.4g}"
        outcome = {True: "passed", False: "failure", None: "skipped"}[v.passed]
        cases.append(Case(f"{prefix}.slo", v.name, outcome,  # type: ignore[arg-type]
                          f"observed {shown}, target {v.target}"))
    cases += audit_cases(result.run_dir, prefix)
    started, ended = meta.get("started_at"), meta.get("ended_at")
    seconds = float(ended - started) if isinstance(started, int | float) and isinstance(
        ended, int | float) else 0.0
    stamp = datetime.fromtimestamp(started, UTC).isoformat() if isinstance(
        started, int | float) else ""
    return Suite(f"fakalab drill {result.run_dir.name}", cases, seconds, stamp,
                 {"run_dir": str(result.run_dir), "exit_status": str(result.exit_status)})


def suites_of(results: Sequence[RunResult]) -> list[Suite]:
    return [_suite(result) for result in results]
