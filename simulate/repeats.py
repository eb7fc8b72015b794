"""Repeats of one drill: each headline figure's spread across them and its intervals (I/O: reads
run directories with the report's reader).

``repeat_spread(run_dirs)`` is the function ``fakalab drill SCENARIO --repeat N`` can call on the
N run directories it wrote; the single-run report can call it on the catalog's repeats to say
how far one run's figures can be trusted. Figures are the forecast's (``against.measured_figures``:
the report's definitions). For each figure:

- ``values`` (one per run), ``mean``, ``sd`` (n − 1), ``min``, ``max``;
- ``mean_interval``: the bootstrap percentile interval of the mean (2,000 resamples; within the
  figure's bounds);
- ``run_interval``: where one more run of the drill should fall (95%): a Student-t prediction
  interval, mean ± t(n−1) · sd · √(1 + 1/n), computed on the logit of a rate and the log of a
  positive figure and transformed back — so it respects the bounds (rates in (0, 1), counts
  and times > 0); ``None`` with fewer than 2 runs.

All runs must be of the same drill: the same resolved ``scenario.yaml`` (scenario, variant,
seed, settings, faults) — ``RepeatError`` otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fakalab.reports.rundir import load_run
from fakalab.reports.spread import METHOD, FigureSpread, spread_of
from fakalab.simulate.against import measured_figures
from fakalab.simulate.forecast import ADMISSION_FIGURES, FIGURES

__all__ = ["FigureSpread", "RepeatError", "RepeatSpread", "repeat_spread", "spread_of"]

RATES = frozenset({"delay_rate", "buyers_refused_share"})


class RepeatError(Exception):
    """Run directories that are not repeats of one drill (the message says why)."""


@dataclass(frozen=True)
class RepeatSpread:
    scenario: str
    variant: str | None
    run_ids: tuple[str, ...]
    figures: dict[str, FigureSpread]

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "variant": self.variant, "runs": list(self.run_ids),
                "figures": {k: v.as_dict() for k, v in self.figures.items()},
                "method": METHOD}


def _scenario(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load((path / "scenario.yaml").read_text(encoding="utf-8"))
    except OSError as exc:
        raise RepeatError(f"{path}: cannot read scenario.yaml: {exc.strerror}") from None
    if isinstance(data, dict):
        data.pop("variants", None)
    return data if isinstance(data, dict) else {}


def repeat_spread(run_dirs: Sequence[str | Path]) -> RepeatSpread:
    """Each headline figure's spread and intervals across repeats of one drill."""
    if not run_dirs:
        raise RepeatError("no run directories")
    runs = [load_run(path) for path in run_dirs]
    first = runs[0]
    reference = _scenario(first.path)
    for run in runs[1:]:
        if (run.meta.get("scenario"), run.meta.get("variant")) != (
                first.meta.get("scenario"), first.meta.get("variant")):
            raise RepeatError(f"{run.path}: a run of {run.meta.get('scenario')!r} "
                              f"(variant {run.meta.get('variant')!r}), not of "
                              f"{first.meta.get('scenario')!r} (variant "
                              f"{first.meta.get('variant')!r})")
        if _scenario(run.path) != reference:
            raise RepeatError(f"{run.path}: its scenario.yaml differs from {first.path}'s "
                              "(seed, settings or faults): not a repeat")
    measured = [measured_figures(run) for run in runs]
    figures = {name: spread_of([m[name] for m in measured], rate=name in RATES)
               for name in (*FIGURES, *ADMISSION_FIGURES)}
    return RepeatSpread(str(first.meta.get("scenario")), first.meta.get("variant"),
                        tuple(run.run_id for run in runs), figures)
