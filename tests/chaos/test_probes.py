"""Probes: value extraction (pure) and real HTTP probes against the embedded server's API."""

from __future__ import annotations

import httpx
import pytest

from fakalab.chaos.plan import HttpProbe, MetricProbe
from fakalab.chaos.probes import json_value, metric_value, run_probe

METRICS = """\
# TYPE orders_total counter
orders_total{channel="a",state="paid"} 3
orders_total{channel="b",state="paid"} 4
orders_total{channel="a",state="new"} 1
# TYPE up gauge
up 1
"""


def test_json_value_walks_objects_and_lists() -> None:
    assert json_value({"a": {"b": [10, {"c": "x"}]}}, "a.b.1.c") == "x"
    assert json_value({"a": [1, 2]}, "a.0") == 1
    with pytest.raises(KeyError):
        json_value({"a": {}}, "a.b")
    with pytest.raises(KeyError):
        json_value({"a": [1]}, "a.3")


def test_metric_value_sums_matching_samples() -> None:
    assert metric_value(METRICS, "orders_total", {"state": "paid"}) == 7
    assert metric_value(METRICS, "orders_total", {"channel": "a"}) == 4
    assert metric_value(METRICS, "up", {}) == 1
    assert metric_value(METRICS, "orders_total", {"channel": "z"}) is None


async def test_http_probe_status_and_json(toxiproxy_url: str) -> None:
    async with httpx.AsyncClient() as http:
        ok = await run_probe(HttpProbe(type="http", name="v", url=f"{toxiproxy_url}/version",
                                       json_path="version", tolerance={"regex": r"^2\."}), http)
        assert ok.met and ok.value.startswith("2.") and ok.error is None
        wrong = await run_probe(HttpProbe(type="http", name="p", url=f"{toxiproxy_url}/proxies/x"),
                                http)
        assert not wrong.met and wrong.value == "HTTP 404, expected 200"
        missing = await run_probe(HttpProbe(type="http", name="v", url=f"{toxiproxy_url}/version",
                                            json_path="nope", tolerance=True), http)
        assert not missing.met and missing.value == "no value at nope"


async def test_probe_of_unreachable_url_is_not_met_and_does_not_raise() -> None:
    async with httpx.AsyncClient() as http:
        record = await run_probe(HttpProbe(type="http", name="x", url="http://127.0.0.1:1/",
                                           timeout=1), http)
    assert not record.met and record.error and "ConnectError" in record.error


async def test_metric_probe_reads_prometheus_text(toxiproxy_url: str) -> None:
    probe = MetricProbe(type="metric", name="bytes", url=f"{toxiproxy_url}/metrics",
                        metric="toxiproxy_proxy_received_bytes_total", tolerance=[0, 0])
    async with httpx.AsyncClient() as http:
        httpx_client = httpx.Client(base_url=toxiproxy_url)
        httpx_client.post("/proxies", json={"name": "a", "upstream": "127.0.0.1:1"})
        assert (await run_probe(probe, http)).met
        absent = probe.model_copy(update={"labels": {"proxy": "zzz"}})
        record = await run_probe(absent, http)
        assert not record.met and "no sample" in str(record.value)
