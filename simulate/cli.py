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
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from fakalab.contract.scenario import Scenario, ScenarioError, load_scenario
from fakalab.reports.rundir import load_run
from fakalab.simulate.against import compare, refusal
from fakalab.simulate.calibrate import ArrivalMode
from fakalab.simulate.calibrating import calibrate_runs, run_calibration_drills
from fakalab.simulate.capacity import Slo, parse_slo
from fakalab.simulate.forecast import forecast
from fakalab.simulate.forecast_tables import against_table, forecast_table, windows_table
from fakalab.simulate.mmc import MMcModel, MMcReport, run_mmc
from fakalab.simulate.runfiles import RunDirError, simulate_run
from fakalab.simulate.scenario_model import CALIBRATION, load_calibration, scenario_model
from fakalab.simulate.shop_calibration import ShopCalibration
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
@click.option("--orders", type=click.IntRange(min=1),
              help="Run N orders: the scenario's load and faults back to back until N orders.")
@click.option("--duration", help="The drill's --duration (e.g. 90s): the scenario that long.")
@click.option("--what-if", "what_ifs", multiple=True, help="LEVER=V[,V…], e.g. workers=4,6,8.")
@click.option("--set", "sets", multiple=True, help="Scenario override, as for `fakalab drill`.")
@click.option("--seed", type=int, default=0, show_default=True, help="First seed.")
@click.option("--seeds", type=click.IntRange(min=1), default=None,
              help="Replications  [default: 20 for a forecast (3 beyond 100,000 orders), 5 for "
              "sweeps and replays]")
@click.option("--capacity", "plan", is_flag=True, help="Smallest worker count meeting --slo.")
@click.option("--hold-peak/--as-shaped", default=True, show_default=True,
              help="--capacity at the shape's peak rate held for the whole run (a sale whose "
              "peak may last), or over the load shape as written (this drill's spike).")
@click.option("--slo", default="delay_rate<=1%", show_default=True)
@click.option(
    "--arrivals",
    type=click.Choice(["trace", "rate", "drill", "poisson"]),
    default=None,
    help="RUN_DIR: the run's own arrival times (trace, default) or Poisson at the fitted rate "
    "(rate). SCENARIO: the orders the seeded drill will place (drill, default) or a new "
    "Poisson realisation per seed (poisson).",
)
@click.option("--generators", type=click.IntRange(1, 64), default=1, show_default=True,
              help="The drill's --generators (its load schedule depends on them).")
@click.option("--calibration", "calibration_runs", multiple=True, metavar="RUN_DIR[,RUN_DIR…]",
              help="Fit the shop's calibration from these runs instead of shop.json "
              "(repeat the option or separate with commas).")
@click.option("--against", "against", metavar="RUN_DIR",
              help="Show the forecast next to what this run measured.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def target(
    target: str,
    orders: int | None,
    duration: str | None,
    what_ifs: tuple[str, ...],
    sets: tuple[str, ...],
    seed: int,
    seeds: int | None,
    plan: bool,
    hold_peak: bool,
    slo: str,
    arrivals: str | None,
    generators: int,
    calibration_runs: tuple[str, ...],
    against: str | None,
    as_json: bool,
) -> None:
    """Calibrate from a run directory (writes RUN_DIR/simulation/), or forecast a scenario."""
    if _is_run_dir(target):
        seed_list = list(range(seed, seed + (seeds or 5)))
        if arrivals not in (None, "trace", "rate"):
            _fail(f"--arrivals {arrivals} is for a scenario; a run directory takes trace or rate")
        _run_dir(target, seed_list, arrivals or "trace", as_json)  # type: ignore[arg-type]
        return
    if arrivals in ("trace", "rate"):
        _fail(f"--arrivals {arrivals} is for a run directory; a scenario takes drill or poisson")
    if orders is not None and duration is not None:
        _fail("give --orders or --duration, not both")
    overrides = list(sets) + ([f"duration={duration}"] if duration else [])
    try:
        scenario = load_scenario(target, overrides)
        calibration = _calibration(calibration_runs)
        levers, objective = parse_what_ifs(what_ifs), parse_slo(slo)
    except (ScenarioError, ValueError, KeyError, RunDirError) as error:
        _fail(str(error).strip("'\"").replace("\n", "; "))
    if levers or plan:
        _sweep(scenario, calibration, orders, arrivals, levers, objective, plan,
               list(range(seed, seed + (seeds or 5))), as_json, hold_peak)
        return
    replications = seeds or (3 if orders is not None and orders > 100_000 else 20)
    seed_list = list(range(seed, seed + replications))
    _forecast(scenario, calibration, orders, arrivals or "drill", generators, seed_list,
              against, as_json)


def _calibration(given: tuple[str, ...]) -> ShopCalibration:
    runs = [part for item in given for part in item.split(",") if part]
    if not runs:
        return load_calibration()
    return calibrate_runs(runs, log=lambda line: click.echo(f"calibration: {line}", err=True))


def _sweep(scenario: Scenario, calibration: ShopCalibration, orders: int | None,
           arrivals: str | None, levers: dict[str, list[object]], objective: Slo, plan: bool,
           seed_list: list[int], as_json: bool, hold_peak: bool = True) -> None:
    try:
        model, notes = scenario_model(scenario, orders=orders, calibration=calibration,
                                      arrivals=arrivals or "poisson")  # type: ignore[arg-type]
        check_levers(model, levers)
    except (ValueError, KeyError) as error:
        _fail(str(error).strip("'\"").replace("\n", "; "))
    if not as_json:
        for line in notes:
            click.echo(f"fault: {line}", err=True)
    long_run = len(seed_list) * (model.orders or 0) > LONG_RUN or plan or bool(levers)
    with progress_bar(scenario.name, long_run and not as_json) as progress:
        if plan:
            capacity_plan, effects = plan_capacity(model, objective, seed_list, progress,
                                                   hold_peak=hold_peak)
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


def _forecast(scenario: Scenario, calibration: ShopCalibration, orders: int | None,
              arrivals: str, generators: int, seed_list: list[int], against: str | None,
              as_json: bool) -> None:
    run = None
    if against is not None:
        try:
            run = load_run(against)
        except RunDirError as error:
            _fail(str(error))
        if scenario.variants and run.meta.get("variant"):
            try:
                scenario = scenario.variant(str(run.meta["variant"]))
            except ScenarioError as error:
                _fail(f"{run.path}: {error.problems[0]}")
        problem = refusal(scenario, run, calibration)
        runs_generators = len((run.meta.get("load") or {}).get("summaries") or [1])
        if problem is None and runs_generators != generators:
            problem = (f"{run.path}: the run had {runs_generators} load generators: pass "
                       f"--generators {runs_generators}")
        if problem is None and orders is not None:
            problem = f"{run.path}: a drill has no --orders; forecast it with its own duration"
        if problem is not None:
            _fail(problem)
    elif scenario.variants:
        _fail(f"{scenario.name} has variants ({', '.join(v.name for v in scenario.variants)}): "
              f"forecast one with --set, or give --against a run of one")
    try:
        model, notes = scenario_model(scenario, orders=orders, calibration=calibration,
                                      arrivals=arrivals, generators=generators)  # type: ignore[arg-type]
    except ValueError as error:
        _fail(str(error).strip("'\"").replace("\n", "; "))
    long_run = len(seed_list) * (model.orders or 0) > LONG_RUN
    with progress_bar(scenario.name, long_run and not as_json) as progress:
        result = forecast(model, seed_list, speed_log_mean=calibration.speed_log_mean,
                          speed_log_sd=calibration.speed_log_sd, progress=progress, notes=notes,
                          calibration=calibration_document(calibration))
    comparison = compare(result, run) if run is not None else None
    what = (f"{model.orders:,} orders (the load repeated)" if orders else
            f"{model.duration_s:g} s, {'the drill' if arrivals == 'drill' else 'Poisson'}'s orders")
    if as_json:
        document: dict[str, Any] = {"scenario": scenario.name, "runs": what,
                                    "workers": model.workers, "forecast": result.document()}
        if comparison is not None:
            document["against"] = comparison
        click.echo(json.dumps(document, indent=2))
        return
    console = _stdout()
    title = (f"{scenario.name}: forecast before the drill — {what}, {model.workers} workers, "
             f"{len(seed_list)} replications")
    console.print(forecast_table(title, result))
    console.print(f"calibration: {calibration.describe()}")
    for line in notes:
        console.print(f"fault: {line}")
    if comparison is not None:
        console.print(against_table(f"against {comparison['run_id']}", comparison))
        console.print(windows_table(comparison))


def calibration_document(cal: ShopCalibration) -> dict[str, Any]:
    return {
        "description": cal.describe(),
        "fitted_at": cal.fitted_at,
        "fakalab": cal.fakalab,
        "sources": [s.model_dump() for s in cal.sources],
        "cpu_speed": {"runs": list(cal.speeds), "log_mean": cal.speed_log_mean,
                      "log_sd": cal.speed_log_sd},
    }


@simulate.command("calibrate")
@click.option("--repeat", type=click.IntRange(min=1), default=2, show_default=True,
              help="How often to run each drain drill (their spread is the harness's noise).")
@click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("runs/calibration"),
              show_default=True, help="Where the calibration drills write their runs.")
@click.argument("from_runs", nargs=-1, metavar="[RUN_DIR]...")
@click.option("--out", type=click.Path(path_type=Path), default=CALIBRATION, show_default=True,
              help="The calibration file to write.")
def calibrate(repeat: int, runs_dir: Path, from_runs: tuple[str, ...], out: Path) -> None:
    """Re-measure the shop: run the calibration drills (simulate/calibration/*.yaml) one at a
    time as `python -m fakalab drill`, fit, and write the calibration forecasts use. Given
    RUN_DIRs, fit from those runs instead of drilling."""

    def log(line: str) -> None:
        click.echo(line, err=True)

    try:
        paths = list(from_runs) or run_calibration_drills(runs_dir, repeat=repeat, log=log)
        cal = calibrate_runs(paths, log=log)
    except RunDirError as error:
        _fail(str(error))
    out.write_text(cal.model_dump_json(indent=1) + "\n", encoding="utf-8")
    click.echo(f"wrote {out}: {cal.describe()}")


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
