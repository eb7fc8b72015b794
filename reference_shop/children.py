"""Helpers shared by the classes that run a fakalab service as a child process (light import)."""

from __future__ import annotations

import queue
import signal
import subprocess
import threading

__all__ = ["line_queue", "terminate"]


def terminate(proc: subprocess.Popen[str] | None, timeout_s: float = 15.0) -> int | None:
    """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit code (None: never started)."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def line_queue(proc: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """The child's stdout lines, read by a daemon thread; None marks the end."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines
