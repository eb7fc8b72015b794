"""Locust as a child process: headless, the open-loop locustfile, one or more processes.

``--processes N`` (Locust's own master + N forked workers) gives N generator processes sharing
the arrival rate. With ``remote`` generators the same master listens on ``bind`` (a fixed
``master_port``) and waits for ``processes`` local workers — a second child — and ``remote``
workers started on other hosts (`fakalab generator --master HOST:PORT`); every worker takes
one equal share of the arrivals and sends its records to the master (`locust/records.py`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from fakalab.scenarios.ports import free_port

__all__ = ["DEFAULT_MASTER_PORT", "LOCUSTFILE", "LoadgenError", "LocustRun", "check_listen",
           "read_summaries"]

LOCUSTFILE = Path(__file__).resolve().parent / "locust" / "locustfile.py"
DEFAULT_MASTER_PORT = 5557  # Locust's own
JOINED = re.compile(r"reported as ready\. (\d+) workers connected")


class LoadgenError(RuntimeError):
    """The load generator cannot start (one line a person can act on)."""


def check_listen(host: str, port: int, what: str) -> None:
    """Raise LoadgenError when `host:port` cannot be listened on right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                reason = "port already in use"
            elif exc.errno == errno.EADDRNOTAVAIL:
                reason = "not an address of this machine"
            else:
                reason = exc.strerror or str(exc)
            raise LoadgenError(f"cannot listen on {host}:{port} for {what}: {reason}") from None


def read_summaries(records: Path) -> list[dict[str, Any]]:
    """The generator processes' arrival summaries written so far (each rewritten every second)."""
    out = []
    for path in sorted(records.glob("arrivals-*.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # being rewritten right now
    return out


class LocustRun:
    def __init__(self, run_dir: Path, scenario_file: Path, host: str, duration_s: float,
                 processes: int = 1, extra: list[str] | None = None, remote: int = 0,
                 bind: str = "127.0.0.1", master_port: int = DEFAULT_MASTER_PORT,
                 join_wait_s: float = 120.0) -> None:
        self.dir = run_dir / "locust"
        self.records = self.dir / "records"
        self.processes = max(1, processes)
        self.remote, self.bind, self.join_wait_s = max(0, remote), bind, join_wait_s
        users = str(self.processes + self.remote)
        self.args = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
                     "-u", users, "-r", users, "-t", f"{math.ceil(duration_s)}s",
                     "--host", host, "--csv", str(self.dir / "locust"), "--only-summary",
                     "--exit-code-on-error", "0", "--stop-timeout", "1",
                     "--fakalab-scenario", str(scenario_file),
                     "--fakalab-records", str(self.records),
                     "--fakalab-processes", users, *(extra or [])]
        self.worker_args: list[str] = []
        if self.remote:
            self.port = master_port
            self.args += ["--master", "--expect-workers", users,
                          "--expect-workers-max-wait", str(math.ceil(join_wait_s)),
                          "--master-bind-host", bind, "--master-bind-port", str(master_port)]
            self.worker_args = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE),
                                "--worker", "--master-host", bind, "--master-port",
                                str(master_port)]
            if self.processes > 1:
                self.worker_args += ["--processes", str(self.processes)]
        elif self.processes > 1:
            # a free port on loopback, not Locust's fixed 5557 on every interface: two drills
            # at once must not collide, and nothing listens beyond 127.0.0.1
            self.port = free_port()
            self.args += ["--processes", users, "--master-bind-host", "127.0.0.1",
                          "--master-bind-port", str(self.port), "--master-port", str(self.port)]
        self.procs: list[subprocess.Popen[bytes]] = []
        self._log: IO[bytes] | None = None

    @property
    def master(self) -> str:
        """Where remote generators join: ``HOST:PORT``."""
        return f"[{self.bind}]:{self.port}" if ":" in self.bind else f"{self.bind}:{self.port}"

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.procs[0] if self.procs else None

    def start(self) -> None:
        if self.remote:
            check_listen(self.bind, self.port, "the Locust master (--master-port)")
        self.records.mkdir(parents=True, exist_ok=True)
        self._log = open(self.dir / "locust.log", "wb")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for args in (self.args, self.worker_args):
            if args:  # each in a session of its own: a terminal's Ctrl-C reaches the drill only
                self.procs.append(subprocess.Popen(args, stdout=self._log,
                                                   stderr=subprocess.STDOUT, env=env,
                                                   start_new_session=True))

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def wait_started(self, timeout_s: float = 30.0,
                     cancelled: Callable[[], bool] = lambda: False) -> float | None:
        """Epoch time the first generator started dispatching; None if Locust never did (or
        `cancelled()`). With remote generators the wait for them to join comes on top."""
        deadline = time.monotonic() + timeout_s + (self.join_wait_s if self.remote else 0.0)
        while time.monotonic() < deadline and self.exit_code() is None and not cancelled():
            starts = [s["started_at"] for s in read_summaries(self.records) if s.get("started_at")]
            if starts:
                return float(min(starts))
            time.sleep(0.1)
        return None

    def why_not_started(self) -> str:
        """One line on why `wait_started` gave up."""
        log = self.dir / "locust.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        if self.remote and "Gave up waiting for workers" in text:
            joined = JOINED.findall(text)
            total = self.processes + self.remote
            return (f"{joined[-1] if joined else 0} of {total} generators joined the master at "
                    f"{self.master} within {self.join_wait_s:g} s; on each other host run "
                    f"`fakalab generator --master {self.master}` (see {log})")
        return f"Locust did not start (see {log})"

    def summaries(self) -> list[dict[str, Any]]:
        return read_summaries(self.records)

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM to the master first (it collects the workers' last records and tells them to
        quit), then to each child's whole process group; SIGKILL if needed."""
        master = self.proc
        if master is not None and master.poll() is None:
            with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
                master.send_signal(signal.SIGTERM)
                master.wait(timeout_s)
        for proc in self.procs:
            _stop_group(proc, timeout_s)
        if self._log is not None:
            self._log.close()
            self._log = None


def _stop_group(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """The child's process group (a Locust master or worker parent and what it forked)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass  # the group is gone already
    else:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _group_alive(proc.pid):
            proc.poll()
            time.sleep(0.1)
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
