"""How far one run's figures can be trusted: the run-to-run spread measured on repeats of the
catalog's drills (pure data and arithmetic; the one place that spread is kept).

A drill of the same scenario, seed and settings sends the same orders, yet its figures move
from run to run with the machine (other jobs, the load generator, the proxy on the same
cores). ``MEASURED`` holds the repeats that were drilled, with where they come from; a single
run's report shows, for its scenario's family, the spread of those repeats and the 95%
prediction interval for one run (``reports.spread.spread_of``), and whether this run fell in
it. A scenario with no measured repeats says so and how to measure them
(``fakalab drill SCENARIO --repeat N``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fakalab.reports.spread import spread_of

__all__ = ["MEASURED", "Repeats", "repeatability"]


@dataclass(frozen=True)
class Repeats:
    figure: str  # a headline key (headline.delay_rate …)
    values: tuple[float, ...]
    scenarios: tuple[str, ...]  # the scenarios with this load and these faults
    source: str


MEASURED: tuple[Repeats, ...] = (
    Repeats(
        figure="delay_rate",
        values=(0.161, 0.217, 0.231, 0.213, 0.225, 0.262, 0.223),
        scenarios=("flash-sale", "transparency-ab"),
        source="seven drills of the flash-sale load and faults (flash-sale and both "
               "transparency-ab variants) on the project's 2-core machine, 2026-12-01/02: "
               "bench/validate_catalog.py runs and issue 15's repeats, listed in "
               "docs/simulation.md ('What the table says'); one drill run next to another "
               "worktree's drills (48.4%, load 2.4) is left out",
    ),
)


def _family(scenario: str) -> Repeats | None:
    return next((r for r in MEASURED if scenario in r.scenarios), None)


def repeatability(scenario: str, headline: dict[str, Any]) -> dict[str, Any]:
    """What the catalog's repeats say about this run's figures (``metrics.json``
    ``repeatability``)."""
    family = _family(scenario)
    if family is None:
        return {"measured": False, "figure": None, "repeats": 0, "min": None, "max": None,
                "sd": None, "run_interval_low": None, "run_interval_high": None,
                "this_run": None, "inside": None,
                "note": f"no repeats of {scenario!r} measured: `fakalab drill {scenario} "
                        "--repeat N` measures them; the flash-sale family's delay rate "
                        "moved by " + _relative(MEASURED[0]) + " run to run",
                "source": None}
    spread = spread_of(family.values, rate=family.figure == "delay_rate")
    low, high = spread.run_interval or (math.nan, math.nan)
    value = headline.get(family.figure)
    inside = None if value is None else bool(low <= value <= high)
    return {"measured": True, "figure": family.figure, "repeats": len(family.values),
            "min": spread.min, "max": spread.max, "sd": spread.sd,
            "run_interval_low": low, "run_interval_high": high, "this_run": value,
            "inside": inside,
            "note": f"one run of this drill falls in [{low:.1%}, {high:.1%}] (95%; "
                    f"{len(family.values)} repeats measured {spread.min:.1%}–{spread.max:.1%}): "
                    + ("this run's delay rate is not known" if value is None else
                       f"this run's {value:.1%} is " + ("inside" if inside else "OUTSIDE"))
                    + "; a change smaller than that interval is not shown by one run",
            "source": family.source}


def _relative(family: Repeats) -> str:
    spread = spread_of(family.values)
    return f"±{spread.sd / spread.mean:.0%} (sd / mean of {len(family.values)} repeats)"
