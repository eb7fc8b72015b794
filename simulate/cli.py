"""`fakalab simulate`: the fast M/M/c model next to Erlang C, and the validation table.

``simulate`` is a group so that a positional TARGET (a run directory to calibrate from, or a
scenario to plan with) can be added without breaking the subcommands: any first argument that is
not a subcommand is handed to the hidden ``target`` command.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from fakalab.contract.scenario import ScenarioError, load_scenario
from fakalab.simulate.calibrate import ArrivalMode
from fakalab.simulate.capacity import parse_slo
from fakalab.simulate.mmc import MMcModel, MMcReport, run_mmc
from fakalab.simulate.runfiles import RunDirError, simulate_run
from fakalab.simulate.scenario_model import scenario_model
from fakalab.simulate.targets import (
    capacity_document,
    capacity_table,
    check_levers,
    parse_what_ifs,
    plan_capacity,
    run_table,
    sweep_document,
    sweep_table,
    what_if,
)
from fakalab.simulate.validation import Check, analytic_figures, mmc_comparison, validation_suite

__all__ = ["simulate"]

LONG_RUN = 500_000  # orders above which a progress bar is shown


class SimulateGroup(click.Group):
    """Subcommands first; anything else is a TARGET for the ``target`` command."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "target", self.commands["target"], args
        return super().resolve_command(ctx, args)


@contextmanager
def progress_bar(label: str, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr (only on a terminal), as a (done, total) callback."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*Progress.get_default_columns()[:1], *columns, console=console) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _stdout() -> Console:
    """The console for tables: the terminal's width, or 110 columns when piped."""
    console = Console()
    return console if console.is_terminal else Console(width=110)


@click.group(cls=SimulateGroup, invoke_without_command=True)
@click.option("--validate", "run_validation", is_flag=True, help="Print the validation table.")
@click.pass_context
def simulate(ctx: click.Context, run_validation: bool) -> None:
    """Simulate the order pipeline; validate the model against queueing theory.

    `fakalab simulate RUN_DIR` calibrates from a drill and writes RUN_DIR/simulation/;
    `fakalab simulate SCENARIO [--what-if workers=4,6,8] [--capacity --slo delay_rate<=1%]`
    plans with a scenario file or built-in.
    """
    if ctx.invoked_subcommand is not None:
        return
    if run_validation:
        ctx.invoke(validate)
    else:
        click.echo(ctx.get_help())


@simulate.command("target", hidden=True)
@click.argument("target")
@click.option("--orders", type=click.IntRange(min=1), help="Orders instead of the duration.")
@click.option("--what-if", "what_ifs", multiple=True, help="LEVER=V[,V…], e.g. workers=4,6,8.")
@click.option("--set", "sets", multiple=True, help="Scenario override, as for `fakalab drill`.")
@click.option("--seed", type=int, default=0, show_default=True, help="First seed.")
@click.option("--seeds", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--capacity", "plan", is_flag=True, help="Smallest worker count meeting --slo.")
@click.option("--slo", default="delay_rate<=1%", show_default=True)
@click.option(
    "--arrivals",
    type=click.Choice(["trace", "rate"]),
    default="trace",
    show_default=True,
    help="RUN_DIR: replay the run's own arrival times, or Poisson at the fitted rate.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def target(
    target: str,
    orders: int | None,
    what_ifs: tuple[str, ...],
    sets: tuple[str, ...],
    seed: int,
    seeds: int,
    plan: bool,
    slo: str,
    arrivals: ArrivalMode,
    as_json: bool,
) -> None:
    """Calibrate from a run directory (writes RUN_DIR/simulation/), or plan with a scenario."""
    seed_list = list(range(seed, seed + seeds))
    if _is_run_dir(target):
        _run_dir(target, seed_list, arrivals, as_json)
        return
    try:
        scenario = load_scenario(target, list(sets))
        model, skipped = scenario_model(scenario, orders=orders)
        levers, objective = parse_what_ifs(what_ifs), parse_slo(slo)
        check_levers(model, levers)
    except (ScenarioError, ValueError, KeyError) as error:
        _fail(str(error).strip("'\"").replace("\n", "; "))
    for fault in skipped:
        click.echo(f"note: the model leaves out the fault {fault}", err=True)
    long_run = len(seed_list) * (model.orders or 0) > LONG_RUN or plan or bool(levers)
    with progress_bar(scenario.name, long_run and not as_json) as progress:
        if plan:
            capacity_plan, effects = plan_capacity(model, objective, seed_list, progress)
        else:
            results = what_if(model, levers, seed_list, progress)
    if plan:
        out: object = capacity_document(capacity_plan, effects, model)
        table = capacity_table(capacity_plan, effects)
    else:
        out = sweep_document(results)
        table = sweep_table(results, f"{scenario.name}: {model.workers} workers, seeds {seed_list}")
    if as_json:
        click.echo(json.dumps(out, indent=2))
    else:
        _stdout().print(table)


def _is_run_dir(target: str) -> bool:
    """A directory, or a path that is not a scenario file (a missing run directory)."""
    path = Path(target)
    return path.is_dir() or ("/" in target and path.suffix not in (".yaml", ".yml"))


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(2)


def _run_dir(path: str, seeds: list[int], arrivals: ArrivalMode, as_json: bool) -> None:
    try:
        with progress_bar("replay", not as_json) as progress:
            result = simulate_run(path, seeds=seeds, arrivals=arrivals, progress=progress)
    except RunDirError as error:
        _fail(str(error))
    if as_json:
        click.echo(json.dumps(result.summary, indent=2))
    else:
        _stdout().print(run_table(result.summary))
        click.echo(f"wrote {result.out_dir}/windows.csv, summary.json, calibration.json")


def _shares(value: str | None) -> tuple[float, ...]:
    if not value:
        return (1.0,)
    try:
        return tuple(float(part) for part in value.split(","))
    except ValueError as error:
        raise click.BadParameter("give class shares as numbers, e.g. 0.2,0.8") from error


@simulate.command()
@click.option("--arrival-rate", type=click.FloatRange(min=0, min_open=True), default=9.0)
@click.option("--service-rate", type=click.FloatRange(min=0, min_open=True), default=1.0)
@click.option("--servers", type=click.IntRange(min=1), default=10)
@click.option("--orders", type=click.IntRange(min=1000), default=200_000)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--t", "threshold", type=click.FloatRange(min=0), default=1.0, help="t in P(Wq > t).")
@click.option("--classes", help="Priority class shares, most urgent first, e.g. 0.2,0.8.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def mmc(
    arrival_rate: float,
    service_rate: float,
    servers: int,
    orders: int,
    seed: int,
    threshold: float,
    classes: str | None,
    as_json: bool,
) -> None:
    """Simulate M/M/c (fast path) and print simulated and Erlang C figures side by side."""
    try:
        model = MMcModel(arrival_rate, service_rate, servers, orders, _shares(classes))
    except ValueError as error:
        raise click.BadParameter(str(error)) from error
    with progress_bar("M/M/c", orders > LONG_RUN and not as_json) as progress:
        report = run_mmc(model, seed, t=threshold, progress=progress)
    if as_json:
        click.echo(json.dumps(mmc_comparison(report), indent=2))
    else:
        _stdout().print(mmc_table(report))


def mmc_table(report: MMcReport) -> Table:
    """Simulated figures, their 95% batch-means intervals and the analytic values."""
    model = report.model
    title = (
        f"M/M/{model.servers}  λ={model.arrival_rate:g} μ={model.service_rate:g}"
        f"  ρ={model.utilisation:.3f}"
    )
    caption = (
        f"{model.orders:,} orders, seed {report.seed}, {report.orders_per_s:,.0f} orders/s;"
        " 95% batch-means intervals"
    )
    table = Table(title=title, caption=caption)
    for column in ("figure", "simulated", "95% CI", "analytic"):
        table.add_column(column, justify="right")
    theory = analytic_figures(model, report.t) or {}
    figures = [
        ("mean_wait", "Wq", report.mean_wait),
        ("p_wait", "P(Wq>0)", report.p_wait),
        ("p_wait_gt_t", f"P(Wq>{report.t:g})", report.p_wait_gt_t),
    ]
    for key, label, estimate in figures:
        value = theory.get(key)
        table.add_row(
            label,
            f"{estimate.mean:.4f}",
            f"[{estimate.lo:.4f}, {estimate.hi:.4f}]",
            "—" if value is None else f"{value:.4f}",
        )
    table.add_row("utilisation", f"{report.utilisation:.4f}", "", f"{model.utilisation:.4f}")
    return table


@simulate.command()
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--scale", type=click.FloatRange(min=0.001), default=1.0, help="Scale order counts.")
def validate(seed: int, scale: float) -> None:
    """Print the validation table: M/M/c at ρ ∈ {0.5, 0.8, 0.9, 0.95} and priority classes."""
    with progress_bar("validation", True) as progress:
        checks = validation_suite(seed=seed, scale=scale, progress=progress)
    _stdout().print(validation_table(checks))
    if not all(check.passed for check in checks):
        raise SystemExit(1)


def _label(figure: str) -> str:
    if figure.startswith("mean_wait_class_"):
        return f"Wq class {figure.rsplit('_', 1)[1]}"
    if figure.startswith("p_wait_gt_"):
        return f"P(Wq>{figure.rsplit('_', 1)[1]})"
    return {"mean_wait": "Wq", "p_wait": "P(Wq>0)"}.get(figure, figure)


def validation_table(checks: list[Check]) -> Table:
    table = Table(title="fast M/M/10 path (μ=1) against Erlang C and Cobham; 95% batch means")
    for column in ("ρ", "figure", "orders", "simulated", "95% CI", "theory", "error", "pass"):
        table.add_column(column, justify="right")
    for check in checks:
        unit = "%" if check.relative else ""
        scale = 100 if check.relative else 1
        limit = f"±{check.tolerance * scale:g}{unit}"
        table.add_row(
            f"{check.rho:g}",
            _label(check.figure),
            f"{check.orders:,}",
            f"{check.simulated.mean:.4f}",
            f"[{check.simulated.lo:.4f}, {check.simulated.hi:.4f}]",
            f"{check.analytic:.4f}",
            f"{check.error * scale:+.{2 if check.relative else 4}f}{unit} ({limit})",
            "yes" if check.passed else "NO",
        )
    return table
