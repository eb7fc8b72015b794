"""`fakalab drill SCENARIO --repeat N`: the drill N times, one run directory each under one
parent directory, then each headline figure's spread over the repeats
(``fakalab.simulate.repeats.repeat_spread``: the report's definitions, with the interval of the
mean and a prediction interval for one more run).

Written into the parent directory: ``repeats.json`` (one spread per variant, ``as_dict()``) and
``repeats.md`` (the table the terminal shows). A scenario with variants gets one spread per
variant (each variant's N runs are repeats of one drill).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from fakalab.contract.scenario import Scenario
from fakalab.reports.rundir import RunDirError
from fakalab.scenarios.drill import INTERRUPTED, DrillOptions, RunResult, run_drill
from fakalab.simulate.forecast_tables import LABELS, fmt
from fakalab.simulate.repeats import RepeatError, RepeatSpread, repeat_spread

__all__ = ["Repeated", "parent_dir", "run_repeats", "spread_rows", "tables"]

COLUMNS = ("figure", "values", "mean", "mean [95% CI]", "one run [95% PI]")


class Repeated:
    """What N repeats left: every run, the parent directory, the spreads (or why not)."""

    def __init__(self, parent: Path) -> None:
        self.parent = parent
        self.results: list[RunResult] = []
        self.spreads: list[RepeatSpread] = []
        self.problems: list[str] = []


def parent_dir(out: Path, scenario: str, repeats: int, now: float | None = None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return out / f"{stamp}-{scenario}-x{repeats}"


def run_repeats(scenario: Scenario, options: DrillOptions, console: Console, repeats: int
                ) -> Repeated:
    """Run the drill ``repeats`` times (stopping at an interrupt) and measure the spread."""
    done = Repeated(parent_dir(options.out, scenario.name, repeats))
    done.parent.mkdir(parents=True, exist_ok=False)
    inner = replace(options, out=done.parent)
    for k in range(1, repeats + 1):
        console.rule(f"repeat {k} of {repeats}")
        results = run_drill(scenario, inner, console)
        done.results += results
        if any(r.exit_status == INTERRUPTED for r in results):
            done.problems.append(f"interrupted in repeat {k}: no spread")
            return done
    by_variant: dict[str | None, list[Path]] = {}
    variants: list[str | None] = [v.name for v in scenario.variants] or [None]
    for index, result in enumerate(done.results):
        by_variant.setdefault(variants[index % len(variants)], []).append(result.run_dir)
    for variant, dirs in by_variant.items():
        try:
            done.spreads.append(repeat_spread(dirs))
        except (RepeatError, RunDirError) as exc:
            name = scenario.name if variant is None else f"{scenario.name}[{variant}]"
            done.problems.append(f"{name}: no spread: {exc}")
    _write(done)
    return done


def _interval(name: str, pair: tuple[float, float] | None) -> str:
    if pair is None:
        return "—"
    return f"[{fmt(name, pair[0])}, {fmt(name, pair[1])}]"


def spread_rows(spread: RepeatSpread) -> list[tuple[str, ...]]:
    """One row per headline figure: values, mean, interval of the mean, one-run interval."""
    rows: list[tuple[str, ...]] = []
    for name, figure in spread.figures.items():
        rows.append((LABELS.get(name, name), ", ".join(fmt(name, v) for v in figure.values),
                     fmt(name, figure.mean), _interval(name, figure.mean_interval),
                     _interval(name, figure.run_interval)))
    return rows


def _title(spread: RepeatSpread) -> str:
    variant = f"[{spread.variant}]" if spread.variant else ""
    return f"{spread.scenario}{variant}: {len(spread.run_ids)} repeats"


def tables(done: Repeated) -> list[Table]:
    out = []
    for spread in done.spreads:
        table = Table(title=_title(spread), caption="mean: bootstrap interval of the mean; one "
                      "run: Student-t prediction interval (logit of a rate, log otherwise)")
        for column in COLUMNS:
            table.add_column(column, justify="right")
        for row in spread_rows(spread):
            table.add_row(*row)
        out.append(table)
    return out


def _markdown(done: Repeated) -> str:
    lines = [f"# Repeats under {done.parent.name}", ""]
    for spread in done.spreads:
        lines += [f"## {_title(spread)}", "", "Runs: " + ", ".join(
            f"`{r}`" for r in spread.run_ids) + ".", "",
            "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(row) + " |" for row in spread_rows(spread)]
        lines.append("")
    lines += [f"- {p}" for p in done.problems]
    return "\n".join(lines) + "\n"


def _write(done: Repeated) -> None:
    document: dict[str, Any] = {"parent": str(done.parent),
                                "spreads": [s.as_dict() for s in done.spreads],
                                "problems": done.problems}
    (done.parent / "repeats.json").write_text(json.dumps(document, indent=1) + "\n")
    (done.parent / "repeats.md").write_text(_markdown(done))
