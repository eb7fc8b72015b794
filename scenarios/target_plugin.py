"""Loading a target's Python plugin: an entry point of group `fakalab.targets` (docs/targets.md).

The entry point names a class (instantiated with no arguments), a factory function, or an
object; what it gives is a `profile_client.TargetPlugin`.
"""

from __future__ import annotations

import inspect
from importlib.metadata import entry_points

from fakalab.contract.target import PLUGIN_GROUP, plugin_problem
from fakalab.scenarios.profile_client import TargetPlugin

__all__ = ["PluginError", "load_plugin"]


class PluginError(Exception):
    """The plugin cannot be loaded; the message says which and why (one line)."""


def load_plugin(name: str | None) -> TargetPlugin | None:
    if name is None:
        return None
    problem = plugin_problem(name)
    if problem:
        raise PluginError(problem)
    (found,) = [ep for ep in entry_points(group=PLUGIN_GROUP) if ep.name == name]
    try:
        loaded = found.load()
        plugin = loaded() if inspect.isclass(loaded) or inspect.isfunction(loaded) else loaded
    except Exception as exc:  # the plugin's own code: say what broke, in one line
        raise PluginError(f"plugin {name} ({found.value}): {type(exc).__name__}: {exc}") from None
    if not callable(getattr(plugin, "run_step", None)):
        raise PluginError(f"plugin {name} ({found.value}) has no run_step(name, client, "
                          f"context) method")
    found_plugin: TargetPlugin = plugin  # type: ignore[assignment]
    return found_plugin
