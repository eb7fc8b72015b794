"""The embedded Toxiproxy-compatible server: start it in-process, in a thread or as a subprocess.

    server = EmbeddedToxiproxy("127.0.0.1", 0)
    await server.start()          # server.url -> "http://127.0.0.1:41234"
    ...
    await server.stop()

    with ToxiproxyThread() as url: ...            # its own event loop, in a daemon thread
    with ToxiproxySubprocess() as url: ...        # `python -m chaos.server`, its own process
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any

from fakalab.chaos.api import ApiHandler
from fakalab.chaos.proxy import ProxyCollection
from fakalab.chaos.toxics import ApiError

__all__ = [
    "EmbeddedToxiproxy",
    "ToxiproxySubprocess",
    "ToxiproxyThread",
    "install_uvloop",
    "load_config",
]


def install_uvloop() -> bool:
    """Use uvloop's event loop policy when uvloop is importable."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def load_config(path: str | Path) -> list[dict[str, Any]]:
    """Read a proxies file in the `/populate` shape (a JSON list of proxies)."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of proxies, got {type(data).__name__}")
    return data


class EmbeddedToxiproxy:
    """The API server and its proxies, on the running event loop."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8474, metrics: bool = False) -> None:
        self.host = host
        self.port = port
        self.proxies = ProxyCollection()
        self.handler = ApiHandler(self.proxies, metrics=metrics)
        self._server: asyncio.AbstractServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self, config: list[dict[str, Any]] | None = None) -> None:
        """Listen for the API (OSError when the port is taken), then create `config`'s proxies."""
        self._server = await asyncio.start_server(self.handler.serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        if config:
            _, error = await self.proxies.populate(config)
            if error is not None:
                await self.stop()
                raise error

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        await self.handler.close_sessions()
        await self.proxies.close()

    async def __aenter__(self) -> EmbeddedToxiproxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class ToxiproxyThread:
    """An EmbeddedToxiproxy on its own event loop in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, metrics: bool = False) -> None:
        self.server = EmbeddedToxiproxy(host, port, metrics)
        self.loop = new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return self.server.url

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self, config: list[dict[str, Any]] | None = None) -> str:
        self._thread.start()
        self.call(self.server.start(config))
        return self.url

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ToxiproxySubprocess:
    """`python -m chaos.server` in a child process; `url` once it printed its address."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, metrics: bool = False) -> None:
        self.args = [sys.executable, "-m", "fakalab.chaos.server", "--host", host,
                     "--port", str(port)]
        if metrics:
            self.args.append("--metrics")
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, timeout: float = 20.0) -> str:
        # Its own process group: a terminal's Ctrl-C reaches only the harness, which removes
        # its faults through this server before stopping it.
        self.process = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, text=True, process_group=0,
            env=os.environ | {"PYTHONUNBUFFERED": "1"})
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()  # the server's first line is its URL
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"embedded toxiproxy did not start: {line!r}")
        self.url = line
        return self.url

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def serve_until_signalled(server: EmbeddedToxiproxy, config: list[dict[str, Any]]) -> None:
    """Start, print the URL, then serve until SIGINT or SIGTERM."""
    import signal

    await server.start(config)
    print(server.url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def run(host: str, port: int, config: list[dict[str, Any]], metrics: bool = False) -> None:
    """Blocking entry used by `fakalab toxiproxy` and `python -m chaos.server`."""
    install_uvloop()
    asyncio.run(serve_until_signalled(EmbeddedToxiproxy(host, port, metrics), config))


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m chaos.server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8474)
    parser.add_argument("--config")
    parser.add_argument("--metrics", action="store_true")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config) if args.config else []
        run(args.host, args.port, config, args.metrics)
    except (OSError, ValueError, ApiError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
