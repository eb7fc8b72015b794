"""Crash and restart: SIGKILL the shop with orders in every in-flight state, restart it on the
same port and database (and kill it once more while it resumes), then check that every paid
order was delivered exactly once, nothing was lost, the ledger verifies and the audit passes.

Everything runs as real processes on 127.0.0.1: the upstreams, and the shop as a ShopProcess
with a SQLite file — or, the ``[postgres]`` variant, a fresh database in the session's
PostgreSQL cluster. Orders are parked in each state with the upstreams' fault switches, which
are read when a request *starts* (a request that began under ``latency_ms=30000`` keeps sleeping
after the switch is reset), so parked orders stay parked while later orders flow:

=====================  =================================================================
state at the kill      how it is held
=====================  =================================================================
allocating             supplier products whose key request sleeps 30 s at supplier A/B
risk_check             orders whose risk check sleeps 30 s
paid                   a burst of paid orders queued behind the few workers still free
delivering             the same burst: an order between its two delivery transactions
delivered, buyer not   the same burst, with the notify service sleeping 30 s: the e-mail
yet notified           is a side task after the delivery commit
pending_payment, paid  three kinds: callback dropped and the reconciliation query
at the channel         sleeping 30 s; callback fired into the frozen shop (in flight at
                       the kill); callback scheduled for after the kill
=====================  =================================================================

``delivering`` needs no upstream, so no switch can hold it. The test *freezes* the shop
instead: it takes SQLite's write lock itself (``BEGIN IMMEDIATE``), so no shop transaction can
commit, reads the states (WAL readers are not blocked), and repeats until every state is
occupied. The state it reads under the lock is exactly the state the SIGKILL leaves behind.
While frozen, buyers poll and place orders (those never get a 201), then the SIGKILL.
On PostgreSQL the freeze is ``LOCK TABLE`` of every table ``IN EXCLUSIVE MODE``: plain reads
go on, every write (and so every commit of one) waits; the killed shop's blocked transaction
is never committed, its server process rolls it back once the lock is released.

The second start runs with risk answering slowly and is SIGKILLed (frozen the same way) while
every worker is busy resuming; the third runs with no faults until every order is settled.
"""

from __future__ import annotations

import contextlib
import csv
import json
import random
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from fakalab.contract.rundir import POLL_COLUMNS
from fakalab.reference_shop.dburl import sqlite_path
from fakalab.reference_shop.ledger import verify_chain
from fakalab.reference_shop.process import ShopProcess
from fakalab.reference_shop.states import IN_FLIGHT
from fakalab.reference_shop.upstreams.process import UpstreamsProcess
from fakalab.scenarios.export import export_run
from tests.reference_shop.conftest import BACKENDS

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "crash-admin"
PARK_MS = 30_000  # far longer than the test: a parked request never answers a live shop
WORKERS = 7
PARKED_ALLOCATING = 2  # supplier orders, one worker each
PARKED_RISK = 2  # one worker each; WORKERS - 4 = 3 workers left for the burst
BURST = 40
SETTINGS = {
    "upstream_timeout_s": 60,  # parked calls must not time out into needs_attention
    "retries": 2, "backoff_base_s": 0.02,
    "reconcile_after_paid_s": 0.5, "reconcile_interval_s": 0.2,
    "sweep_interval_s": 0.5, "stall_after_s": 5,
}
OPTIONS = ["--workers", str(WORKERS),
           *(a for k, v in SETTINGS.items() for a in ("--set", f"{k}={v}"))]
CHANNELS, SUPPLIERS, RISK = ("payment-a", "payment-b"), ("supplier-a", "supplier-b"), ("risk",)
FLIGHT = {s.value for s in IN_FLIGHT}


@pytest.fixture(scope="module")
def ups() -> Iterator[dict[str, str]]:
    """Upstreams of our own: parked requests and scheduled callbacks must not reach other
    tests."""
    with UpstreamsProcess() as process:
        yield dict(process.urls)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Harness:
    """The shop's processes, the buyer's side of every order, and what the buyer saw."""

    def __init__(self, tmp: Path, ups: dict[str, str], db_url: str) -> None:
        self.tmp, self.ups = tmp, ups
        self.db_url = db_url  # sqlite:///TMP/shop.db, or a PostgreSQL database
        self.port = free_port()
        self.shops: list[ShopProcess] = []
        self.stack = contextlib.ExitStack()  # stops (if alive) and closes each shop's log
        self.orders: dict[str, dict[str, Any]] = {}
        self.polls: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._clients_lock = threading.Lock()

    @property
    def http(self) -> httpx.Client:
        """This thread's client. One client shared by the pool's threads failed one run in
        several with ``ReadError: [Errno 9] Bad file descriptor``: its connection pool closed a
        socket another thread was reading. No keep-alive either: a pooled connection to a killed
        shop (or one the server is closing) must not turn into a spurious error."""
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(timeout=15, trust_env=False,
                                  limits=httpx.Limits(max_keepalive_connections=0))
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """POST with this thread's client (for the pool's threads)."""
        return self.http.post(url, **kwargs)

    def close_clients(self) -> None:
        with self._clients_lock:
            for client in self._clients:
                client.close()
            self._clients.clear()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_shop(self) -> ShopProcess:
        shop = self.stack.enter_context(ShopProcess(
            self.db_url, self.ups, port=self.port, admin_token=ADMIN, options=OPTIONS,
            log_path=self.tmp / f"shop-{len(self.shops)}.log"))
        self.shops.append(shop)
        assert shop.url == self.url
        return shop

    def logs(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in sorted(self.tmp.glob("shop-*.log")))

    # -- upstreams ---------------------------------------------------------------------------
    def faults(self, name: str, **faults: Any) -> None:
        self.http.patch(self.ups[name] + "/admin/faults", json=faults).raise_for_status()

    def clear_faults(self) -> None:
        for url in self.ups.values():
            self.http.delete(url + "/admin/faults").raise_for_status()

    def stat(self, names: tuple[str, ...], counter: str) -> int:
        """A counter of /admin/stats, summed over ``names`` (both channels, both suppliers)."""
        return sum(int(self.http.get(self.ups[n] + "/admin/stats").json()[counter])
                   for n in names)

    def wait_stat(self, names: tuple[str, ...], counter: str, at_least: int,
                  timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while (seen := self.stat(names, counter)) < at_least:
            assert time.monotonic() < deadline, f"{names} {counter}: {seen} < {at_least}"
            time.sleep(0.02)

    # -- the buyer ---------------------------------------------------------------------------
    def order(self, product_id: str, quantity: int = 1) -> dict[str, Any]:
        r = self.http.post(self.url + "/api/orders", json={
            "product_id": product_id, "quantity": quantity, "email": "crash@example.com"})
        assert r.status_code == 201, r.text
        order: dict[str, Any] = {**r.json(), "product_id": product_id, "quantity": quantity}
        with self._lock:
            self.orders[order["order_no"]] = order
        return order

    def pay(self, order: dict[str, Any]) -> None:
        r = self.http.post(order["pay_url"])
        assert r.status_code == 200 and r.json()["status"] == "paid", r.text
        order["paid_at_channel"] = True

    def said_paid(self, order: dict[str, Any]) -> None:
        r = self.http.post(f"{self.url}/api/orders/{order['order_no']}/paid",
                           headers={"X-Order-Token": order["token"]})
        assert r.status_code == 202, r.text

    def status(self, order: dict[str, Any]) -> dict[str, Any]:
        """GET the order as its buyer; every answer is recorded for the audit's polls.csv."""
        started = time.time()
        r = self.http.get(f"{self.url}/api/orders/{order['order_no']}",
                          headers={"X-Order-Token": order["token"]})
        at = time.time()
        view: dict[str, Any] = r.json() if r.status_code == 200 else {}
        with self._lock:
            self.polls.append((order["order_no"], at, "crash-test", "poll", r.status_code,
                               (at - started) * 1000, view.get("state"), view.get("message"),
                               view.get("eta_at")))
        assert r.status_code == 200, r.text
        return view

    def wait_in_db(self, orders: list[dict[str, Any]], state: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while True:
            states = db_states(self.db_url, [o["order_no"] for o in orders])
            if set(states.values()) == {state}:
                return
            assert time.monotonic() < deadline, f"wanted all {state}, have {states}"
            time.sleep(0.02)


def pg_connect(db_url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(db_url, autocommit=True, connect_timeout=10)


def query(db_url: str, *selects: str) -> list[list[dict[str, Any]]]:
    """The rows of each SELECT, as dicts, read from outside the shop (read-only on SQLite)."""
    path = sqlite_path(db_url)
    if path is None:
        with pg_connect(db_url) as pg:
            pg.row_factory = dict_row
            return [pg.execute(sql).fetchall() for sql in selects]
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    con.row_factory = sqlite3.Row
    try:
        return [[dict(r) for r in con.execute(sql)] for sql in selects]
    finally:
        con.close()


def db_states(db_url: str, order_nos: list[str] | None = None) -> dict[str, str]:
    (rows,) = query(db_url, "select order_no, state from orders")
    return {r["order_no"]: r["state"] for r in rows
            if order_nos is None or r["order_no"] in order_nos}


class Freeze:
    """Hold SQLite's write lock from outside the shop: nothing it does can commit meanwhile."""

    def __init__(self, db_path: Path) -> None:
        self.con = sqlite3.connect(db_path, timeout=10, isolation_level=None)

    def hold(self) -> None:
        self.con.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.con.execute("ROLLBACK")

    def states(self) -> dict[str, str]:
        return dict(self.con.execute("select order_no, state from orders").fetchall())

    def unnotified(self) -> set[str]:
        """Delivered orders with no notification recorded."""
        return {r[0] for r in self.con.execute(
            "select order_no from orders where state = 'delivered' "
            "and order_no not in (select order_no from notifications)")}

    def close(self) -> None:
        if self.con.in_transaction:
            self.release()
        self.con.close()


class PgFreeze:
    """The same on PostgreSQL: every table locked IN EXCLUSIVE MODE, which lets plain reads
    through and makes every write wait. A lock the shop's open transaction holds is waited for
    at most 100 ms at a time (then everything is let go and taken again), so the freeze never
    deadlocks with the shop's writer and never gets it aborted."""

    def __init__(self, db_url: str) -> None:
        self.con = pg_connect(db_url)
        self.tables = ", ".join(f'"{r[0]}"' for r in self.con.execute(
            "select tablename from pg_tables where schemaname = current_schema() "
            "order by tablename"))

    @property
    def in_transaction(self) -> bool:
        return self.con.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def hold(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.con.execute("BEGIN")
            self.con.execute("SET LOCAL lock_timeout = '100ms'")
            try:
                self.con.execute(f"LOCK TABLE {self.tables} IN EXCLUSIVE MODE")
                return
            except psycopg.errors.LockNotAvailable:
                self.release()
                if time.monotonic() > deadline:
                    raise

    def release(self) -> None:
        self.con.execute("ROLLBACK")

    def states(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self.con.execute("select order_no, state from orders")}

    def unnotified(self) -> set[str]:
        return {r[0] for r in self.con.execute(
            "select order_no from orders where state = 'delivered' "
            "and order_no not in (select order_no from notifications)")}

    def close(self) -> None:
        if self.in_transaction:
            self.release()
        self.con.close()


def freeze_of(db_url: str) -> Freeze | PgFreeze:
    path = sqlite_path(db_url)
    return PgFreeze(db_url) if path is None else Freeze(path)


def freeze_when(freeze: Freeze | PgFreeze, ready: Callable[[dict[str, str]], bool], timeout: float
                ) -> dict[str, str]:
    """Take the write lock at a moment when ``ready(states)`` holds; return those states."""
    deadline = time.monotonic() + timeout
    last: dict[str, str] = {}
    while time.monotonic() < deadline:
        freeze.hold()
        last = freeze.states()
        if ready(last):
            return last
        freeze.release()
        time.sleep(random.uniform(0.002, 0.012))
    raise AssertionError(f"never froze with every state occupied; last seen "
                         f"{sorted(Counter(last.values()).items())}")


def write_run_dir(h: Harness, run_dir: Path) -> None:
    """A run directory (docs/run-dir.md) of this test, for `fakalab audit`."""
    records = run_dir / "locust" / "records"
    records.mkdir(parents=True)
    with open(records / "polls-1.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(POLL_COLUMNS)
        writer.writerows([["" if v is None else v for v in row] for row in h.polls])
    ended = time.time()
    export_run(run_dir, h.db_url, sla_s=30.0, ended_at=ended, journal=None)
    (run_dir / "run.json").write_text(json.dumps({
        "format_version": 1, "run_id": "crash-restart", "ended_at": ended,
        "shop": {"transparency": "transparent", "stall_after_s": SETTINGS["stall_after_s"]}}))


def test_the_harness_gives_each_thread_its_own_http_client(tmp_path: Path) -> None:
    """The regression of EBADF under the pool's threads: no client is shared between them."""
    h = Harness(tmp_path, {}, "sqlite:///unused.db")
    try:
        mine = h.http
        with ThreadPoolExecutor(2) as pool:
            theirs = pool.submit(lambda: h.http).result()
        assert mine is h.http and theirs is not mine
    finally:
        h.close_clients()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_with_orders_in_every_in_flight_state_then_restart(
        tmp_path: Path, ups: dict[str, str], shop_db_url: str) -> None:
    h = Harness(tmp_path, ups, shop_db_url)
    pool = ThreadPoolExecutor(16)
    freeze: Freeze | PgFreeze | None = None
    try:
        h.clear_faults()
        for channel in CHANNELS:
            h.faults(channel, retry_scale=0.5)  # callback retries after 0.5, 1, 2, 4, 8 s
        first = h.start_shop()
        freeze = freeze_of(h.db_url)

        # allocating: supplier orders whose key request sleeps at the supplier.
        for name in SUPPLIERS:
            h.faults(name, latency_ms=PARK_MS)
        before = h.stat(SUPPLIERS, "requests")
        allocating = [h.order("vip-month") for _ in range(PARKED_ALLOCATING)]
        for o in allocating:
            h.pay(o)
        h.wait_stat(SUPPLIERS, "requests", before + PARKED_ALLOCATING)
        h.wait_in_db(allocating, "allocating")

        # risk_check: orders whose risk check sleeps; then risk answers at once again.
        h.faults("risk", latency_ms=PARK_MS)
        before = h.stat(RISK, "requests")
        in_risk = [h.order("steam-50", quantity=2) for _ in range(PARKED_RISK)]
        for o in in_risk:
            h.pay(o)
        h.wait_stat(RISK, "requests", before + PARKED_RISK)
        h.wait_in_db(in_risk, "risk_check")
        h.faults("risk", latency_ms=0)

        # pending_payment, paid at the channel: the callback is dropped, the buyer says "I have
        # paid", and the reconciliation query the shop then makes sleeps at the channel.
        for channel in CHANNELS:
            h.faults(channel, callback_drop_pct=100, query_latency_ms=PARK_MS)
        unheard = [h.order("win-pro") for _ in range(2)]
        for o in unheard:
            h.pay(o)
            h.said_paid(o)
        for channel in CHANNELS:
            h.faults(channel, callback_drop_pct=0)
        # Paid at the channel while the shop is frozen (below): created now.
        in_flight_callback = [h.order("win-pro") for _ in range(3)]
        late_callback = [h.order("win-pro") for _ in range(2)]
        h.wait_stat(CHANNELS, "queries", len(unheard))  # the reconciliation queries sleep

        # paid and delivering: a burst through the three free workers. Its notifications
        # sleep at the notify service, so orders delivered before the kill are not notified.
        h.faults("notify", latency_ms=PARK_MS)
        burst = list(pool.map(lambda _: h.order("game-cdk"), range(BURST)))
        parked = {o["order_no"]: "allocating" for o in allocating}
        parked |= {o["order_no"]: "risk_check" for o in in_risk}
        parked |= {o["order_no"]: "pending_payment"
                   for o in unheard + in_flight_callback + late_callback}
        burst_nos = {o["order_no"] for o in burst}

        def every_state(states: dict[str, str]) -> bool:
            seen = Counter(s for n, s in states.items() if n in burst_nos)
            return (all(states[n] == s for n, s in parked.items())
                    and seen["paid"] > 0 and seen["delivering"] > 0 and seen["delivered"] > 0)

        paying = [pool.submit(h.pay, o) for o in burst]
        at_kill = freeze_when(freeze, every_state, timeout=15)

        # Frozen. Pay at the channel now: these callbacks hit a shop that cannot commit...
        attempts = h.stat(CHANNELS, "callback_attempts")
        for o in in_flight_callback:
            h.pay(o)
        # ...and these come 5 s from now, after the kill.
        for channel in CHANNELS:
            h.faults(channel, callback_delay={"dist": "fixed", "mean_s": 5.0})
        for o in late_callback:
            h.pay(o)
        h.wait_stat(CHANNELS, "callback_attempts", attempts + len(in_flight_callback))
        # A burst of buyers placing orders and polling while the shop is frozen.
        placing = [pool.submit(h.post, h.url + "/api/orders", json={
            "product_id": "steam-50", "quantity": 1, "email": "late@example.com"})
            for _ in range(4)]
        polling = [pool.submit(h.status, o) for o in burst[:8]]
        time.sleep(0.3)
        assert freeze.states() == at_kill  # still frozen: nothing committed meanwhile
        # What the buyers of the parked orders are shown agrees (read from memory, no DB).
        for n, state in parked.items():
            assert h.status(h.orders[n])["state"] == state
        unnotified = freeze.unnotified()
        assert unnotified & burst_nos, "no delivered order was waiting for its notification"
        for f in paying + polling:  # before the kill: on a busy machine a poll may still be on
            f.result(timeout=30)    # its way; paying never needed the shop, polls are answered
        first.kill()                # from memory while the database is frozen
        freeze.release()
        placed = [f.result() for f in placing if f.exception() is None]
        assert not [r for r in placed if r.status_code == 201], "confirmed while frozen"

        occupied = Counter(at_kill.values())
        for state in FLIGHT:
            assert occupied[state] > 0, f"{state} not occupied at the kill: {occupied}"
        for o in unheard + in_flight_callback + late_callback:
            assert o.get("paid_at_channel") and at_kill[o["order_no"]] == "pending_payment"

        # Restart with the faults cleared... and kill it again while it resumes.
        h.clear_faults()
        h.faults("risk", latency_ms=800)  # keep the resumed orders at risk for a moment
        before = h.stat(RISK, "requests")
        second = h.start_shop()
        h.wait_stat(RISK, "requests", before + WORKERS)  # every worker is busy resuming
        freeze.hold()
        at_second_kill = freeze.states()
        second.kill()
        freeze.release()
        again = Counter(at_second_kill.values())
        assert sum(again[s] for s in FLIGHT) > 0, f"resume was over already: {again}"

        h.clear_faults()
        h.start_shop()
        deadline = time.monotonic() + 40
        while True:
            states = db_states(h.db_url)
            left = {n: s for n, s in states.items() if s in FLIGHT or s == "pending_payment"}
            if not left:
                break
            assert time.monotonic() < deadline, f"not settled: {left}\n{h.logs()}"
            for n in parked:  # buyers watching across the restarts (polls.csv for the audit)
                h.status(h.orders[n])
            time.sleep(0.2)

        views = {n: h.status(o) for n, o in h.orders.items()}
        check_outcome(h, views, at_kill)

        run_dir = tmp_path / "run"
        write_run_dir(h, run_dir)
        audit = subprocess.run(
            [sys.executable, "-m", "fakalab", "audit", str(run_dir), "--db", h.db_url],
            cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert json.loads((run_dir / "audit.json").read_text())["passed"]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        if freeze is not None:
            freeze.close()
        h.stack.close()
        h.clear_faults()
        h.close_clients()


def check_outcome(h: Harness, views: dict[str, dict[str, Any]], at_kill: dict[str, str]
                  ) -> None:
    """Every paid order delivered exactly once (or visibly needing a person); nothing lost."""
    order_rows, keys, event_rows, accepted_rows, notified_rows = query(
        h.db_url, "select * from orders", "select * from card_keys where order_no is not null",
        "select * from order_events order by order_no, seq",
        "select trade_no from callback_attempts where outcome in ('accepted', 'late_accepted')",
        "select order_no from notifications")
    orders = {r["order_no"]: r for r in order_rows}
    events = [{**r, "visible": bool(r["visible"])} for r in event_rows]
    accepted = Counter(r["trade_no"] for r in accepted_rows)
    notified = {r["order_no"] for r in notified_rows}

    # No order lost: every order a buyer was given exists, and nothing else does.
    assert set(orders) == set(h.orders) == set(at_kill)
    # Every order was paid at the channel, so every one must be accounted for; with the
    # faults gone, nothing is left to need a person.
    outcome = Counter(o["state"] for o in orders.values())
    assert outcome == {"delivered": len(h.orders)}, {
        n: (o["state"], o["last_error"]) for n, o in orders.items() if o["state"] != "delivered"}

    # Paid once, delivered once, with exactly its own keys.
    assert all(accepted[n] == 1 for n in orders), accepted
    delivered_events = Counter(e["order_no"] for e in events if e["state"] == "delivered")
    assert all(delivered_events[n] == 1 for n in orders), delivered_events
    sold = [k for k in keys if k["status"] == "sold"]
    assert len(sold) == len(keys), [k for k in keys if k["status"] != "sold"]
    assert len({(k["product_id"], k["secret"]) for k in sold}) == len(sold)  # none sold twice
    by_order: dict[str, list[str]] = {}
    for k in sold:
        by_order.setdefault(k["order_no"], []).append(k["secret"])
    for n, o in orders.items():
        assert len(by_order.get(n, [])) == o["quantity"], (n, by_order.get(n))
        assert sorted(views[n]["keys"]) == sorted(by_order[n])  # what the buyer sees
        assert views[n]["state"] == "delivered"
    # The buyer was told (a crash between delivery and the e-mail must not lose the e-mail).
    assert set(orders) <= notified, sorted(set(orders) - notified)

    # The ledger: every chain verifies and ends in the order's state; each order passed
    # through the states it was in at the kill.
    assert verify_chain(events) == []
    last = {e["order_no"]: e["state"] for e in events}
    assert last == {n: o["state"] for n, o in orders.items()}
    path: dict[str, list[str]] = {}
    for e in events:
        path.setdefault(e["order_no"], []).append(e["state"])
    for n, state in at_kill.items():
        assert state in path[n]
        assert path[n][path[n].index(state):][-1] == "delivered"
