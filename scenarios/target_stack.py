"""The system under test of an external target's drill: toxiproxy, fakalab's 易支付 gateway,
a proxy in front of each of the shop's dependencies, of the gateway (`shop->gateway`) and of
the shop itself (`buyers->shop`), and the target's own commands.

Started in that order and stopped in reverse, also when a step fails; each command runs in a
session of its own and is stopped by signalling its whole group (or by its `stop` command).
Like `stack.Stack` it is the drill plan's process control: it can SIGKILL a command and start
it again. The addresses the shop must use are printed as they are made.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fakalab.chaos.client import ToxiproxyClient, ToxiproxyError
from fakalab.chaos.plan import proxy_name
from fakalab.chaos.server import ToxiproxySubprocess
from fakalab.contract.target import Command, Target, fill, template_env, template_names
from fakalab.reference_shop.upstreams.process import UpstreamsError, UpstreamsProcess
from fakalab.scenarios.ports import free_port
from fakalab.scenarios.stack import StackError
from fakalab.scenarios.target_process import (
    Check,
    TargetProcess,
    TargetProcessError,
    check_once,
    wait_until,
)

__all__ = ["TargetStack"]

GATEWAY = "gateway"


def _port_names(target: Target) -> list[str]:
    """Every NAME of a `{port:NAME}` anywhere in the target, in order of appearance."""
    text = json.dumps(target.model_dump(mode="json", exclude={"profile"}))
    names: list[str] = []
    for name, arg in template_names(text):
        if name == "port" and arg and arg not in names:
            names.append(arg)
    return names


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


@dataclass
class TargetStack:
    run_dir: Path
    target: Target
    shop_settings: dict[str, Any] = field(default_factory=dict)  # FAKALAB_SHOP_* for commands
    toxiproxy_url: str | None = None
    seed: int = 0
    on_address: Callable[[str, str], None] = lambda link, address: None
    toxiproxy: ToxiproxyClient | None = None
    upstream_urls: dict[str, str] = field(default_factory=dict)  # admin URLs: business faults
    values: dict[str, str] = field(default_factory=dict)  # the templates' values
    shop_url: str = ""  # where buyers go: the proxy in front of the shop
    direct_url: str = ""  # the shop itself
    gateway_direct: str = ""  # fakalab's gateway (its admin and cashier)
    stopping: bool = False
    commands: dict[str, TargetProcess] = field(default_factory=dict)
    _gateway: UpstreamsProcess | None = None
    _embedded: ToxiproxySubprocess | None = None
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _down: set[str] = field(default_factory=set)
    _not_restarted: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def toxiproxy_kind(self) -> str:
        return "external" if self.toxiproxy_url else "embedded"

    @property
    def journal_path(self) -> Path:
        """The gateway's journal: every request the shop sent, every notify and its reply."""
        return self.run_dir / "upstreams" / "epay.jsonl"

    @property
    def cashier(self) -> str:
        """The prefix of the gateway's cashier URLs (where buyers pay)."""
        return f"{self.gateway_direct}/pay/"

    def start(self) -> None:
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        try:
            self._start_toxiproxy()
            self.values = self._first_values()
            self._start_gateway()
            self._create_proxies()
            self._start_commands()
            self._check_shop()
        except BaseException:
            self.stop()
            raise

    # -- the parts --------------------------------------------------------------------------
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

    def _first_values(self) -> dict[str, str]:
        values = {f"port:{name}": str(free_port()) for name in _port_names(self.target)}
        gateway = self.target.gateway
        values.update({"gateway_pid": gateway.pid, "gateway_key": gateway.key,
                       "run_dir": str(self.run_dir.resolve()), "python": sys.executable,
                       "seed": str(self.seed)})
        assert self.target.url is not None
        self.direct_url = fill(self.target.url, values).rstrip("/")
        values["shop_url"] = self.direct_url
        return values

    def _start_gateway(self) -> None:
        gateway = self.target.gateway
        self._gateway = UpstreamsProcess(
            only=["epay"], seed=self.seed, state_dir=self.run_dir / "upstreams",
            env={"FAKALAB_EPAY_PID": gateway.pid, "FAKALAB_EPAY_KEY": gateway.key})
        try:
            self.gateway_direct = self._gateway.start()["epay"]
        except UpstreamsError as exc:
            raise StackError(f"gateway: {exc}") from None
        self._stack.callback(self._stop_gateway)
        self.upstream_urls[GATEWAY] = self.gateway_direct

    def _stop_gateway(self) -> None:
        if self._gateway is not None:
            self._gateway.stop()
            with contextlib.suppress(OSError, ValueError):
                (self.run_dir / "logs" / "gateway.log").write_text(self._gateway.stderr())

    def _create_proxies(self) -> None:
        gateway = self.target.gateway
        self._proxy(f"shop->{GATEWAY}", self.gateway_direct.removeprefix("http://"),
                    gateway.listen, "the gateway's address in the shop's epay settings")
        self.values["gateway_url"] = f"http://{self.values['proxy:gateway']}"
        for name, dep in self.target.dependencies.items():
            self._proxy(f"shop->{name}", fill(dep.address, self.values),
                        dep.listen, f"the shop's {name} address")
            if dep.admin is not None:
                self.upstream_urls[name] = fill(dep.admin, self.values).rstrip("/")
        if self.direct_url.startswith("http://"):
            listen = self._proxy("buyers->shop", _host_port(self.direct_url), None,
                                 "where fakalab's buyers go")
            path = urlsplit(self.direct_url).path
            self.shop_url = f"http://{listen}{path}".rstrip("/")
        else:  # TLS: a TCP proxy would break the certificate's name; buyers go direct
            self.shop_url = self.direct_url

    def _proxy(self, link: str, upstream: str, listen: str | None, what: str) -> str:
        assert self.toxiproxy is not None
        name = proxy_name(link)
        wanted = fill(listen, self.values) if listen else f"127.0.0.1:{free_port()}"
        with contextlib.suppress(ToxiproxyError):
            self.toxiproxy.delete_proxy(name)  # a leftover of an earlier run
        try:
            created = self.toxiproxy.create_proxy(name, upstream, wanted)
        except ToxiproxyError as exc:
            text = str(exc)
            why = "address already in use" if "in use" in text else text
            raise StackError(f"{link}: cannot listen on {wanted} ({what}): {why}") from None
        self._stack.callback(self._delete_proxy, name)
        address = str(created["listen"])
        target_end = link.partition("->")[2]
        self.values[f"proxy:{target_end}"] = address
        self.on_address(link, f"{address} -> {upstream}  ({what})")
        return address

    def _delete_proxy(self, name: str) -> None:
        if self.toxiproxy is not None:
            with contextlib.suppress(ToxiproxyError):
                self.toxiproxy.delete_proxy(name)

    def _process(self, command: Command) -> TargetProcess:
        env = {**template_env(self.values),
               **{f"FAKALAB_SHOP_{k.upper()}": _text(v) for k, v in self.shop_settings.items()},
               **{k: fill(v, self.values) for k, v in command.env.items()}}
        ready = None
        if command.ready is not None:
            r = command.ready
            ready = Check(fill(r.url, self.values) if r.url else None,
                          fill(r.tcp, self.values) if r.tcp else None, r.timeout)
        return TargetProcess(command.name, self._argv(command.run), Path(command.cwd or "."),
                             env, self.run_dir / "logs" / f"{command.name}.log", ready,
                             command.stop_timeout)

    def _argv(self, run: str | list[str]) -> list[str]:
        parts = shlex.split(run) if isinstance(run, str) else list(run)
        return [fill(part, self.values) for part in parts]

    def _start_commands(self) -> None:
        for command in self.target.start:
            if self.stopping:
                raise StackError("interrupted while starting the target")
            process = self._process(command)
            if not command.once:
                self._stack.callback(self._stop_command, command.name)
            if command.stop is not None:  # runs before the group is signalled
                self._stack.callback(self._run_stop, command)
            try:
                if command.once:
                    process.run_to_end(command.stop_timeout + 60.0)
                    continue
                self.commands[command.name] = process
                process.start(lambda: self.stopping)
            except TargetProcessError as exc:
                raise StackError(f"target command {exc}") from None

    def _stop_command(self, name: str) -> None:
        process = self.commands.get(name)
        if process is not None:
            process.stop()

    def _run_stop(self, command: Command) -> None:
        assert command.stop is not None
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            log = self.run_dir / "logs" / f"{command.name}.stop.log"
            with open(log, "ab") as out:
                subprocess.run(self._argv(command.stop), cwd=command.cwd or ".",
                               env=None, stdout=out, stderr=subprocess.STDOUT,
                               timeout=command.stop_timeout + 30.0, check=False)

    def _check_shop(self) -> None:
        ready = self.target.ready
        if ready is not None:
            check = Check(fill(ready.url, self.values) if ready.url else None,
                          fill(ready.tcp, self.values) if ready.tcp else None, ready.timeout)
        else:
            check = Check(self.direct_url + "/", None, 30.0 if self.target.start else 5.0)
        problem = wait_until(check, lambda: self._dead_command(), lambda: self.stopping)
        if problem is not None:
            started = "" if self.target.start else "; no start command: is it running?"
            raise StackError(f"the shop at {self.direct_url} is down: {problem}{started}")

    def _dead_command(self) -> str | None:
        dead = [f"{name} {p.exited()}" for name, p in self.commands.items() if p.exited()]
        return "; ".join(dead) or None

    # -- watching, killing, stopping ---------------------------------------------------------
    def dead_children(self) -> list[str]:
        with self._lock:
            procs: list[tuple[str, subprocess.Popen[Any] | None]] = [
                ("gateway", self._gateway.proc if self._gateway else None),
                ("toxiproxy", self._embedded.process if self._embedded else None),
                *((name, p.proc) for name, p in self.commands.items())]
            dead = [f"{name} (exit {proc.returncode})" for name, proc in procs
                    if name not in self._down and proc is not None and proc.poll() is not None]
            return dead + [f"{name} (did not restart: {why})"
                           for name, why in self._not_restarted.items()]

    def shop_answers(self) -> bool:
        return check_once(Check(self.direct_url + "/", None, 2.0)) is None

    def killable(self) -> list[str]:
        return list(self.commands)

    def kill(self, name: str) -> dict[str, Any]:
        with self._lock:
            process = self.commands.get(name)
            if process is None:
                raise StackError(f"cannot kill {name!r} (killable: "
                                 f"{', '.join(self.commands) or 'none'})")
            self._down.add(name)
        pid = process.proc.pid if process.proc else None
        process.kill()
        return {"process": name, "pid": pid, "signal": "SIGKILL", "group": True}

    def restart(self, name: str) -> dict[str, Any]:
        if self.stopping:
            return {"process": name, "restarted": False, "note": "the drill is stopping"}
        command = next(c for c in self.target.start if c.name == name)
        begun = time.monotonic()
        fresh = self._process(command)
        try:
            fresh.start(lambda: self.stopping)
        except TargetProcessError as exc:
            with self._lock:
                self._not_restarted[name] = str(exc)
            raise StackError(f"{name} did not restart: {exc}") from None
        with self._lock:
            self.commands[name] = fresh
            self._down.discard(name)
            self._not_restarted.pop(name, None)
        return {"process": name, "restarted": True,
                "pid": fresh.proc.pid if fresh.proc else None,
                "ready_s": round(time.monotonic() - begun, 3)}

    def stop_shop(self) -> None:
        """Stop the target's commands (in reverse order of their start)."""
        for name in reversed(list(self.commands)):
            self.commands[name].stop()

    def stop(self) -> None:
        self._stack.close()


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
