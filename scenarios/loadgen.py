"""Locust as a child process: headless, the open-loop locustfile, one or more processes.

``--processes N`` (Locust's own master + N forked workers, the same mode that spreads load over
machines with ``--master``/``--worker``) gives N generator processes sharing the arrival rate.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from fakalab.scenarios.ports import free_port

__all__ = ["LocustRun", "read_summaries"]

LOCUSTFILE = Path(__file__).resolve().parent / "locust" / "locustfile.py"


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
                 processes: int = 1, extra: list[str] | None = None) -> None:
        self.dir = run_dir / "locust"
        self.records = self.dir / "records"
        self.processes = max(1, processes)
        users = str(self.processes)
        self.args = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
                     "-u", users, "-r", users, "-t", f"{math.ceil(duration_s)}s",
                     "--host", host, "--csv", str(self.dir / "locust"), "--only-summary",
                     "--exit-code-on-error", "0", "--stop-timeout", "1",
                     "--fakalab-scenario", str(scenario_file),
                     "--fakalab-records", str(self.records),
                     "--fakalab-processes", users, *(extra or [])]
        if self.processes > 1:
            # a free port on loopback, not Locust's fixed 5557 on every interface: two drills
            # at once must not collide, and nothing listens beyond 127.0.0.1
            port = str(free_port())
            self.args += ["--processes", users, "--master-bind-host", "127.0.0.1",
                          "--master-bind-port", port, "--master-port", port]
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self.records.mkdir(parents=True, exist_ok=True)
        self._log = open(self.dir / "locust.log", "wb")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def wait_started(self, timeout_s: float = 30.0) -> float | None:
        """Epoch time the first generator started dispatching; None if Locust never did."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.exit_code() is None:
            starts = [s["started_at"] for s in read_summaries(self.records) if s.get("started_at")]
            if starts:
                return float(min(starts))
            time.sleep(0.1)
        return None

    def summaries(self) -> list[dict[str, Any]]:
        return read_summaries(self.records)

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM to Locust's whole process group (master and workers), SIGKILL if needed."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None
