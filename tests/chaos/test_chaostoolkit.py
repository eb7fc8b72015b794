"""A chaostoolkit-toxiproxy experiment, run by chaoslib in-process against the embedded server."""

from __future__ import annotations

from typing import Any

from chaoslib.experiment import run_experiment

from fakalab.chaos.client import ToxiproxyClient
from tests.chaos.conftest import TcpServer


def _python(name: str, module: str, func: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "action", "name": name,
            "provider": {"type": "python", "module": module, "func": func,
                         "arguments": arguments}}


def test_chaostoolkit_experiment_runs_against_embedded_server(
    toxiproxy_url: str, echo: TcpServer, client: ToxiproxyClient
) -> None:
    proxy_exists = {
        "type": "probe", "name": "proxy-exists", "tolerance": True,
        "provider": {"type": "python", "module": "chaostoxi.proxy.probes", "func": "proxy_exist",
                     "arguments": {"proxy_name": "echo"}},
    }
    experiment = {
        "title": "latency on echo",
        "description": "chaostoolkit-toxiproxy against fakalab's embedded server",
        "configuration": {"toxiproxy_url": toxiproxy_url},
        "steady-state-hypothesis": {"title": "proxy is there", "probes": [proxy_exists]},
        "method": [
            _python("create", "chaostoxi.proxy.actions", "create_proxy", proxy_name="echo",
                    upstream_host="127.0.0.1", upstream_port=echo.port,
                    listen_host="127.0.0.1"),
            _python("latency", "chaostoxi.toxic.actions", "create_latency_toxic",
                    for_proxy="echo", toxic_name="lag", latency=50, jitter=5),
            _python("disable", "chaostoxi.proxy.actions", "disable_proxy", proxy_name="echo"),
            _python("enable", "chaostoxi.proxy.actions", "enable_proxy", proxy_name="echo"),
            _python("delete-toxic", "chaostoxi.toxic.actions", "delete_toxic",
                    for_proxy="echo", toxic_name="lag"),
        ],
        "rollbacks": [_python("reset", "chaostoxi.proxy.actions", "reset")],
    }
    experiment["steady-state-hypothesis"] = {"title": "nothing yet", "probes": []}
    journal = run_experiment(experiment)
    assert journal["status"] == "completed", journal
    assert [run["status"] for run in journal["run"]] == ["succeeded"] * 5
    assert journal["rollbacks"][0]["status"] == "succeeded"
    proxy = client.get_proxy("echo")
    assert proxy["enabled"] is True and proxy["toxics"] == []
    assert proxy["upstream"] == echo.address

    deleting = {
        "title": "delete the proxy", "description": "the hypothesis must catch it",
        "configuration": {"toxiproxy_url": toxiproxy_url},
        "steady-state-hypothesis": {"title": "proxy is there", "probes": [proxy_exists]},
        "method": [_python("delete", "chaostoxi.proxy.actions", "delete_proxy",
                           proxy_name="echo")],
    }
    journal = run_experiment(deleting)
    assert journal["steady_states"]["before"]["steady_state_met"] is True
    assert journal["deviated"] is True
    assert client.proxies() == {}
