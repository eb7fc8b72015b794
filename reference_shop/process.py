"""Run ``fakalab shop`` as a child process (end-to-end tests, benchmarks, drills).

Light to import. The child prints ``shop  URL`` once it listens; :meth:`ShopProcess.start`
waits for that line, and :meth:`ShopProcess.stop` sends SIGTERM (SIGKILL after a timeout).
:meth:`ShopProcess.kill` is the crash: SIGKILL, no clean-up; :meth:`ShopProcess.restart` brings
the shop back on the same address.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from fakalab.reference_shop.children import line_queue, terminate

__all__ = ["ShopProcess", "ShopProcessError"]



class ShopProcessError(RuntimeError):
    """The shop did not come up; the message carries its exit code and its log."""


class ShopProcess:
    def __init__(self, db_url: str, upstreams: dict[str, str], *, port: int = 0,
                 host: str = "127.0.0.1", admin_token: str = "fakalab-admin",
                 demo: bool = True, options: Sequence[str] = (),
                 log_path: Path | None = None, startup_timeout_s: float = 30.0) -> None:
        self.args = [sys.executable, "-m", "fakalab.reference_shop.cli", "--db", db_url,
                     "--host", host, "--port", str(port), "--admin-token", admin_token,
                     *(["--demo"] if demo else []), *options]
        for name, url in upstreams.items():
            self.args += ["--upstreams", f"{name}={url}"]
        self.admin_token = admin_token
        self.log_path = log_path
        self.startup_timeout_s = startup_timeout_s
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self._log = open(log_path, "a") if log_path else subprocess.DEVNULL  # noqa: SIM115

    def start(self) -> str:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # Its own process group: a terminal's Ctrl-C reaches only the harness, which stops the
        # shop in its own time (after removing faults and draining).
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self._log,
                                     text=True, env=env, process_group=0)
        lines = line_queue(self.proc)
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise ShopProcessError(f"shop not ready after {self.startup_timeout_s} s") from None
            if line is None:
                raise ShopProcessError(f"shop exited with {self.proc.wait()} "
                                       f"(see {self.log_path or 'its stderr'})")
            name, _, url = line.strip().partition(" ")
            if name == "shop":
                self.url = url.strip()
                return self.url

    def restart(self) -> str:
        """Start again (after a kill or a stop) on the same address and database."""
        port = self.url.rpartition(":")[2]
        if not port.isdigit():
            raise ShopProcessError("the shop has not started yet, so it has no address to reuse")
        self.args[self.args.index("--port") + 1] = port
        self.kill()
        return self.start()

    def kill(self) -> None:
        """SIGKILL: the crash a drill inflicts."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout_s: float = 15.0) -> int | None:
        return terminate(self.proc, timeout_s)

    def __enter__(self) -> ShopProcess:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
        if self._log is not subprocess.DEVNULL:
            self._log.close()  # type: ignore[union-attr]
