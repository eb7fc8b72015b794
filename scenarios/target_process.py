"""One command of an external target as a child process: in a session (and process group) of
its own, so a terminal's Ctrl-C reaches only the drill, which stops it in its own time; output
into a log file; ready when its check passes; stopped by signalling its whole group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

__all__ = ["Check", "TargetProcess", "TargetProcessError", "check_once", "wait_until"]


class TargetProcessError(RuntimeError):
    """A command did not start or did not become ready; the message says which and why."""


@dataclass(frozen=True)
class Check:
    """A readiness check with its templates filled in: a GET of `url` answers below 500, or
    `tcp` (host:port) accepts a connection."""

    url: str | None
    tcp: str | None
    timeout_s: float

    @property
    def what(self) -> str:
        return self.url or f"tcp {self.tcp}"


def check_once(check: Check) -> str | None:
    """None when the check passes now, else what went wrong (one line)."""
    if check.url is not None:
        try:
            status = httpx.get(check.url, timeout=2.0, follow_redirects=False,
                               trust_env=False).status_code
        except httpx.HTTPError as exc:
            return _reason(exc)
        return None if status < 500 else f"HTTP {status}"
    assert check.tcp is not None
    host, _, port = check.tcp.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=2.0):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc)
    if "refused" in text.lower() or isinstance(exc, httpx.ConnectError):
        return "connection refused" if "refused" in text.lower() else f"cannot connect: {text}"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    return f"{type(exc).__name__}: {text}"


def wait_until(check: Check, gone: Callable[[], str | None], abort: Callable[[], bool],
               sleep: Callable[[float], None] = time.sleep) -> str | None:
    """Poll `check` every 0.1 s until it passes (None), the process is `gone()` (its reason),
    the drill is aborting, or the check's time is up (the last problem seen, and for how
    long)."""
    deadline = time.monotonic() + check.timeout_s
    problem = "not checked yet"
    while time.monotonic() < deadline:
        if abort():
            return "the drill was interrupted"
        died = gone()
        if died:
            return died
        found = check_once(check)
        if found is None:
            return None
        problem = found
        sleep(0.1)
    return f"{problem} (for {check.timeout_s:g} s: {check.what})"


class TargetProcess:
    def __init__(self, name: str, args: list[str], cwd: Path, env: dict[str, str],
                 log_path: Path, ready: Check | None, stop_timeout_s: float) -> None:
        self.name, self.args, self.cwd, self.env = name, args, cwd, env
        self.log_path, self.ready, self.stop_timeout_s = log_path, ready, stop_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def launch(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        try:
            self.proc = subprocess.Popen(self.args, cwd=self.cwd, env={**os.environ, **self.env},
                                         stdin=subprocess.DEVNULL, stdout=self._log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            self._log.close()
            raise TargetProcessError(f"{self.name}: cannot run {self.args[0]!r}: "
                                     f"{exc.strerror or exc}") from None

    def start(self, abort: Callable[[], bool]) -> None:
        """Launch and wait until ready (raises TargetProcessError, with the process stopped)."""
        self.launch()
        if self.ready is None:
            return
        problem = wait_until(self.ready, self.exited, abort)
        if problem is not None:
            self.stop()
            raise TargetProcessError(f"{self.name}: not ready: {problem}{self._tail()}")

    def run_to_end(self, timeout_s: float) -> None:
        """A setup step: run it and wait for its exit (0, or TargetProcessError)."""
        self.launch()
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.stop()
            raise TargetProcessError(f"{self.name}: still running after {timeout_s:g} s"
                                     f"{self._tail()}") from None
        finally:
            self._close_log()
        if code != 0:
            raise TargetProcessError(f"{self.name}: exited with {code}{self._tail()}")

    def exited(self) -> str | None:
        """Why the process is not running (None while it is)."""
        if self.proc is None:
            return "not started"
        code = self.proc.poll()
        return None if code is None else f"exited with {code} before it was ready"

    def _tail(self) -> str:
        try:
            lines = [line for line in self.log_path.read_text(errors="replace").splitlines()
                     if line.strip()]
        except OSError:
            lines = []
        last = f": {lines[-1].strip()[:200]}" if lines else ""
        return f" (logs/{self.log_path.name}{last})"

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL to the whole group: a crash."""
        self._signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL after stop_timeout; the log closed."""
        if self.proc is not None and self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait()
        if self.proc is not None:  # what the leader left behind in its group (a shell's children)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
