"""Steady-state probes: HTTP status/JSON probes and Prometheus metric probes.

The I/O is one GET per probe (httpx); extracting values (`json_value`, `metric_value`) and
judging them (`chaos.tolerance.within`) are pure functions.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from fakalab.chaos.journal import ProbeRecord
from fakalab.chaos.plan import HttpProbe, MetricProbe
from fakalab.chaos.tolerance import parse_tolerance, within

__all__ = ["json_value", "metric_value", "run_probe"]

_MISSING = object()


def json_value(document: Any, path: str) -> Any:
    """`a.b.0.c` into nested objects and lists; KeyError when a step is missing."""
    value = document
    for step in path.split("."):
        if isinstance(value, list) and step.lstrip("-").isdigit():
            try:
                value = value[int(step)]
            except IndexError:
                raise KeyError(path) from None
        elif isinstance(value, dict) and step in value:
            value = value[step]
        else:
            raise KeyError(path)
    return value


def metric_value(text: str, name: str, labels: dict[str, str]) -> float | None:
    """Sum of the samples named `name` whose labels include `labels`; None when there is none."""
    total, found = 0.0, False
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
                found = True
    return total if found else None


async def _http(probe: HttpProbe, client: httpx.AsyncClient) -> tuple[bool, Any]:
    response = await client.request(probe.method, probe.url, timeout=probe.timeout)
    if response.status_code != probe.status:
        return False, f"HTTP {response.status_code}, expected {probe.status}"
    if probe.json_path is None:
        return True, response.status_code
    try:
        value = json_value(response.json(), probe.json_path)
    except (ValueError, KeyError):
        return False, f"no value at {probe.json_path}"
    return within(parse_tolerance(probe.tolerance), value), value


async def _metric(probe: MetricProbe, client: httpx.AsyncClient) -> tuple[bool, Any]:
    response = await client.get(probe.url, timeout=probe.timeout)
    response.raise_for_status()
    value = metric_value(response.text, probe.metric, probe.labels)
    if value is None:
        return False, f"no sample of {probe.metric} with labels {probe.labels}"
    return within(parse_tolerance(probe.tolerance), value), value


async def run_probe(probe: HttpProbe | MetricProbe, client: httpx.AsyncClient) -> ProbeRecord:
    """Run one probe; never raises: a failure to probe is a probe that is not met."""
    start = time.time()
    met, value, error = False, None, None
    try:
        if isinstance(probe, HttpProbe):
            met, value = await _http(probe, client)
        else:
            met, value = await _metric(probe, client)
    except (httpx.HTTPError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    return ProbeRecord(probe.name, probe.type, met, value, error, start, time.time())
