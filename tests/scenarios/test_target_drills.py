"""Drilling shops from the outside, end to end (real processes on 127.0.0.1 only):

- `fakalab target check` on the reference shop's epay target prints each step of a purchase;
- the reference shop drilled as an external target through the epay path tells the same story
  as the same seeded drill run the classic way (delay rate within 1 pp, p95 within 10 %, the
  same audit verdict), and its outside figures agree with its own database;
- a deliberately naive shop (tests/targets/naive_shop.py) fails the external audit under a
  flash sale — duplicate keys, notifications acknowledged and never applied — which the
  reference shop, drilled the same way, passes;
- a profile error, a shop that is down, a gateway port in use, a target that never delivers and
  a Ctrl-C: each a one-line error or a finished run that says what happened, with no traceback
  and nothing left running.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fakalab.reports.analysis import analyze
from fakalab.reports.rundir import load_run

ROOT = Path(__file__).resolve().parents[2]
FAKALAB = [sys.executable, "-m", "fakalab"]
TARGETS = ROOT / "tests" / "targets"

# Same seed, same load: 46 buyers in 8 s; the channel drops the callback of exactly 2 of their
# payments (the same draws of the same seeded dice on payment-a and on the epay gateway), and
# reconciliation 3 s after "I have paid" delivers those late. Every other order waits for a
# callback sent 1.5 s after payment, so its time to delivery is ~1.55 s against an SLA of
# 2.5 s: no order sits near the SLA, and p95 lies among the on-time orders.
EQUIVALENCE = """\
name: equivalence
duration: 13s
seed: 25
sla_s: 2.5
load:
  shape: {{kind: step, rates: [5, 0], every: 8s}}
  personas: {{buyer: 1}}
  buyers: {{think_s: 1, sse_share: 1.0, patience_s: [30, 60]}}
shop: {{failover: false, reconcile_after_paid_s: 3}}
drill:
  faults:
    - link: shop->{link}
      fault: {{business: {{callback_drop_pct: 5, callback_delay: {{dist: fixed, mean_s: 1.5}}}}}}
      start: 0s
      duration: 13s
slos: {{delay_rate: null, error_rate: 0.05}}
"""

FLASH = """\
name: flash
duration: 10s
seed: 5
sla_s: 5
load:
  shape: {kind: spike, base: 2, peak_rate: 12, at: 2s, rise: 1s, hold: 4s, fall: 1s}
  personas: {buyer: 1}
  buyers: {think_s: 0.5, patience_s: [30, 60]}
slos: {delay_rate: null, error_rate: null}
"""


def naive_target(tmp_path: Path, *flags: str, **fields: str) -> Path:
    extra = "".join(f"{key}: {value}\n" for key, value in fields.items())
    path = tmp_path / "naive.yaml"
    path.write_text(f"""\
name: naive
url: http://127.0.0.1:{{port:shop}}
profile: {TARGETS / 'naive-profile.yaml'}
start:
  - name: shop
    run: >-
      {{python}} {TARGETS / 'naive_shop.py'} --port {{port:shop}} --db {{run_dir}}/naive.db
      --gateway {{gateway_url}} --pid {{gateway_pid}} --key {{gateway_key}} --keys 25
      {' '.join(flags)}
    ready: {{url: "http://127.0.0.1:{{port:shop}}/api/goods", timeout: 20s}}
products: {{"1": 1}}
probes: {{wait_s: 2, deliver_timeout: 5}}
{extra}""")
    return path


def drill(scenario: Path, out: Path, *args: str, timeout: int = 240
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FAKALAB, "drill", str(scenario), "--out", str(out), "--no-report",
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def the_run(out: Path) -> Path:
    (run_dir,) = out.iterdir()
    return run_dir


def meta(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "run.json").read_text())
    return data


def headline(run_dir: Path) -> dict[str, Any]:
    result: dict[str, Any] = analyze(load_run(run_dir)).metrics["headline"]
    return result


def left_running(marker: Path) -> list[str]:
    """Command lines of live processes that mention `marker` (every process a drill starts
    names its run directory, or the test's directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(marker) in cmdline and state != "Z":
            found.append(cmdline)
    return found


def test_target_check_prints_each_step_of_one_purchase() -> None:
    check = subprocess.run([*FAKALAB, "target", "check", "reference-epay"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
    out = check.stdout
    for step in ("[create_order]", "[pay]", "[i_have_paid]", "[status]"):
        assert step in out
    assert "→ POST http://127.0.0.1:" in out and "/api/orders" in out
    assert "order_id = " in out and "→ stage delivered" in out
    assert "shop->gateway: 127.0.0.1:" in out and "buyers->shop: 127.0.0.1:" in out
    assert "✓ one purchase went through" in out


@pytest.mark.timeout(400)
def test_the_reference_shop_seen_from_outside_tells_the_same_story(tmp_path: Path) -> None:
    classic, outside = tmp_path / "classic", tmp_path / "outside"
    (tmp_path / "a.yaml").write_text(EQUIVALENCE.format(link="payment-a"))
    (tmp_path / "b.yaml").write_text(EQUIVALENCE.format(link="gateway"))
    first = drill(tmp_path / "a.yaml", classic)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    second = drill(tmp_path / "b.yaml", outside, "--target", "reference-epay")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    inside_run, outside_run = the_run(classic), the_run(outside)
    assert meta(inside_run)["view"] == "inside" and meta(outside_run)["view"] == "outside"
    a, b = headline(inside_run), headline(outside_run)
    assert a["paid"] == b["paid"] and a["delivered"] == b["delivered"]
    assert a["delayed"] >= 1  # the story has late orders in it
    assert abs(a["delay_rate"] - b["delay_rate"]) <= 0.01, (a, b)
    assert abs(a["ttd_p95_s"] - b["ttd_p95_s"]) <= 0.10 * a["ttd_p95_s"], (a, b)
    audits = [json.loads((r / "audit.json").read_text()) for r in (inside_run, outside_run)]
    assert [d["passed"] for d in audits] == [True, True]
    probes = {p["probe"]: p for p in meta(outside_run)["probes"]}
    assert set(probes) == {"forged_sign", "wrong_amount", "other_pid", "replay"}
    assert all(not p["problem"] for p in probes.values()), probes
    assert probes["forged_sign"]["http_status"] == 400 and probes["replay"]["acknowledged"]
    # the outside figures against the shop's own database (there, in the run directory)
    db = sqlite3.connect(outside_run / "shop.db")
    truth = dict(db.execute("select order_no, delivered_at from orders").fetchall())
    seen = load_run(outside_run).orders.set_index("order_no")["delivered_at"]
    gaps = [seen[no] - truth[no] for no in seen.index]
    assert all(0 <= gap < 0.5 for gap in gaps), sorted(gaps)[-3:]


@pytest.mark.timeout(400)
def test_a_naive_shop_fails_the_external_audit_the_reference_shop_passes(tmp_path: Path
                                                                         ) -> None:
    scenario = tmp_path / "flash.yaml"
    scenario.write_text(FLASH)
    naive = drill(scenario, tmp_path / "naive", "--target", str(naive_target(tmp_path)))
    assert naive.returncode == 1, naive.stdout[-3000:] + naive.stderr[-3000:]
    run_dir = the_run(tmp_path / "naive")
    checks = {c["name"]: c for c in json.loads((run_dir / "audit.json").read_text())["checks"]}
    failed = {name for name, c in checks.items() if not c["passed"]}
    assert {"key_delivered_once", "acknowledged_notifies_applied", "paid_orders_delivered",
            "wrong_amount_refused", "other_merchant_refused", "replay_delivered_once"} <= failed
    assert "forged_notify_refused" not in failed  # it does check signatures, then says success
    orders = set(load_run(run_dir).orders["order_no"])
    doubled = checks["key_delivered_once"]["rows"]
    assert doubled and all(len(r["orders"]) >= 2 for r in doubled)
    assert {no for r in doubled for no in r["orders"]} & orders  # buyers' orders, listed
    stranded = checks["acknowledged_notifies_applied"]["rows"]
    assert stranded and {r["order_no"] for r in stranded} <= orders
    assert meta(run_dir)["audit"]["failed"] == sorted(failed, key=list(checks).index)

    reference = drill(scenario, tmp_path / "reference", "--target", "reference-epay")
    assert reference.returncode == 0, reference.stdout[-3000:] + reference.stderr[-3000:]
    passed = json.loads((the_run(tmp_path / "reference") / "audit.json").read_text())
    assert passed["passed"] is True, [c for c in passed["checks"] if not c["passed"]]


def test_a_profile_error_is_one_line_and_starts_nothing(tmp_path: Path) -> None:
    profile = tmp_path / "bad-profile.yaml"
    profile.write_text("name: bad\ncreate_order:\n  request: {method: POST, path: /o}\n"
                       "  extract: {id: id, pay_url: pay}\nstatus:\n  request: {path: /s}\n"
                       "  extract: {state: s}\n")
    target = tmp_path / "t.yaml"
    target.write_text(f"name: t\nurl: http://127.0.0.1:1\nprofile: {profile}\n")
    scenario = subprocess.run([*FAKALAB, "drill", "steady", "--out", str(tmp_path / "runs"),
                               "--target", str(target)], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
    assert scenario.returncode == 2
    assert scenario.stderr.strip() == (f"error: {profile}:1: (profile): create_order must "
                                       f"extract order_id")
    assert "Traceback" not in scenario.stderr + scenario.stdout
    assert not (tmp_path / "runs").exists()


def test_a_shop_that_is_down_is_one_line_and_leaves_nothing_running(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nobody listens there once closed
    target = tmp_path / "down.yaml"
    target.write_text(f"name: down\nurl: http://127.0.0.1:{port}\nprofile: reference\n")
    run = drill(ROOT / "contract" / "catalog" / "steady.yaml", tmp_path / "runs",
                "--target", str(target), "--duration", "5s", timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    assert (f"the shop at http://127.0.0.1:{port} is down: connection refused (for 5 s: "
            f"http://127.0.0.1:{port}/); no start command: is it running?"
            ) in " ".join(run.stdout.split())
    assert "Traceback" not in run.stdout + run.stderr
    info = meta(the_run(tmp_path / "runs"))
    assert info["exit_status"] == 2 and "is down" in info["error"]
    assert left_running(tmp_path) == []


def test_a_gateway_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        target = naive_target(tmp_path, gateway=f'{{listen: "127.0.0.1:{port}"}}')
        run = drill(ROOT / "contract" / "catalog" / "steady.yaml", tmp_path / "runs",
                    "--target", str(target), "--duration", "5s", timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    assert (f"shop->gateway: cannot listen on 127.0.0.1:{port} (the gateway's address in the "
            f"shop's epay settings): address already in use") in " ".join(run.stdout.split())
    assert "Traceback" not in run.stdout + run.stderr
    assert left_running(tmp_path) == []


@pytest.mark.timeout(300)
def test_a_target_that_never_delivers_is_a_finished_run_that_says_so(tmp_path: Path) -> None:
    scenario = tmp_path / "short.yaml"
    scenario.write_text(FLASH.replace("duration: 10s", "duration: 5s")
                        .replace("sla_s: 5", "sla_s: 1")
                        .replace("{kind: spike, base: 2, peak_rate: 12, at: 2s, rise: 1s, "
                                 "hold: 4s, fall: 1s}", "{kind: steady, rate_per_s: 3}"))
    target = naive_target(tmp_path, "--never-deliver",
                          probes="{wait_s: 1, deliver_timeout: 1}")
    run = drill(scenario, tmp_path / "runs", "--target", str(target))
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    run_dir = the_run(tmp_path / "runs")
    h = headline(run_dir)
    assert h["paid"] > 5 and h["delivered"] == 0 and h["delay_rate"] == 1.0
    failed = set(meta(run_dir)["audit"]["failed"])
    assert {"paid_orders_delivered", "acknowledged_notifies_applied"} <= failed
    replay = next(p for p in meta(run_dir)["probes"] if p["probe"] == "replay")
    assert replay["problem"].startswith("not delivered within 1 s")
    report = subprocess.run([*FAKALAB, "report", str(run_dir)], capture_output=True, text=True,
                            timeout=120)
    assert report.returncode == 0, report.stdout + report.stderr
    markdown = (run_dir / "report" / "report.md").read_text()
    assert f"{h['delayed']} of them never got their key" in markdown
    assert "Traceback" not in run.stdout + run.stderr
    assert left_running(tmp_path) == []


@pytest.mark.timeout(300)
def test_ctrl_c_stops_a_target_drill_and_everything_it_started(tmp_path: Path) -> None:
    scenario = tmp_path / "long.yaml"
    scenario.write_text(FLASH.replace("duration: 10s", "duration: 60s"))
    drilling = subprocess.Popen(
        [*FAKALAB, "drill", str(scenario), "--out", str(tmp_path / "runs"), "--no-report",
         "--target", str(naive_target(tmp_path))],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)  # as a terminal runs it: the leader of its process group
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not list(
                (tmp_path / "runs").glob("*/locust/records/buyers-*.csv")):
            time.sleep(0.5)
        time.sleep(2.0)  # buyers are shopping
        assert left_running(tmp_path), "the drill never got going"
        os.killpg(drilling.pid, signal.SIGINT)
        assert drilling.wait(90) == 130
    finally:
        if drilling.poll() is None:
            drilling.kill()
    time.sleep(0.5)
    assert left_running(tmp_path) == []
    info = meta(the_run(tmp_path / "runs"))
    assert info["exit_status"] == 130 and info["view"] == "outside"
    assert any("interrupted" in reason for reason in info["invalid_reasons"])
