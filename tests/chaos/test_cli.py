"""`fakalab chaos validate|run` and `fakalab toxiproxy`, as a user runs them."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fakalab.chaos.cli import chaos, default_admin_urls, toxiproxy
from fakalab.chaos.client import ToxiproxyClient

ROOT = Path(__file__).resolve().parents[2]

PLAN = """\
title: slow payment A
faults:
  - link: shop->payment-a
    fault: {latency: {latency: 100}}
    start: 0s
    duration: 1m
  - link: shop->payment-b
    fault: down
    start: 0.1s
    duration: 1m
"""


def _fakalab(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "fakalab", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    return path


@pytest.fixture
def stack(client: ToxiproxyClient) -> ToxiproxyClient:
    client.create_proxy("shop_payment-a", "127.0.0.1:1")
    client.create_proxy("shop_payment-b", "127.0.0.1:2")
    return client


def _untouched(client: ToxiproxyClient) -> bool:
    return all(p["toxics"] == [] and p["enabled"] for p in client.proxies().values())


def test_help_everywhere() -> None:
    for command, args in ((chaos, ["--help"]), (chaos, ["run", "--help"]),
                          (chaos, ["validate", "--help"]), (toxiproxy, ["--help"])):
        result = CliRunner().invoke(command, args)
        assert result.exit_code == 0 and "Usage:" in result.output


def test_validate_prints_the_timeline(plan_file: Path) -> None:
    result = CliRunner().invoke(chaos, ["validate", str(plan_file)])
    assert result.exit_code == 0
    assert "f1: +0s for 60s  shop->payment-a  latency(latency=100)" in result.output


def test_malformed_plan_names_field_and_line_and_injects_nothing(
    tmp_path: Path, stack: ToxiproxyClient
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(PLAN.replace("start: 0.1s", "start: later"))
    for args in (["validate", str(bad)], ["run", str(bad), "--toxiproxy", stack.url]):
        result = CliRunner().invoke(chaos, args)
        assert result.exit_code == 2
        assert f"{bad}:9: faults[1].start: not a duration: 'later'" in result.output
        assert "Traceback" not in result.output
    assert _untouched(stack)


def test_dry_run_injects_nothing(plan_file: Path, stack: ToxiproxyClient) -> None:
    result = CliRunner().invoke(chaos, ["run", str(plan_file), "--dry-run",
                                        "--toxiproxy", stack.url])
    assert result.exit_code == 0 and "nothing injected" in result.output
    assert _untouched(stack)


def test_unreachable_toxiproxy_exits_2(plan_file: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result = CliRunner().invoke(chaos, ["run", str(plan_file), "--toxiproxy", url])
    assert result.exit_code == 2 and "cannot reach Toxiproxy" in result.output


def test_missing_proxies_exit_2_before_injecting(plan_file: Path,
                                                 client: ToxiproxyClient) -> None:
    client.create_proxy("shop_payment-a", "127.0.0.1:1")
    result = CliRunner().invoke(chaos, ["run", str(plan_file), "--toxiproxy", client.url])
    assert result.exit_code == 2 and "no proxy 'shop_payment-b'" in result.output
    assert _untouched(client)


def test_a_kill_outside_a_drill_exits_2_before_injecting(tmp_path: Path,
                                                         client: ToxiproxyClient) -> None:
    client.create_proxy("shop_payment-a", "127.0.0.1:1")
    plan = tmp_path / "kill.yaml"
    plan.write_text(PLAN.replace("  - link: shop->payment-b\n    fault: down",
                                 "  - link: shop\n    fault: kill"))
    result = CliRunner().invoke(chaos, ["run", str(plan), "--toxiproxy", client.url])
    assert result.exit_code == 2
    assert "kill 'shop' needs the processes of a drill" in result.output
    assert _untouched(client)


def test_completed_run_exits_0_and_writes_the_journal(tmp_path: Path,
                                                      stack: ToxiproxyClient) -> None:
    plan = tmp_path / "short.yaml"
    plan.write_text(PLAN.replace("1m", "0.2s"))
    journal = tmp_path / "j.json"
    result = CliRunner().invoke(chaos, ["run", str(plan), "--toxiproxy", stack.url,
                                        "--journal", str(journal)])
    assert result.exit_code == 0, result.output
    document = json.loads(journal.read_text())
    assert document["status"] == "completed" and len(document["faults"]) == 2
    assert _untouched(stack)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_interrupts_rolls_back_and_exits_130(
    sig: signal.Signals, plan_file: Path, tmp_path: Path, stack: ToxiproxyClient
) -> None:
    journal = tmp_path / "j.json"
    process = _fakalab("chaos", "run", str(plan_file), "--toxiproxy", stack.url,
                       "--journal", str(journal))
    assert process.stdout is not None
    assert process.stdout.readline().startswith("running 'slow payment A'")
    for _ in range(100):  # wait until both faults are in
        proxies = stack.proxies()
        if proxies["shop_payment-a"]["toxics"] and not proxies["shop_payment-b"]["enabled"]:
            break
        subprocess.run(["sleep", "0.05"], check=True)
    process.send_signal(sig)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, (out, err)
    assert "Traceback" not in err
    document = json.loads(journal.read_text())
    assert document["status"] == "interrupted"
    assert sorted(r["name"] for r in document["rollbacks"]) == ["rollback f1", "rollback f2"]
    assert _untouched(stack)


def test_toxiproxy_command_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "proxies.json"
    config.write_text(json.dumps([{"name": "a", "upstream": "127.0.0.1:1"}]))
    process = _fakalab("toxiproxy", "--port", "0", "--config", str(config))
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:")
    assert set(ToxiproxyClient(url).proxies()) == {"a"}
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 0 and err == ""


def test_toxiproxy_command_port_in_use_is_a_clear_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        result = CliRunner().invoke(toxiproxy, ["--port", port])
    assert result.exit_code == 2
    assert f"error: cannot listen on 127.0.0.1:{port}" in result.output


def test_toxiproxy_command_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "proxies.json"
    config.write_text("{}")
    result = CliRunner().invoke(toxiproxy, ["--port", "0", "--config", str(config)])
    assert result.exit_code == 2 and "expected a JSON list" in result.output


def test_default_admin_urls_follow_the_upstreams_port_layout() -> None:
    assert default_admin_urls()["payment-a"] == "http://127.0.0.1:9101"
    assert default_admin_urls(9200)["notify"] == "http://127.0.0.1:9206"
