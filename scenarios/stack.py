"""The system under test for one drill: toxiproxy, the upstreams, the proxies, the shop.

Started in that order and always stopped in reverse, also when a step fails. The shop reaches
every upstream through its Toxiproxy proxy (link ``shop->NAME`` = proxy ``shop_NAME``), so a
drill plan can put network faults on each hop; business faults go to the upstreams directly.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.client import ToxiproxyClient, ToxiproxyError
from chaos.plan import proxy_name
from chaos.server import ToxiproxySubprocess
from reference_shop.process import ShopProcess, ShopProcessError
from reference_shop.upstreams import SERVICES
from reference_shop.upstreams.process import UpstreamsError, UpstreamsProcess

__all__ = ["Stack", "StackError"]


class StackError(RuntimeError):
    """A part of the stack did not start; the message names it and why."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _setting_args(settings: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for key, value in settings.items():
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

    @property
    def toxiproxy_kind(self) -> str:
        return "external" if self.toxiproxy_url else "embedded"

    @property
    def db_path(self) -> Path:
        return self.run_dir / "shop.db"

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
        self.upstreams = UpstreamsProcess(seed=self.seed)
        try:
            self.upstream_urls = dict(self.upstreams.start())
        except UpstreamsError as exc:
            raise StackError(f"upstreams: {exc}") from None
        self._stack.callback(self.upstreams.stop)

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

    def _start_shop(self, logs: Path) -> None:
        self.shop = ShopProcess(
            f"sqlite+aiosqlite:///{self.db_path}", self.proxied_urls,
            admin_token=self.admin_token, options=_setting_args(self.shop_settings),
            log_path=logs / "shop.log")
        try:
            self.shop_url = self.shop.start()
        except ShopProcessError as exc:
            raise StackError(f"shop: {exc}") from None
        self._stack.callback(self.shop.stop)

    def dead_children(self) -> list[str]:
        """Names of the stack's processes that have exited on their own."""
        procs: list[tuple[str, subprocess.Popen[str] | None]] = [
            ("shop", self.shop.proc if self.shop else None),
            ("upstreams", self.upstreams.proc if self.upstreams else None),
            ("toxiproxy", self._embedded.process if self._embedded else None)]
        return [f"{name} (exit {proc.returncode})" for name, proc in procs
                if proc is not None and proc.poll() is not None]

    def stop_shop(self) -> None:
        """Stop the shop cleanly (before its database is exported)."""
        if self.shop is not None:
            self.shop.stop()

    def stop(self) -> None:
        self._stack.close()
        if self.upstreams is not None:  # its stderr is kept in a temporary file until now
            with contextlib.suppress(OSError, ValueError):
                (self.run_dir / "logs" / "upstreams.log").write_text(self.upstreams.stderr())
