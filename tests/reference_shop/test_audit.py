"""`fakalab audit` on a real drill's run directory: clean, then with each kind of violation
planted (in the database or in the exported files)."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fakalab.reference_shop.audit_cli import audit_run

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = """\
name: audit-mini
duration: 8s
seed: 9
sla_s: 5
load:
  shape: {kind: steady, rate_per_s: 3}
  personas: {buyer: 3, impatient: 1}
  buyers: {think_s: 0.5, sse_share: 0.5, products: {steam-50: 1, vip-month: 1}}
shop: {workers: 2}
slos: {delay_rate: null, error_rate: null}
"""


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("audit")
    (tmp / "mini.yaml").write_text(SCENARIO)
    subprocess.run([sys.executable, "-m", "fakalab", "drill", str(tmp / "mini.yaml"),
                    "--out", str(tmp / "runs"), "--no-report"], cwd=ROOT, check=True,
                   capture_output=True, timeout=180)
    (run_dir,) = (tmp / "runs").iterdir()
    return run_dir


@pytest.fixture
def run(clean_run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(clean_run, copy)
    return copy


def failed(run_dir: Path) -> set[str]:
    return {c.name for c in audit_run(run_dir) if not c.passed}


def sql(run_dir: Path, statement: str) -> None:
    con = sqlite3.connect(run_dir / "shop.db")
    con.execute(statement)
    con.commit()
    con.close()


def edit_csv(path: Path, change: Callable[[list[dict[str, str]]], None]) -> None:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        rows, fields = list(reader), reader.fieldnames or []
    change(rows)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def a_delivered_order(run_dir: Path) -> str:
    con = sqlite3.connect(run_dir / "shop.db")
    (order_no,) = con.execute(
        "select order_no from orders where state = 'delivered' and product_id = 'steam-50' "
        "limit 1").fetchone()
    con.close()
    return str(order_no)


def test_a_clean_drill_passes_every_check(run: Path) -> None:
    assert failed(run) == set()
    document = json.loads((run / "audit.json").read_text())
    assert document["passed"] is True and len(document["checks"]) == 9
    documented = (Path(__file__).resolve().parents[2] / "docs" / "run-dir.md").read_text()
    assert all(f"| `{c['name']}` |" in documented for c in document["checks"])


def test_a_paid_order_left_in_an_unpaid_state_is_caught(run: Path) -> None:
    sql(run, f"update orders set state = 'expired' where order_no = '{a_delivered_order(run)}'")
    assert "paid_orders_accounted" in failed(run)


def test_a_payment_the_shop_never_confirmed_is_caught(run: Path) -> None:
    sql(run, "update orders set buyer_paid_at = created_at - 100, paid_at = null "
             "where state = 'expired' or rowid = (select min(rowid) from orders)")
    assert "payments_confirmed" in failed(run)


def test_an_unconfirmed_payment_counts_once_the_shop_should_have_asked(run: Path) -> None:
    """The shop asks the channel reconcile_after_paid_s after "I have paid": a payment not
    confirmed yet is lost only stall_after_s after that."""
    info = json.loads((run / "run.json").read_text())
    window = info["shop"]["stall_after_s"] + info["shop"]["reconcile_after_paid_s"]
    said = info["ended_at"] - window
    target = "where rowid = (select min(rowid) from orders)"
    sql(run, f"update orders set buyer_paid_at = {said + 1}, paid_at = null {target}")
    assert "payments_confirmed" not in failed(run)
    sql(run, f"update orders set buyer_paid_at = {said - 1}, paid_at = null {target}")
    assert "payments_confirmed" in failed(run)


def test_a_key_sold_twice_is_caught(run: Path) -> None:
    sql(run, "update card_keys set secret = (select secret from card_keys where status = 'sold' "
             "order by id limit 1) where id = (select id from card_keys where status = 'sold' "
             "order by id limit 1 offset 1)")
    assert "keys_sold_once" in failed(run)


def test_an_order_delivered_twice_is_caught(run: Path) -> None:
    def twice(rows: list[dict[str, str]]) -> None:
        last = next(r for r in reversed(rows) if r["state"] == "delivered")
        rows.append(dict(last, seq=str(int(last["seq"]) + 1)))
    edit_csv(run / "events.csv", twice)
    assert {"delivered_once", "ledger_verifies"} <= failed(run)


def test_stock_that_disagrees_with_the_keys_is_caught(run: Path) -> None:
    order_no = a_delivered_order(run)
    sql(run, f"update card_keys set status = 'available' where order_no = '{order_no}'")
    assert "stock_matches_keys" in failed(run)


def test_an_edited_event_is_caught(run: Path) -> None:
    def edit(rows: list[dict[str, str]]) -> None:
        rows[3]["message"] = "All good, nothing to see."
    edit_csv(run / "events.csv", edit)
    assert failed(run) == {"ledger_verifies"}


def test_a_deleted_last_event_is_caught(run: Path) -> None:
    order_no = a_delivered_order(run)
    edit_csv(run / "events.csv", lambda rows: rows.remove(
        next(r for r in rows if r["order_no"] == order_no and r["state"] == "delivered")))
    assert "ledger_verifies" in failed(run)


def test_orders_csv_that_disagrees_with_the_database_is_caught(run: Path) -> None:
    def edit(rows: list[dict[str, str]]) -> None:
        rows[0]["final_state"] = "refunded"
    edit_csv(run / "orders.csv", edit)
    assert failed(run) == {"orders_match_database"}


def test_a_poll_showing_a_state_the_order_never_had_then_is_caught(run: Path) -> None:
    def edit(rows: list[dict[str, str]]) -> None:
        first = next(r for r in rows if r["state_seen"] == "pending_payment")
        first["state_seen"] = "delivered"
    edit_csv(run / "polls.csv", edit)
    assert failed(run) == {"polls_truthful"}


def test_the_command_exits_1_on_a_violation_and_2_when_it_cannot_audit(run: Path,
                                                                        tmp_path: Path) -> None:
    command = [sys.executable, "-m", "fakalab", "audit"]
    clean = subprocess.run([*command, str(run)], cwd=ROOT, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    sql(run, f"update orders set state = 'expired' where order_no = '{a_delivered_order(run)}'")
    bad = subprocess.run([*command, str(run)], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 1 and "FAIL paid_orders_accounted" in bad.stdout
    missing = subprocess.run([*command, str(tmp_path / "nope")], cwd=ROOT, capture_output=True,
                             text=True)
    assert missing.returncode == 2 and "not a run directory" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.parametrize(("content", "expected"), [
    ("[]", "expected a JSON object, found list"),
    ("null", "expected a JSON object, found NoneType"),
    ('"a string"', "expected a JSON object, found str"),
    ("{}", "ended_at (when the run ended, epoch seconds) is missing"),
    ('{"ended_at": "soon"}', "ended_at (when the run ended, epoch seconds) is 'soon'"),
    ("{not json", "not readable JSON"),
    ('{"ended_at": 1, "shop": {"stall_after_s": "x"}}', "shop.stall_after_s is 'x'"),
])
def test_a_broken_run_json_is_one_line_and_exit_2(run: Path, content: str, expected: str
                                                   ) -> None:
    """run.json of [] or null was an AttributeError and exit 1 (the code of "a violation");
    {} printed only "error: 'ended_at'"."""
    (run / "run.json").write_text(content)
    result = subprocess.run([sys.executable, "-m", "fakalab", "audit", str(run)], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ") and expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_live_database_is_audited_without_a_run_directory(run: Path) -> None:
    """The README shows `fakalab audit --db URL`; it said "Missing argument 'RUN_DIR'"."""
    command = [sys.executable, "-m", "fakalab", "audit", "--db", str(run / "shop.db")]
    live = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert live.returncode == 0, live.stdout + live.stderr
    assert "ok   keys_sold_once" in live.stdout and "ok   ledger_verifies" in live.stdout
    assert "skip orders_match_database (needs the run directory" in live.stdout
    sql(run, "update card_keys set secret = (select secret from card_keys where status = 'sold' "
             "limit 1) where status = 'sold'")
    broken = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert broken.returncode == 1 and "FAIL keys_sold_once" in broken.stdout
    nothing = subprocess.run([sys.executable, "-m", "fakalab", "audit"], cwd=ROOT,
                             capture_output=True, text=True)
    assert nothing.returncode == 2 and "--db URL" in nothing.stderr


def _poll_after_delivery(run: Path, lag_s: float) -> None:
    """Add a poll showing an order's state before `delivered`, `lag_s` after the delivery."""
    with open(run / "events.csv", newline="") as handle:
        events = list(csv.DictReader(handle))
    done = next(e for e in events if e["state"] == "delivered")
    before = max((e for e in events if e["order_no"] == done["order_no"]
                  and int(e["seq"]) < int(done["seq"])), key=lambda e: int(e["seq"]))

    def add(rows: list[dict[str, str]]) -> None:
        rows.append({**rows[0], "order_no": done["order_no"],
                     "at": str(float(done["at"]) + lag_s), "latency_ms": "5",
                     "state_seen": before["state"]})
    edit_csv(run / "polls.csv", add)


def test_a_view_a_moment_behind_its_commit_is_not_stale(run: Path) -> None:
    # The event's time is taken inside the unit of work; the view changes after the commit:
    # a poll answered in between shows the previous state, and that is the truth then.
    _poll_after_delivery(run, 0.3)
    assert "polls_truthful" not in failed(run)


def test_a_shop_that_shows_a_stale_state_for_seconds_is_caught(run: Path) -> None:
    _poll_after_delivery(run, 3.0)
    assert failed(run) == {"polls_truthful"}
