"""Load from more than one host: a drill whose Locust master takes a generator from a second
"host" — a network namespace on a veth pair — next to a local one. Traffic only on the pair's
private /30 (10.251.x.y); the namespace is gone afterwards. Skipped where no namespace can be
made (not root, no `ip`, no permission)."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fakalab.scenarios.loadgen import LocustRun
from fakalab.scenarios.locust.records import WRITTEN
from fakalab.scenarios.netns import NetnsUnavailable, list_namespaces, test_host, unavailable

ROOT = Path(__file__).resolve().parents[2]
FAKALAB = [sys.executable, "-m", "fakalab"]

SCENARIO = """\
name: spread
duration: 10s
seed: 11
sla_s: 10
load:
  shape: {kind: steady, rate_per_s: 10}
  personas: {buyer: 4, impatient: 1, double_payer: 1, abandoner: 1, browser: 1}
  buyers: {think_s: 0.5, sse_share: 0.3, patience_s: [0.5, 1.5], max_wait_s: 20,
           products: {steam-50: 1, vip-month: 1}}
shop: {workers: 2}
"""


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))
def test_a_generator_on_another_host_takes_its_share_of_the_arrivals(tmp_path: Path) -> None:
    scenario = tmp_path / "spread.yaml"
    scenario.write_text(SCENARIO)
    try:
        netns = test_host()
        host = netns.__enter__()
    except NetnsUnavailable as exc:
        pytest.skip(f"no network namespace: {exc}")
    try:
        port = free_port(host.address)
        master = f"{host.address}:{port}"
        remote_log = open(tmp_path / "remote.log", "wb")  # noqa: SIM115
        # the generator first: it waits for the master, as one started early on another host
        remote = subprocess.Popen(
            host.exec([*FAKALAB, "generator", "--master", master, "--name", "netns-peer",
                       "--wait", "90"]),
            cwd=tmp_path, stdout=remote_log, stderr=subprocess.STDOUT, start_new_session=True)
        drill = subprocess.Popen(
            [*FAKALAB, "drill", str(scenario), "--out", str(tmp_path / "runs"), "--no-report",
             "--generators", "1", "--remote-generators", "1", "--bind", host.address,
             "--master-port", str(port)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "COLUMNS": "300"})
        try:
            out = drill.communicate(timeout=200)[0].decode(errors="replace")
            remote_code = remote.wait(timeout=30)
        finally:
            _stop(drill)
            _stop(remote)
            remote_log.close()
    finally:
        netns.__exit__(None, None, None)
    assert host.name not in list_namespaces()
    assert not Path(f"/sys/class/net/{host.veth}").exists()

    remote_out = (tmp_path / "remote.log").read_text(errors="replace")
    assert drill.returncode in (0, 1), out[-3000:] + remote_out[-2000:]
    assert remote_code == 0, remote_out[-3000:]
    assert f"fakalab generator --master {master}" in out
    (run_dir,) = (tmp_path / "runs").iterdir()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["valid"] is True, info["invalid_reasons"]
    assert info["audit"] == {"ran": True, "failed": []}

    summaries = info["load"]["summaries"]
    assert sorted(s["index"] for s in summaries) == [0, 1]
    assert all(s["share"] == 0.5 and s["started"] > 10 for s in summaries)
    by_name = {s["generator"]: s for s in summaries}
    assert set(by_name) == {socket.gethostname(), "netns-peer"}
    assert by_name["netns-peer"]["seed"] != by_name[socket.gethostname()]["seed"]

    # the remote worker wrote nothing itself: the master wrote its records, as a local worker's
    records = run_dir / "locust" / "records"
    names = sorted(p.name for p in records.iterdir())
    assert names == sorted(f"{kind}-w{i}.{ext}" for i in (0, 1) for kind, ext in (
        ("arrivals", "json"), *((kind, "csv") for kind in WRITTEN)))
    assert not list(tmp_path.glob("*.csv"))  # the remote's working directory stays empty
    orders = {o["order_no"] for o in rows(run_dir / "orders.csv")}
    for summary in summaries:
        created = [r["order_no"] for r in rows(records / f"buyers-w{summary['index']}.csv")
                   if r["what"] == "created"]
        assert created and set(created) <= orders, summary["generator"]
    polls = rows(run_dir / "polls.csv")
    assert len(polls) == sum(len(rows(records / f"polls-w{i}.csv")) for i in (0, 1))


def test_a_remote_generator_that_never_joins_is_one_line_and_leaves_nothing(
        tmp_path: Path) -> None:
    scenario = tmp_path / "spread.yaml"
    scenario.write_text(SCENARIO)
    run = LocustRun(tmp_path, scenario, "http://127.0.0.1:9", 5.0, processes=1, remote=1,
                    bind="127.0.0.1", master_port=free_port("127.0.0.1"), join_wait_s=3.0)
    run.start()
    try:
        assert run.wait_started(20.0) is None
        why = run.why_not_started()
    finally:
        run.stop()
    assert why.startswith(f"1 of 2 generators joined the master at {run.master} within 3 s; "
                          f"on each other host run `fakalab generator --master {run.master}`")
    assert all(proc.poll() is not None for proc in run.procs)
    assert not list((tmp_path / "locust" / "records").iterdir())
