"""`fakalab drill` end to end: a short drill with a latency fault, an interrupted drill, a bad
scenario file. Real processes on 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx

from fakalab.chaos.server import ToxiproxyThread
from fakalab.contract.rundir import FORMAT_VERSION

ROOT = Path(__file__).resolve().parents[2]
FAKALAB = [sys.executable, "-m", "fakalab"]

SCENARIO = """\
name: mini
duration: {duration}
seed: 3
sla_s: 10
load:
  shape: {{kind: steady, rate_per_s: 4}}
  personas: {{buyer: 4, impatient: 1, double_payer: 1, abandoner: 1, browser: 1}}
  buyers: {{think_s: 0.5, sse_share: 0.3, patience_s: [0.2, 0.4], max_wait_s: 20,
            products: {{steam-50: 1, vip-month: 1}}}}
shop: {{workers: 2}}
drill:
  faults:
    - {{id: slow-risk, link: shop->risk, fault: {{latency: {{latency: 1200}}}},
       start: 2s, duration: {fault}}}
slos: {{delay_rate: 0.5, error_rate: 0.2}}
"""


BUSINESS_FAULT = """\
    - {id: drop-callbacks, link: shop->payment-a, fault: {business: {callback_drop_pct: 50}},
       start: 2s, duration: 50s}
"""


def write_scenario(tmp_path: Path, duration: str = "12s", fault: str = "6s",
                   business: bool = False) -> Path:
    path = tmp_path / "mini.yaml"
    text = SCENARIO.format(duration=duration, fault=fault)
    if business:
        text = text.replace("slos:", BUSINESS_FAULT + "slos:")
    path.write_text(text)
    return path


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_short_drill_writes_a_complete_consistent_run_directory(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path)
    run = subprocess.run([*FAKALAB, "drill", str(scenario), "--out", str(tmp_path / "runs"),
                          "--generators", "2",  # Locust master + 2 workers sharing the rate
                          "--junit", str(tmp_path / "junit.xml")],
                         cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert run.returncode in (0, 1), run.stdout[-3000:] + run.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    for name in ("run.json", "scenario.yaml", "orders.csv", "events.csv", "polls.csv",
                 "tickets.csv", "faults.csv", "chaos.json", "incidents.csv",
                 "locust/locust_stats.csv", "report/index.html", "report/metrics.json"):
        assert (run_dir / name).exists(), name
    info = json.loads((run_dir / "run.json").read_text())
    assert info["format_version"] == FORMAT_VERSION and info["valid"] is True
    assert info["view"] == "inside"
    assert info["exit_status"] == run.returncode
    assert {s["name"] for s in info["slos"]} == {"delay_rate", "error_rate"}
    assert info["audit"] == {"ran": True, "failed": []}
    assert json.loads((run_dir / "audit.json").read_text())["passed"] is True
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    names = {(c.get("classname"), c.get("name")) for c in junit.iter("testcase")}
    assert {("mini.slo", "delay_rate"), ("mini.slo", "error_rate"),
            ("mini.audit", "keys_sold_once"), ("mini.audit", "ledger_verifies")} <= names
    assert (int(junit.get("failures")) == 0) == (run.returncode == 0)

    orders = rows(run_dir / "orders.csv")
    db = sqlite3.connect(run_dir / "shop.db")
    in_db = dict(db.execute("select order_no, state from orders").fetchall())
    assert {o["order_no"]: o["final_state"] for o in orders} == in_db
    assert sum(o["final_state"] == "delivered" for o in orders) > 10
    events = rows(run_dir / "events.csv")
    assert len(events) == db.execute("select count(*) from order_events").fetchone()[0]

    polls = rows(run_dir / "polls.csv")
    assert polls and {p["order_no"] for p in polls} <= set(in_db)
    # Patience of 0.2–0.4 s, polls 0.25–0.75 s apart, a risk check of 1.2 s or more during the
    # fault: every buyer watching an order through it sees no change for longer than that.
    assert rows(run_dir / "tickets.csv")

    journal = json.loads((run_dir / "chaos.json").read_text())
    assert journal["status"] == "completed"
    (fault,) = rows(run_dir / "faults.csv")
    assert (fault["fault_id"], fault["link"], fault["kind"]) == ("slow-risk", "shop->risk",
                                                                 "latency")
    took = float(fault["ended_at"]) - float(fault["started_at"])
    assert 5.0 <= took <= 8.0
    # traced end to end: the slowed link shows as network time, not as time inside risk
    assert {"shop.jsonl", "payment-a.jsonl", "risk.jsonl", "notify.jsonl"} <= {
        p.name for p in (run_dir / "traces").iterdir()}
    metrics = json.loads((run_dir / "report" / "metrics.json").read_text())["runs"][0]
    split = {r["component"]: r for r in metrics["trace_time"]}
    assert {"shop", "queue", "payment-a", "risk", "notify", "network"} <= set(split)
    assert split["network"]["total_s"] > split["risk"]["total_s"]
    summaries = info["load"]["summaries"]
    assert sorted(s["index"] for s in summaries) == [0, 1]
    assert all(s["share"] == 0.5 for s in summaries)
    assert all(s["dropped"] == 0 and s["started"] == s["scheduled"] for s in summaries)


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


@contextlib.contextmanager
def drill_with_an_active_fault(tmp_path: Path, *, business: bool = False, session: bool = False
                               ) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A drill against an external Toxiproxy, yielded once its fault is active (with `business`,
    also a business fault of payment-a; with `session`, as a terminal runs it: the leader of
    its own process group)."""
    scenario = write_scenario(tmp_path, duration="60s", fault="50s", business=business)
    with ToxiproxyThread() as toxiproxy_url:
        drill = subprocess.Popen(
            [*FAKALAB, "drill", str(scenario), "--out", str(tmp_path / "runs"),
             "--toxiproxy", toxiproxy_url, "--no-report"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=session)
        try:
            deadline = time.monotonic() + 90
            active = False
            while time.monotonic() < deadline and not active:
                time.sleep(0.5)
                proxies = httpx.get(toxiproxy_url + "/proxies").json()
                toxics = [t for p in proxies.values() for t in p["toxics"]]
                active = bool(toxics) and (not business or _business_fault_active(drill))
            assert active, "the faults never became active"
            yield drill, toxiproxy_url
        finally:
            if drill.poll() is None:
                drill.kill()


def _business_fault_active(drill: subprocess.Popen[str]) -> bool:
    """Whether payment-a's drop switch is on (its port: the upstreams' --port-base + 1)."""
    for pid in _descendants(drill.pid):
        args = _cmdline(pid).split()
        if "fakalab.reference_shop.upstreams.cli" in args and "--port-base" in args:
            base = int(args[args.index("--port-base") + 1])
            try:
                faults = httpx.get(f"http://127.0.0.1:{base + 1}/admin/faults").json()
            except httpx.HTTPError:
                return False
            return bool(faults.get("callback_drop_pct"))
    return False


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_sigint_stops_every_process_and_removes_every_fault(tmp_path: Path) -> None:
    with drill_with_an_active_fault(tmp_path) as (drill, toxiproxy_url):
        family = _descendants(drill.pid)
        assert len(family) >= 3  # upstreams, shop, Locust
        drill.send_signal(signal.SIGINT)
        assert drill.wait(60) == 130
        time.sleep(0.5)
        assert [pid for pid in family if _alive(pid)] == []
        assert httpx.get(toxiproxy_url + "/proxies").json() == {}
    (run_dir,) = (tmp_path / "runs").iterdir()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["exit_status"] == 130
    assert json.loads((run_dir / "chaos.json").read_text())["status"] == "interrupted"


def test_ctrl_c_in_a_terminal_stops_everything_and_leaves_a_reportable_run(
        tmp_path: Path) -> None:
    """A terminal's Ctrl-C is SIGINT to the whole foreground process group: the drill and every
    child it started get it at once. Nothing may be left running (the watchdog neither), no
    fault left in place, and the run must say it was interrupted — and still build a report."""
    with drill_with_an_active_fault(tmp_path, business=True, session=True) as (drill, url):
        family = _descendants(drill.pid)
        assert any("chaos.watchdog" in _cmdline(pid) for pid in family)
        os.killpg(drill.pid, signal.SIGINT)
        assert drill.wait(60) == 130
        time.sleep(0.5)
        assert [(pid, _cmdline(pid)) for pid in family if _alive(pid)] == []
        assert httpx.get(url + "/proxies").json() == {}
    (run_dir,) = (tmp_path / "runs").iterdir()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["exit_status"] == 130
    assert info["valid"] is False and info["slos"] == []
    assert any("interrupted" in reason for reason in info["invalid_reasons"])
    journal = json.loads((run_dir / "chaos.json").read_text())
    assert journal["status"] == "interrupted"
    assert all(a["status"] == "succeeded" for a in journal["rollbacks"]), journal["rollbacks"]
    faults = rows(run_dir / "faults.csv")
    assert {f["fault_id"] for f in faults} == {"slow-risk", "drop-callbacks"}
    assert all(f["ended_at"] for f in faults), faults
    report = subprocess.run([*FAKALAB, "report", str(run_dir)], capture_output=True, text=True,
                            timeout=120)
    assert report.returncode == 0, report.stdout + report.stderr
    assert (run_dir / "report" / "index.html").exists()


def test_a_crashed_child_ends_the_drill_cleanly(tmp_path: Path) -> None:
    with drill_with_an_active_fault(tmp_path) as (drill, toxiproxy_url):
        family = _descendants(drill.pid)
        (shop,) = [pid for pid in family if "fakalab.reference_shop.cli" in _cmdline(pid)]
        os.kill(shop, signal.SIGKILL)
        assert drill.wait(60) == 2
        time.sleep(0.5)
        assert [pid for pid in family if _alive(pid)] == []
        assert httpx.get(toxiproxy_url + "/proxies").json() == {}
    (run_dir,) = (tmp_path / "runs").iterdir()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["exit_status"] == 2 and "shop" in info["error"]
    assert (run_dir / "orders.csv").exists()  # what was observed is still exported


def test_bad_scenario_names_the_field_and_starts_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nduration: 10s\nload:\n  shape: {kind: steady, rate_per_s: -1}\n")
    run = subprocess.run([*FAKALAB, "drill", str(bad), "--out", str(tmp_path / "runs")],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "bad.yaml:4: load.shape.rate_per_s" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "runs").exists()


def test_a_dead_external_toxiproxy_is_a_clear_error_and_starts_nothing(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    scenario = write_scenario(tmp_path)
    run = subprocess.run([*FAKALAB, "drill", str(scenario), "--out", str(tmp_path / "runs"),
                          "--toxiproxy", dead, "--no-report"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert f"toxiproxy at {dead}" in run.stdout, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["exit_status"] == 2 and "toxiproxy" in info["error"]
    assert not (run_dir / "shop.db").exists()  # nothing after the toxiproxy was started
