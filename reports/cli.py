"""`fakalab report RUN_DIR [RUN_DIR ...] [--out DIR]`."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["report"]


@click.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Output directory (default: report/ inside the first RUN_DIR).",
)
@click.option(
    "--window",
    "window_s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Width of the over-time windows in seconds (default: automatic, <= 60 windows).",
)
@click.option("--seed", type=int, default=None, help="Seed of the comparison's bootstrap.")
def report(
    run_dirs: tuple[Path, ...], out_dir: Path | None, window_s: float | None, seed: int | None
) -> None:
    """Build the report of one or more run directories.

    Writes index.html (self-contained), report.md, metrics.json and the figures as PNG.
    With several runs, the first is the baseline of the comparison. Exit status 2 when a run
    directory cannot be read.
    """
    from fakalab.reports.build import RunDirError, build_report
    from fakalab.reports.compare import SEED

    try:
        target = build_report(
            list(run_dirs), out_dir, window_s=window_s, seed=SEED if seed is None else seed,
            on_warning=lambda text: click.echo(f"warning: {text}", err=True),
        )
    except RunDirError as exc:
        click.echo(f"fakalab report: {exc}", err=True)
        raise SystemExit(2) from None
    click.echo(f"report written to {target / 'index.html'}")
