"""The `fakalab` console script: one group, each subcommand owned by the package that does the job.

Subcommands are imported lazily so that `fakalab --help` stays fast and so that heavy
dependencies (Locust's gevent patching, pandas, SimPy) load only for the command that needs them.
"""

from __future__ import annotations

import importlib

import click

# name -> (module within fakalab, attribute, one-line help). The owning package defines the
# click command.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "drill": ("scenarios.drill_cli", "drill", "Run a scenario with its load and faults."),
    "shop": ("reference_shop.cli", "shop", "Run the reference shop (FastAPI) on loopback."),
    "upstreams": ("reference_shop.upstreams.cli", "upstreams",
                  "Run the shop's upstream services (payment A/B, supplier A/B, risk, notify)."),
    "toxiproxy": ("chaos.cli", "toxiproxy", "Run the embedded Toxiproxy-compatible server."),
    "chaos": ("chaos.cli", "chaos", "Validate and run drill plans against a running stack."),
    "simulate": ("simulate.cli", "simulate", "Simulate the order pipeline, validate, plan."),
    "model": ("simulate.model_cli", "model", "Train and evaluate the delay-risk model."),
    "audit": ("scenarios.audit_cli", "audit", "Check a run's invariants (audit.json)."),
    "target": ("scenarios.target_cli", "target", "Check a target file: one purchase, step "
               "by step."),
    "report": ("reports.cli", "report", "Build the report of one or more run directories."),
    "generator": ("scenarios.generator_cli", "generator", "Join a drill's load from another "
                  "host (a Locust worker)."),
    "receipt": ("scenarios.receipt_cli", "receipt", "Verify a buyer's receipt offline "
                "(verifiable receipts)."),
    "scenarios": ("scenarios.listing", "scenarios", "List the built-in drill scenarios."),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it is invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(super().list_commands(ctx)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module_name, attr, _ = COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(f"fakalab.{module_name}"), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing the commands must not import every package (Locust patches the process).
        rows = [(name, COMMANDS[name][2]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fakalab")
def cli() -> None:
    """fakalab: load tests, chaos drills and simulations of an auto-delivery (发卡) shop."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="fakalab")


if __name__ == "__main__":
    main()
