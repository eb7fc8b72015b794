"""Run ``fakalab upstreams`` as a child process (for tests, benchmarks and drills).

Light to import (no web framework). Typical use::

    with UpstreamsProcess(only=["payment-a", "notify"]) as ups:
        httpx.get(ups.urls["payment-a"] + "/healthz")
"""

from __future__ import annotations

import os
import queue
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from fakalab.contract.services import DEFAULT_HOST, PORTS, SERVICES
from fakalab.reference_shop.children import line_queue, terminate

__all__ = ["DEFAULT_COMMAND", "UpstreamsError", "UpstreamsProcess", "find_port_base"]

DEFAULT_COMMAND: tuple[str, ...] = (sys.executable, "-m", "fakalab.reference_shop.upstreams.cli")
PORT_IN_USE_EXIT = 2


class UpstreamsError(RuntimeError):
    """The child did not come up; the message carries its exit code and stderr."""


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def find_port_base(host: str = DEFAULT_HOST, attempts: int = 200) -> int:
    """A port base whose six service ports are free right now (a race remains; callers retry)."""
    rng = random.Random()
    span = max(PORTS.values())
    for _ in range(attempts):
        base = rng.randrange(15000, 32000)  # below Linux's ephemeral range (32768-60999)
        if all(_port_free(host, base + offset) for offset in range(1, span + 1)):
            return base
    raise UpstreamsError(f"no free block of {span} ports found on {host}")


class UpstreamsProcess:
    """``fakalab upstreams`` in a child process; ``start`` returns once every service listens.

    With ``port_base=None`` a free block is chosen, and chosen again if the child finds a port
    taken in the meantime.
    """

    def __init__(
        self,
        port_base: int | None = None,
        *,
        host: str = DEFAULT_HOST,
        only: Sequence[str] | None = None,
        seed: int = 0,
        secret_a: str | None = None,
        secret_b: str | None = None,
        log_level: str = "warning",
        command: Sequence[str] = DEFAULT_COMMAND,
        startup_timeout_s: float = 30.0,
        env: dict[str, str] | None = None,
        state_dir: Path | None = None,
        traces: Path | None = None,
        otlp_endpoint: str | None = None,
    ) -> None:
        self.port_base = port_base
        self.host = host
        self.only = list(only) if only else list(SERVICES)
        self.options = ["--seed", str(seed), "--log-level", log_level]
        self.options += ["--secret-a", secret_a] if secret_a else []
        self.options += ["--secret-b", secret_b] if secret_b else []
        self.options += ["--state-dir", str(state_dir)] if state_dir else []
        self.options += ["--traces", str(traces)] if traces else []
        self.options += ["--otlp-endpoint", otlp_endpoint] if otlp_endpoint else []
        self.command = list(command)
        self.startup_timeout_s = startup_timeout_s
        self.env = env
        self.urls: dict[str, str] = {}
        self.proc: subprocess.Popen[str] | None = None
        # Lives as long as this object; closed in __exit__.
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115

    def args(self, port_base: int) -> list[str]:
        where = ["--host", self.host, "--port-base", str(port_base), "--only", ",".join(self.only)]
        return [*self.command, *where, *self.options]

    def start(self) -> dict[str, str]:
        """Start the child and wait for its ``name  url`` lines; returns ``{name: url}``."""
        for _ in range(1 if self.port_base is not None else 5):
            base = self.port_base if self.port_base is not None else find_port_base(self.host)
            code = self._launch(base)
            if code is None:
                self.port_base = base
                return self.urls
            if code != PORT_IN_USE_EXIT or self.port_base is not None:
                break
        raise UpstreamsError(f"fakalab upstreams exited with {code}: {self.stderr().strip()}")

    def _launch(self, port_base: int) -> int | None:
        """None once ready; the exit code when the child ended first."""
        self._stderr.seek(0)
        self._stderr.truncate()
        env = {**os.environ, **(self.env or {}), "PYTHONUNBUFFERED": "1"}
        # Its own process group: a terminal's Ctrl-C reaches only the harness, which undoes the
        # business faults through these services before it stops them.
        self.proc = subprocess.Popen(
            self.args(port_base), stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env,
            process_group=0,
        )
        lines = line_queue(self.proc)
        deadline = time.monotonic() + self.startup_timeout_s
        self.urls = {}
        while len(self.urls) < len(self.only):
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                waited = self.startup_timeout_s
                raise UpstreamsError(f"upstreams not ready after {waited} s") from None
            if line is None:
                return self.proc.wait()
            parts = line.split()
            if len(parts) == 2 and parts[0] in PORTS:
                self.urls[parts[0]] = parts[1]
        return None

    def stderr(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read()

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit code."""
        return terminate(self.proc, timeout_s)

    def __enter__(self) -> UpstreamsProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._stderr.close()
