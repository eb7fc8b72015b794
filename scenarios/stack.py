"""The system under test for one drill: toxiproxy, the upstreams, the proxies, the shop.

Started in that order and always stopped in reverse, also when a step fails. The shop reaches
every upstream through its Toxiproxy proxy (link ``shop->NAME`` = proxy ``shop_NAME``), so a
drill plan can put network faults on each hop; business faults go to the upstreams directly.

The stack is also the drill plan's process control (`chaos.faults.ProcessControl`): it can
SIGKILL the shop, or an upstream listed in ``isolate`` (which then runs in a process of its own),
and restart it on the same address. A process killed on purpose is not a dead child.

`bind` is the address the shop and the upstreams listen on (loopback unless a drill has
generators on other hosts): the buyers reach the shop there and follow pay URLs naming it.
The proxies between the shop and its upstreams stay on loopback.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakalab.chaos.client import ToxiproxyClient, ToxiproxyError
from fakalab.chaos.plan import proxy_name
from fakalab.chaos.server import ToxiproxySubprocess
from fakalab.contract.delay_risk import RISK_FEATURES_FILE
from fakalab.contract.services import SERVICES
from fakalab.contract.traces import TRACES_DIR
from fakalab.reference_shop.dburl import DatabaseProblem, shown
from fakalab.reference_shop.process import ShopProcess, ShopProcessError
from fakalab.reference_shop.storage.rundb import (
    copy_to_sqlite,
    create_run_database,
    drop_run_database,
    run_database_name,
)
from fakalab.reference_shop.upstreams.process import UpstreamsError, UpstreamsProcess
from fakalab.scenarios.ports import free_port

__all__ = ["Stack", "StackError"]


class StackError(RuntimeError):
    """A part of the stack did not start; the message names it and why."""


def _setting_args(settings: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for key, value in settings.items():
        if key == "db_url":  # the stack chooses the shop's database (--db)
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        args += ["--set", f"{key}={text}"]
    return args


@dataclass
class Stack:
    run_dir: Path
    shop_settings: dict[str, Any]
    toxiproxy_url: str | None = None
    seed: int = 0
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    upstream_urls: dict[str, str] = field(default_factory=dict)
    proxied_urls: dict[str, str] = field(default_factory=dict)
    shop_url: str = ""
    toxiproxy: ToxiproxyClient | None = None
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _embedded: ToxiproxySubprocess | None = None
    shop: ShopProcess | None = None
    upstreams: UpstreamsProcess | None = None
    isolate: list[str] = field(default_factory=list)  # upstreams with a process of their own
    isolated: dict[str, UpstreamsProcess] = field(default_factory=dict)
    stopping: bool = False  # set when the drill ends early: a killed process stays down
    db_url: str | None = None  # a PostgreSQL server for the shop's database (else SQLite)
    database: dict[str, str] = field(default_factory=dict)  # for run.json
    bind: str = "127.0.0.1"  # where the shop and the upstreams (pay URLs) listen
    _down: set[str] = field(default_factory=set)  # killed on purpose, not restarted yet
    _not_restarted: dict[str, str] = field(default_factory=dict)  # name -> why
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def toxiproxy_kind(self) -> str:
        return "external" if self.toxiproxy_url else "embedded"

    @property
    def db_path(self) -> Path:
        return self.run_dir / "shop.db"

    @property
    def state_dir(self) -> Path:
        """The payment channels' journals (they survive a kill)."""
        return self.run_dir / "upstreams"

    @property
    def traces(self) -> dict[str, Any]:
        """Where the upstreams send their spans: with the shop's, when it traces."""
        if not self.shop_settings.get("tracing"):
            return {}
        return {"traces": self.run_dir / TRACES_DIR,
                "otlp_endpoint": self.shop_settings.get("otlp_endpoint")}

    def start(self) -> None:
        logs = self.run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        try:
            self._start_toxiproxy()
            self._start_upstreams()
            self._create_proxies()
            self._start_shop(logs)
        except BaseException:
            self.stop()
            raise

    def _start_toxiproxy(self) -> None:
        url = self.toxiproxy_url
        if url is None:
            self._embedded = ToxiproxySubprocess()
            try:
                url = self._embedded.start()
            except RuntimeError as exc:
                raise StackError(f"toxiproxy: {exc}") from None
            self._stack.callback(self._embedded.stop)
        self.toxiproxy = ToxiproxyClient(url)
        try:
            self.toxiproxy.version()
        except ToxiproxyError as exc:
            raise StackError(f"toxiproxy at {url}: {exc}") from None

    def _start_upstreams(self) -> None:
        unknown = sorted(set(self.isolate) - set(SERVICES))
        if unknown:
            raise StackError(f"upstreams: no service {', '.join(unknown)} "
                             f"(there are: {', '.join(SERVICES)})")
        shared = [name for name in SERVICES if name not in self.isolate]
        self.upstreams = UpstreamsProcess(host=self.bind, seed=self.seed, only=shared,
                                          state_dir=self.state_dir, **self.traces)
        try:
            self.upstream_urls = dict(self.upstreams.start())
        except UpstreamsError as exc:
            raise StackError(f"upstreams: {exc}") from None
        self._stack.callback(self.upstreams.stop)
        for name in self.isolate:
            self._start_isolated(name)

    def _start_isolated(self, name: str) -> None:
        self.isolated[name] = self._spawn_isolated(name)

    def _spawn_isolated(self, name: str) -> UpstreamsProcess:
        """`name` alone in a process, on its port of the shared port base."""
        proc = UpstreamsProcess(self.upstreams.port_base if self.upstreams else None,
                                host=self.bind, seed=self.seed, only=[name],
                                state_dir=self.state_dir, **self.traces)
        try:
            self.upstream_urls[name] = proc.start()[name]
        except UpstreamsError as exc:
            raise StackError(f"upstream {name}: {exc}") from None
        self._stack.callback(proc.stop)
        return proc

    def _create_proxies(self) -> None:
        assert self.toxiproxy is not None
        for name in SERVICES:
            proxy = proxy_name(f"shop->{name}")
            upstream = self.upstream_urls[name].removeprefix("http://")
            with contextlib.suppress(ToxiproxyError):
                self.toxiproxy.delete_proxy(proxy)  # a leftover of an earlier run
            listen = f"127.0.0.1:{free_port()}"
            try:
                created = self.toxiproxy.create_proxy(proxy, upstream, listen)
            except ToxiproxyError as exc:
                raise StackError(f"toxiproxy: cannot create proxy {proxy}: {exc}") from None
            self._stack.callback(self._delete_proxy, proxy)
            self.proxied_urls[name] = f"http://{created['listen']}"

    def _delete_proxy(self, proxy: str) -> None:
        if self.toxiproxy is not None:
            with contextlib.suppress(ToxiproxyError):
                self.toxiproxy.delete_proxy(proxy)

    def _database(self) -> str:
        """The shop's database: a SQLite file in the run directory, or — with `db_url`, a
        PostgreSQL server — a fresh database there for this run, copied into the run directory
        (`shop.db`) and dropped once the shop has stopped."""
        if not self.db_url:
            return f"sqlite:///{self.db_path}"
        name = run_database_name(self.run_dir.name)
        try:
            url = create_run_database(self.db_url, name)
        except DatabaseProblem as exc:
            raise StackError(f"shop database: {exc}") from None
        self.database = {"kind": "postgresql", "server": shown(self.db_url), "name": name,
                         "copied_to": "shop.db"}
        self._stack.callback(self._keep_and_drop, url, name)
        return url

    def _keep_and_drop(self, url: str, name: str) -> None:
        assert self.db_url is not None
        try:
            copy_to_sqlite(url, self.db_path)
        except (DatabaseProblem, OSError) as exc:
            self.database["copy_error"] = str(exc)
            return  # keep the database: it is the only copy of the run
        with contextlib.suppress(DatabaseProblem):
            drop_run_database(self.db_url, name)

    def _start_shop(self, logs: Path) -> None:
        self.shop = ShopProcess(
            self._database(), self.proxied_urls, host=self.bind,
            admin_token=self.admin_token,
            options=[*_setting_args(self.shop_settings), *self._signal_args(),
                     "--set", f"risk_features_log={self.run_dir / RISK_FEATURES_FILE}"],
            log_path=logs / "shop.log")
        try:
            self.shop_url = self.shop.start()
        except ShopProcessError as exc:
            raise StackError(f"shop: {exc}") from None
        self._stack.callback(self.shop.stop)

    def _signal_args(self) -> list[str]:
        """With provider_signals: the upstreams' status pages at their own addresses (not
        through the proxies: a status page is hosted apart from the API it reports on), and
        the run directory's provider_signals.csv."""
        if not self.shop_settings.get("provider_signals"):
            return []
        log = self.run_dir / "provider_signals.csv"
        return ["--set", f"provider_status_urls={json.dumps(self.upstream_urls)}",
                "--set", f"provider_signals_log={log}"]

    def dead_children(self) -> list[str]:
        """The stack's processes that exited on their own, and kills that did not restart.

        Evaluated under the process lock: a kill or a restart (run in another thread by the
        plan) changes a process and whether it is meant to be down in one step, so this never
        sees a process that is down on purpose without knowing it is."""
        with self._lock:
            procs: list[tuple[str, subprocess.Popen[str] | None]] = [
                ("shop", self.shop.proc if self.shop else None),
                ("upstreams", self.upstreams.proc if self.upstreams else None),
                ("toxiproxy", self._embedded.process if self._embedded else None),
                *((name, p.proc) for name, p in self.isolated.items())]
            dead = [f"{name} (exit {proc.returncode})" for name, proc in procs
                    if name not in self._down and proc is not None and proc.poll() is not None]
            return dead + [f"{name} (did not restart: {reason})"
                           for name, reason in self._not_restarted.items()]

    # ProcessControl (chaos.faults): kills and restarts a drill plan asks for
    def killable(self) -> list[str]:
        return ["shop", *self.isolated]

    def kill(self, name: str) -> dict[str, Any]:
        """SIGKILL the shop or an isolated upstream: a crash, no clean-up."""
        with self._lock:
            proc = self._process(name)
            self._down.add(name)  # before the signal: its death is no surprise from now on
        if proc is None or proc.poll() is not None:
            return {"process": name, "signal": "SIGKILL", "note": "was not running"}
        pid = proc.pid
        proc.kill()
        proc.wait()
        return {"process": name, "pid": pid, "signal": "SIGKILL", "exit": proc.returncode}

    def restart(self, name: str) -> dict[str, Any]:
        """Start a killed process again on the same address; the shop resumes from its database.

        The process counts as up again only once it is ready; one that fails to come back stays
        down and is reported by `dead_children` with the reason, not as a crash."""
        if self.stopping:
            return {"process": name, "restarted": False, "note": "the drill is stopping"}
        begun = time.monotonic()
        try:
            if name == "shop":
                assert self.shop is not None
                self.shop.restart()
                fresh = None
            else:
                fresh = self._spawn_isolated(name)
        except (ShopProcessError, StackError) as exc:
            with self._lock:
                self._not_restarted[name] = str(exc)
            raise StackError(f"{name} did not restart: {exc}") from None
        with self._lock:
            if fresh is not None:
                self.isolated[name] = fresh
            self._down.discard(name)  # from now on, its death is the drill's error
            self._not_restarted.pop(name, None)
            proc = self._process(name)
        return {"process": name, "restarted": True, "pid": proc.pid if proc else None,
                "ready_s": round(time.monotonic() - begun, 3)}

    def _process(self, name: str) -> subprocess.Popen[str] | None:
        if name == "shop":
            return self.shop.proc if self.shop else None
        if name in self.isolated:
            return self.isolated[name].proc
        raise StackError(f"cannot kill {name!r} (killable: {', '.join(self.killable())})")

    def stop_shop(self) -> None:
        """Stop the shop cleanly (before its database is exported)."""
        if self.shop is not None:
            self.shop.stop()

    def stop(self) -> None:
        self._stack.close()
        if self.upstreams is not None:  # its stderr is kept in a temporary file until now
            with contextlib.suppress(OSError, ValueError):
                (self.run_dir / "logs" / "upstreams.log").write_text(self.upstreams.stderr())
