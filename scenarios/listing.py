"""`fakalab scenarios`: the built-in scenarios, one line each."""

from __future__ import annotations

import click

from fakalab.contract.scenario import builtin_names, load_scenario

__all__ = ["scenario_lines", "scenarios"]


def scenario_lines() -> list[str]:
    lines = []
    for name in builtin_names():
        scenario = load_scenario(name)
        variants = f" [variants: {', '.join(v.name for v in scenario.variants)}]" \
            if scenario.variants else ""
        lines.append(f"{name:<22} {scenario.description}{variants}")
    return lines


@click.command("scenarios")
def scenarios() -> None:
    """List the built-in scenarios (a path to your own YAML file works wherever a name does)."""
    for line in scenario_lines():
        click.echo(line)
