"""`fakalab drill SCENARIO`: the main job."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from fakalab.contract.scenario import ScenarioError, load_scenario
from fakalab.contract.target import TargetError, load_target
from fakalab.scenarios.drill import ERROR, INTERRUPTED, DrillOptions, RunResult, run_drill
from fakalab.scenarios.drill_junit import suites_of
from fakalab.scenarios.junit import render
from fakalab.scenarios.loadgen import DEFAULT_MASTER_PORT, LoadgenError, check_listen
from fakalab.scenarios.repeat import run_repeats, tables

__all__ = ["drill"]


def slo_table(result: RunResult) -> Table:
    table = Table(title=f"{result.run_dir.name}: SLOs")
    for column in ("SLO", "target", "observed", "verdict"):
        table.add_column(column)
    for v in result.verdicts:
        shown = "no data" if v.observed is None else f"{v.observed:.4g}"
        verdict = {True: "[green]held[/]", False: "[red]breached[/]", None: "[red]no data[/]"}
        table.add_row(v.name, v.target, shown, verdict[v.passed])
    return table


def _severity(status: int) -> int:
    return {0: 0, 1: 1, ERROR: 2, INTERRUPTED: 3}.get(status, 2)


@click.command()
@click.argument("scenario")
@click.option("--duration", default=None, help="Override the duration, e.g. 90s or 3m.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"),
              show_default=True, help="Where run directories go.")
@click.option("--seed", type=int, default=None, help="Override the scenario's seed.")
@click.option("--toxiproxy", "toxiproxy_url", default=None, envvar="TOXIPROXY_URL",
              help="A running Toxiproxy server (default: start the embedded one).")
@click.option("--generators", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Load generator (Locust) processes: a master and N workers sharing the "
              "arrival rate. The shop's fulfilment workers are --set shop.workers=N.")
@click.option("--remote-generators", type=click.IntRange(0, 256), default=0, show_default=True,
              help="Generator processes that join from other hosts (`fakalab generator "
              "--master BIND:PORT` there), each taking an equal share of the arrivals with the "
              "local ones. Needs --bind.")
@click.option("--bind", "bind", default=None, metavar="ADDRESS",
              help="This machine's address as the other hosts reach it: the shop, its payment "
              "pages and the Locust master listen there instead of 127.0.0.1.")
@click.option("--master-port", type=click.IntRange(1, 65535), default=DEFAULT_MASTER_PORT,
              show_default=True, help="The Locust master's port on --bind (remote generators).")
@click.option("--workers", "old_workers", hidden=True, default=None,
              help="Renamed: --generators (Locust processes) or --set shop.workers (the shop's).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override any scenario field, e.g. --set shop.workers=8.")
@click.option("--repeat", "repeats", type=click.IntRange(1, 100), default=1, show_default=True,
              help="Run the drill N times (one run directory each, under one parent "
              "directory) and show each headline figure's spread: values, mean, interval of "
              "the mean, prediction interval for one run (repeats.json, repeats.md).")
@click.option("--no-report", is_flag=True, help="Skip the report at the end.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write the SLO verdicts and audit checks as JUnit XML.")
@click.option("--target", "target_name", default=None, metavar="FILE",
              help="The shop to drill: a target file, a built-in (reference-epay), or "
              "reference (the default, unless the scenario has a target: section).")
def drill(scenario: str, duration: str | None, out: Path, seed: int | None,
          toxiproxy_url: str | None, generators: int, remote_generators: int,
          bind: str | None, master_port: int, old_workers: str | None,
          sets: tuple[str, ...], repeats: int, no_report: bool, junit_path: Path | None,
          target_name: str | None) -> None:
    """Run SCENARIO (a built-in name or a file) against the reference shop or a --target, with
    its load and faults, and write a run directory. Exit 0: SLOs held; 1: breached; 2: error or
    invalid run; 130: interrupted (with --repeat: the worst of the repeats)."""
    if old_workers is not None:
        raise click.UsageError(
            f"--workers {old_workers}: say which workers — --generators {old_workers} for Locust "
            f"processes, or --set shop.workers={old_workers} for the shop's fulfilment workers")
    console = Console()
    overrides = list(sets)
    overrides += [f"duration={duration}"] if duration else []
    overrides += [f"seed={seed}"] if seed is not None else []
    try:
        target = load_target(target_name) if target_name is not None else None
        resolved = load_scenario(scenario, overrides, target)  # reference: the classic drill
    except (ScenarioError, TargetError) as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    unwritable = _unwritable(out)
    if unwritable:
        click.echo(f"error: cannot write run directories under {out}: {unwritable}", err=True)
        sys.exit(2)
    remote = _remote_problem(resolved.target is not None, remote_generators, bind, master_port)
    if remote:
        click.echo(f"error: {remote}", err=True)
        sys.exit(2)
    options = DrillOptions(out=out, toxiproxy_url=toxiproxy_url, generators=generators,
                           bind=bind, remote_generators=remote_generators,
                           master_port=master_port)
    repeated = None
    if repeats > 1:
        repeated = run_repeats(resolved, options, console, repeats)
        results = repeated.results
    else:
        results = run_drill(resolved, options, console)
    for result in results:
        if result.verdicts:
            console.print(slo_table(result))
        if result.error:
            console.print(f"[red]error:[/] {result.error}")
        for name in result.audit_failed:
            console.print(f"[red]invariant broken:[/] {name} (see {result.run_dir}/audit.json)")
        for reason in result.invalid_reasons:
            console.print(f"[red]run invalid:[/] {reason}")
        console.print(f"run directory: {result.run_dir}")
    status = max((r.exit_status for r in results), key=_severity, default=ERROR)
    if repeated is not None:
        for table in tables(repeated):
            console.print(table)
        for problem in repeated.problems:
            console.print(f"[red]repeats:[/] {problem}")
        console.print(f"repeats: {repeated.parent / 'repeats.json'}")
    if not no_report and status != INTERRUPTED and results:
        out_dir = repeated.parent / "report" if repeated is not None else None
        status = max(status, _report(results, console, out_dir), key=_severity)
    if junit_path is not None:
        status = max(status, _junit(results, junit_path, console), key=_severity)
    sys.exit(status)


def _junit(results: list[RunResult], path: Path, console: Console) -> int:
    try:
        path.write_text(render(suites_of(results)))
    except OSError as exc:
        console.print(f"[red]JUnit file not written:[/] {path}: {exc.strerror}")
        return ERROR
    console.print(f"JUnit: {path}")
    return 0


def _remote_problem(external: bool, remote: int, bind: str | None, port: int) -> str | None:
    """Why --bind / --remote-generators cannot work as given (None when they can)."""
    if bind is None:
        return "--remote-generators needs --bind ADDRESS (an address of this machine that " \
            "the other hosts reach)" if remote else None
    if external:
        return "--bind and --remote-generators drill the reference shop only (not a --target)"
    if bind in ("", "0.0.0.0", "::"):
        shown = bind or "''"
        return f"--bind {shown}: give this machine's own address, not a wildcard (the " \
            "buyers are sent to pay URLs that name it)"
    try:
        check_listen(bind, 0, "the shop")
        if remote:
            check_listen(bind, port, "the Locust master (--master-port)")
    except LoadgenError as exc:
        return f"--bind {bind}: {exc}"
    return None


def _unwritable(out: Path) -> str | None:
    """Why run directories cannot be made under `out` (None when they can), before anything
    starts."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out, prefix=".fakalab-check-"):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _report(results: list[RunResult], console: Console, out_dir: Path | None = None) -> int:
    from fakalab.reports.build import RunDirError, build_report

    try:
        out = build_report([r.run_dir for r in results], out_dir)
    except (RunDirError, OSError, ValueError) as exc:
        console.print(f"[red]report failed:[/] {exc}")
        return ERROR
    console.print(f"report: {out}")
    return 0
