"""Serve several upstream apps with uvicorn in one asyncio loop, in this process or a child.

Every port is bound before any server starts, so a port in use fails fast with nothing left
running. ``UpstreamsProcess`` runs ``fakalab upstreams`` as a child process for tests and drills.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from fakalab.contract.services import (
    DEFAULT_HOST,
    DEFAULT_PORT_BASE,
    DEFAULT_SECRETS,
    PORTS,
    SERVICE_KINDS,
    SERVICES,
    service_url,
)
from fakalab.reference_shop.collector import tune as tune_collector
from fakalab.reference_shop.tracing import TraceRequests, Tracing, open_tracing
from fakalab.reference_shop.upstreams import epay, notifier, payment, risk, supplier

__all__ = ["BindError", "Settings", "bind_sockets", "build_app", "run", "serve", "traced",
           "upstream_route"]

WILDCARD_HOSTS = ("", "0.0.0.0", "::")


@dataclass(frozen=True)
class Settings:
    """What ``fakalab upstreams`` was asked to run."""

    host: str = DEFAULT_HOST
    port_base: int = DEFAULT_PORT_BASE
    only: tuple[str, ...] = tuple(SERVICES)
    seed: int = 0
    secrets: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SECRETS))
    public_host: str | None = None
    log_level: str = "warning"
    state_dir: Path | None = None  # payment channels journal their payments here
    epay_pid: str = epay.DEFAULT_PID  # the merchant of the epay gateway
    epay_key: str = epay.DEFAULT_KEY
    ports: dict[str, int] = field(default_factory=dict)  # a service's own port (not the base's)
    traces: Path | None = None  # each service appends its spans to NAME.jsonl here
    otlp_endpoint: str | None = None  # and/or sends them to this OTLP/HTTP collector

    def port(self, name: str) -> int:
        return self.ports.get(name, self.port_base + PORTS[name])

    def url(self, name: str) -> str:
        return service_url(self.host, self.port(name))

    def public_url(self, name: str) -> str:
        """The URL buyers are sent to (pay URLs): the listening address unless told otherwise."""
        host = self.public_host or (DEFAULT_HOST if self.host in WILDCARD_HOSTS else self.host)
        return service_url(host, self.port(name))


class BindError(Exception):
    """A service's port could not be bound."""

    def __init__(self, name: str, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot listen on {host}:{port} for {name}: {reason}")
        self.name, self.host, self.port, self.reason = name, host, port, reason


def build_app(name: str, settings: Settings) -> FastAPI:
    """The app of service ``name`` (``payment-a`` … ``notify``)."""
    kind = SERVICE_KINDS[name]
    channel = name.rsplit("-", 1)[-1].upper()
    if kind == "payment":
        secret = settings.secrets.get(name, DEFAULT_SECRETS[name])
        journal = settings.state_dir / f"{name}.jsonl" if settings.state_dir else None
        return payment.create_app(channel, secret, settings.public_url(name), settings.seed,
                                  journal=journal)
    if kind == "supplier":
        return supplier.create_app(channel, settings.seed)
    if kind == "risk":
        return risk.create_app(settings.seed)
    if kind == "epay":
        journal = settings.state_dir / "epay.jsonl" if settings.state_dir else None
        return epay.create_app(settings.epay_pid, settings.epay_key, settings.public_url(name),
                               settings.seed, journal=journal)
    return notifier.create_app(settings.seed)


# Routes with an id in the path, named by their template (span names stay few).
_TEMPLATES = (("/pay/", "/pay/{payment_id}"), ("/api/payments/", "/api/payments/{trade_no}"))


def upstream_route(method: str, path: str) -> str | None:
    """The server span's name of a request an upstream traces: its business API (not the
    health check, the admin switches or the status documents)."""
    if path == "/healthz" or path.startswith(("/admin", "/api/v2")):
        return None
    for prefix, template in _TEMPLATES:
        if path.startswith(prefix) and len(path) > len(prefix):
            return f"{method} {template}"
    return f"{method} {path}"


def traced(name: str, app: FastAPI, settings: Settings) -> Tracing | None:
    """Trace ``app`` as service ``name`` when ``settings`` name a destination: the requests
    that carry a traceparent (the upstreams start no trace of their own), and a payment
    channel's callbacks to the shop."""
    if settings.traces is None and not settings.otlp_endpoint:
        return None
    file = settings.traces / f"{name}.jsonl" if settings.traces is not None else None
    tracing = open_tracing(name, file, settings.otlp_endpoint, roots=False)
    app.add_middleware(TraceRequests, tracer=tracing.tracer, name_of=upstream_route,
                       roots=False)
    sender = getattr(app.state, "sender", None)
    if sender is not None:
        sender.tracer = tracing.tracer
    return tracing


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def bind_sockets(settings: Settings) -> dict[str, socket.socket]:
    """One bound socket per service; on failure closes those already bound and raises BindError."""
    bound: dict[str, socket.socket] = {}
    for name in settings.only:
        port = settings.port(name)
        try:
            bound[name] = _bind(settings.host, port)
        except OSError as exc:
            for sock in bound.values():
                sock.close()
            in_use = exc.errno == errno.EADDRINUSE
            reason = "port already in use" if in_use else (exc.strerror or str(exc))
            raise BindError(name, settings.host, port, reason) from None
    return bound


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to ``serve`` (several share one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _config(app: FastAPI, settings: Settings, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=settings.log_level,
        timeout_graceful_shutdown=3,
        backlog=4096,  # a flash sale's buyers open their connections to the pay page at once
    )


def _install_signals(servers: list[_Server]) -> None:
    """SIGINT/SIGTERM stop every server gracefully; a second SIGINT stops without waiting."""

    def stop(sig: signal.Signals) -> None:
        for server in servers:
            if server.should_exit and sig == signal.SIGINT:
                server.force_exit = True
            server.should_exit = True

    if threading.current_thread() is threading.main_thread():
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop, sig)


async def serve(
    settings: Settings,
    sockets: dict[str, socket.socket],
    on_ready: Callable[[dict[str, str]], None] | None = None,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
) -> None:
    """Serve every service on its bound socket until SIGINT/SIGTERM or ``stop`` is set.

    ``on_ready`` gets ``{name: url}`` once every server accepts connections. Pass
    ``handle_signals=False`` when the caller's loop already handles SIGINT/SIGTERM.
    """
    apps = {name: build_app(name, settings) for name in sockets}
    tracings = [t for name, app in apps.items() if (t := traced(name, app, settings))]
    servers = [_Server(_config(app, settings, settings.port(name))) for name, app in apps.items()]
    if handle_signals:
        _install_signals(servers)
    tasks = [
        asyncio.create_task(server.serve(sockets=[sock]))
        for server, sock in zip(servers, sockets.values(), strict=True)
    ]
    while not all(server.started for server in servers) and not any(t.done() for t in tasks):
        await asyncio.sleep(0.01)
    if on_ready is not None and all(server.started for server in servers):
        on_ready({name: settings.url(name) for name in sockets})
    stopped = asyncio.ensure_future(stop.wait() if stop is not None else asyncio.Event().wait())
    await asyncio.wait([*tasks, stopped], return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks)
    for tracing in tracings:
        await asyncio.to_thread(tracing.shutdown)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run(settings: Settings, on_ready: Callable[[dict[str, str]], None] | None = None) -> None:
    """Bind every port (``BindError`` if one is taken), then serve until SIGINT/SIGTERM."""
    sockets = bind_sockets(settings)
    tune_collector()  # rare young passes: the upstreams too keep thousands of calls in flight
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(serve(settings, sockets, on_ready))
    finally:
        for sock in sockets.values():
            sock.close()
