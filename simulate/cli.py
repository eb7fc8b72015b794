"""`fakalab simulate`: the fast M/M/c model next to Erlang C, and the validation table.

``simulate`` is a group so that a positional TARGET (a run directory to calibrate from, or a
scenario to plan with) can be added without breaking the subcommands: any first argument that is
not a subcommand is handed to the hidden ``target`` command.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from simulate.mmc import MMcModel, MMcReport, run_mmc
from simulate.validation import Check, analytic_figures, mmc_comparison, validation_suite

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

    Later: `fakalab simulate RUN_DIR` (calibrate from a drill) and `fakalab simulate SCENARIO`
    (what-if and capacity planning).
    """
    if ctx.invoked_subcommand is not None:
        return
    if run_validation:
        ctx.invoke(validate)
    else:
        click.echo(ctx.get_help())


@simulate.command("target", hidden=True)
@click.argument("target")
def target(target: str) -> None:
    """Simulate a run directory or a scenario (not available yet)."""
    raise click.UsageError(
        f"{target!r} is neither a subcommand nor supported yet: simulating a run directory or a"
        " scenario comes with calibration (issue 5, parts 3 and 4). Try `fakalab simulate mmc`."
    )


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
