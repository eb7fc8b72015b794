"""`fakalab model`: train the delay-risk model from run directories, evaluate it on others."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from fakalab.contract.delay_risk import ModelError, load_model

__all__ = ["model"]

RunDirs = click.Path(exists=True, file_okay=False, path_type=Path)


@click.group()
def model() -> None:
    """Train and evaluate the delay-risk model (docs/prediction.md)."""


def _fail(problem: Exception) -> None:
    raise click.ClickException(str(problem))


def _auc(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _print(result: dict[str, Any]) -> None:
    click.echo(f"held-out runs: {', '.join(result['runs'])}")
    click.echo(f"rows {result['rows']}  orders {result['orders']}  "
               f"delayed {100 * result['delayed_share']:.1f}%")
    click.echo(f"{'':<22}{'AUC':>8}{'Brier':>9}")
    for name, key in (("model", "model"), ("baseline (queue depth)", "baseline")):
        click.echo(f"{name:<22}{_auc(result[key]['auc']):>8}{result[key]['brier']:>9.4f}")
    for stage, part in result["by_stage"].items():
        click.echo(f"  at {stage:<8} ({part['rows']} rows)   model AUC "
                   f"{_auc(part['model']['auc'])}  baseline AUC "
                   f"{_auc(part['baseline']['auc'])}")
    click.echo("calibration (predicted -> observed delayed share, rows):")
    for b in result["calibration"]:
        click.echo(f"  {b['low']:.1f}-{b['high']:.1f}  {b['predicted']:.3f} -> "
                   f"{b['observed']:.3f}  ({b['rows']})")


@model.command()
@click.argument("run_dirs", nargs=-1, required=True, type=RunDirs)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The model file to write (JSON).")
@click.option("--held-out", "held_out", multiple=True, type=RunDirs,
              help="A run it is not trained on, evaluated and recorded in the file "
              "(repeatable).")
@click.option("--note", default="", help="How the runs were made (kept in the file).")
@click.option("--json", "as_json", is_flag=True, help="Print the held-out figures as JSON.")
def train(run_dirs: tuple[Path, ...], out: Path, held_out: tuple[Path, ...], note: str,
          as_json: bool) -> None:
    """Fit the model and its queue-depth baseline on RUN_DIRS; write MODEL.json."""
    from fakalab.simulate.risk_training import TrainingError
    from fakalab.simulate.risk_training import train as fit

    overlap = {p.resolve() for p in run_dirs} & {p.resolve() for p in held_out}
    if overlap:
        _fail(ValueError(f"a held-out run is also a training run: {sorted(overlap)[0]}"))
    try:
        fitted = fit(run_dirs, held_out, created_by=note)
    except TrainingError as exc:
        _fail(exc)
    fitted.save(out)
    result = fitted.metrics.get("held_out")
    if as_json:
        click.echo(json.dumps(fitted.metrics, indent=1))
        return
    training = fitted.metrics["training"]
    runs = f"{len(run_dirs)} run{'s' if len(run_dirs) != 1 else ''}"
    click.echo(f"trained on {runs}: {training['rows']} rows, "
               f"{training['orders']} orders, {100 * training['delayed_share']:.1f}% delayed")
    if result:
        _print(result)
    click.echo(f"model written to {out}")


@model.command()
@click.argument("model_file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("run_dirs", nargs=-1, required=True, type=RunDirs)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def evaluate(model_file: Path, run_dirs: tuple[Path, ...], as_json: bool) -> None:
    """AUC, Brier and calibration of MODEL_FILE and its baseline on RUN_DIRS (held out)."""
    from fakalab.simulate.risk_training import TrainingError
    from fakalab.simulate.risk_training import evaluate as measure

    try:
        fitted = load_model(model_file)
    except ModelError as exc:
        _fail(exc)
    trained = set(fitted.trained_on) & {p.name for p in run_dirs}
    if trained:
        click.echo(f"warning: trained on {', '.join(sorted(trained))}: not held out", err=True)
    try:
        result = measure(fitted, run_dirs)
    except TrainingError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(result, indent=1))
    else:
        _print(result)
