"""`fakalab toxiproxy` and `fakalab chaos validate|run`.

Exit codes of `chaos run`: 0 completed and not deviated; 1 deviated, failed or aborted; 2 an error
(bad plan, unreachable server, missing proxies: nothing was injected); 130 interrupted.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import NoReturn

import click

from fakalab.chaos.client import ToxiproxyClient, ToxiproxyError, toxiproxy_url
from fakalab.chaos.journal import Journal
from fakalab.chaos.plan import Plan, PlanError, load_plan
from fakalab.chaos.runner import PlanRunner
from fakalab.chaos.toxics import ApiError

__all__ = ["EXIT_CODES", "chaos", "default_admin_urls", "toxiproxy"]

EXIT_CODES = {"completed": 0, "deviated": 1, "failed": 1, "aborted": 1, "interrupted": 130}
UPSTREAM_ORDER = ("payment-a", "payment-b", "supplier-a", "supplier-b", "risk", "notify")
DEFAULT_TOXIPROXY = "http://127.0.0.1:8474"


def default_admin_urls(port_base: int = 9100) -> dict[str, str]:
    """The reference shop's upstreams as `fakalab upstreams --port-base` places them."""
    return {name: f"http://127.0.0.1:{port_base + i + 1}" for i, name in enumerate(UPSTREAM_ORDER)}


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.command("toxiproxy")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address of the API.")
@click.option("--port", default=8474, show_default=True, type=int, help="Port of the API.")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path),
              help="Proxies to create at start: a JSON list, the shape /populate takes.")
@click.option("--metrics", is_flag=True, help="Serve Prometheus byte counters on /metrics.")
def toxiproxy(host: str, port: int, config: Path | None, metrics: bool) -> None:
    """Run the embedded Toxiproxy-compatible server until Ctrl-C or SIGTERM.

    Prints the API URL on its first line. toxiproxy-cli, toxiproxy-python and
    chaostoolkit-toxiproxy work against it as against a real toxiproxy-server.
    """
    from fakalab.chaos.server import load_config, run

    try:
        proxies = load_config(config) if config else []
    except (OSError, ValueError) as exc:
        _fail(f"cannot read --config {config}: {exc}")
    try:
        run(host, port, proxies, metrics)
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    except ApiError as exc:
        _fail(f"--config {config}: {exc.message}")


@click.group("chaos", context_settings={"help_option_names": ["-h", "--help"]})
def chaos() -> None:
    """Validate and run drill plans (YAML) against a running stack."""


def _load(path: Path) -> Plan:
    try:
        return load_plan(path)
    except PlanError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        sys.exit(2)


def _describe(plan: Plan) -> list[str]:
    lines = [f"{plan.title}: {len(plan.faults)} fault(s) over {plan.end:g} s"]
    for fault in sorted(plan.faults, key=lambda f: f.start):
        attributes = ", ".join(f"{k}={v}" for k, v in fault.fault.attributes.items())
        line = (f"  {fault.id}: +{fault.start:g}s for {fault.duration:g}s  {fault.link}  "
                f"{fault.kind}({attributes})")
        if fault.fault.kind == "toxic":
            line += f" toxicity={fault.toxicity:g} stream={fault.stream}"
        elif fault.fault.kind == "kill":
            line += " then restart"
        lines.append(line)
    probes = plan.steady_state.probes
    lines.append(f"  steady state: {len(probes)} probe(s), every {plan.steady_state.interval:g} s")
    return lines


@chaos.command("validate")
@click.argument("plan_path", metavar="PLAN.yaml", type=click.Path(path_type=Path))
def validate(plan_path: Path) -> None:
    """Check a plan; print each problem with its line and field (exit 2), or its timeline."""
    for line in _describe(_load(plan_path)):
        click.echo(line)


@chaos.command("run")
@click.argument("plan_path", metavar="PLAN.yaml", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate and print the timeline; inject nothing.")
@click.option("--toxiproxy", "url", help="Toxiproxy API URL (default: $TOXIPROXY_URL, the "
              f"plan's `toxiproxy`, else {DEFAULT_TOXIPROXY}).")
@click.option("--journal", "journal_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("chaos.json"), show_default=True, help="Where to write the journal.")
@click.option("--upstream", "upstreams", multiple=True, metavar="NAME=URL",
              help="Admin URL of an upstream service (repeatable); default 127.0.0.1:9101-9106.")
def run(plan_path: Path, dry_run: bool, url: str | None, journal_path: Path,
        upstreams: tuple[str, ...]) -> None:
    """Run a drill plan against services that are already running; write its journal."""
    plan = _load(plan_path)
    if dry_run:
        for line in _describe(plan):
            click.echo(line)
        click.echo("dry run: nothing injected")
        return
    admin = default_admin_urls() | plan.upstreams | _pairs(upstreams)
    client = ToxiproxyClient(toxiproxy_url(url) or plan.toxiproxy or DEFAULT_TOXIPROXY)
    try:
        journal = asyncio.run(_run(plan, client, admin))
    except ToxiproxyError as exc:
        _fail(f"{exc}; nothing was injected")
    except OSError as exc:
        _fail(f"{exc}")
    except KeyboardInterrupt:
        _fail("interrupted before any fault was injected", 130)
    journal.write(journal_path)
    outcome = "deviated" if journal.deviated and journal.status == "completed" else journal.status
    click.echo(f"{plan.title}: {outcome}; journal written to {journal_path}")
    sys.exit(EXIT_CODES[outcome])


def _pairs(items: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            _fail(f"--upstream takes NAME=URL, got {item!r}")
        pairs[name] = value
    return pairs


async def _run(plan: Plan, client: ToxiproxyClient, admin: dict[str, str]) -> Journal:
    runner = PlanRunner(plan, client, admin)
    await asyncio.to_thread(client.version)  # unreachable: ToxiproxyError, exit 2
    problems = await runner.preflight()
    if problems:
        _fail("the plan cannot run: " + "; ".join(problems) + "; nothing was injected")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, runner.interrupt)
    click.echo(f"running {plan.title!r} against {client.url} ({plan.end:g} s); Ctrl-C stops it")
    return await runner.run()
