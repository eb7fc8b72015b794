"""The drill stack as the plan's process control: a kill the plan ordered is never reported as
a crash, whatever the interleaving of the plan's thread and the drill's watch.

Regression: `chaos-monkey` seed 16 once ended with "a process of the stack died: risk (exit -9)".
`dead_children` took the killed process from the process table; while it polled the processes
before it (`poll()` releases the GIL), the restart in the plan's thread swapped in the new process
and cleared the "down on purpose" mark; `dead_children` then found the old, killed process with
no mark: "dead on its own". The first test fails on that code (about once per 150 restarts).
A restart that failed cleared the mark too, so the real reason was lost behind the same message.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from fakalab.scenarios.stack import Stack, StackError


class _Child:
    """Stands in for an UpstreamsProcess: a real child process, cheap to start."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                     text=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def stack(tmp_path: Path) -> Any:
    made: list[_Child] = []

    def spawn(name: str) -> _Child:
        child = _Child()
        made.append(child)
        return child

    s = Stack(tmp_path, {})
    s._spawn_isolated = spawn  # type: ignore[method-assign,assignment]
    s.isolated["risk"] = spawn("risk")  # type: ignore[assignment]
    # The shared upstreams process is polled first: poll() releases the GIL, the window in
    # which the plan's thread used to finish a restart.
    s.upstreams = spawn("upstreams")  # type: ignore[assignment]
    yield s
    for child in made:
        child.stop()


def test_kills_and_restarts_are_never_seen_as_crashes(stack: Stack) -> None:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: widen every window
    seen: list[str] = []
    done = threading.Event()

    def plan() -> None:
        try:
            for _ in range(300):
                stack.kill("risk")
                stack.restart("risk")
        finally:
            done.set()

    thread = threading.Thread(target=plan)
    try:
        thread.start()
        while not done.is_set():
            seen += stack.dead_children()
    finally:
        thread.join()
        sys.setswitchinterval(interval)
    assert seen == []
    assert stack.dead_children() == []


def test_a_restart_that_fails_is_reported_with_its_reason(stack: Stack) -> None:
    def fail(name: str) -> Any:
        raise StackError(f"upstream {name}: port already in use")

    stack.kill("risk")
    assert stack.dead_children() == []  # down on purpose
    stack._spawn_isolated = fail  # type: ignore[method-assign,assignment]
    with pytest.raises(StackError, match="risk did not restart"):
        stack.restart("risk")
    assert stack.dead_children() == [
        "risk (did not restart: upstream risk: port already in use)"]


def test_a_process_that_dies_unasked_is_reported(stack: Stack) -> None:
    stack.isolated["risk"].proc.kill()
    stack.isolated["risk"].proc.wait()
    assert stack.dead_children() == ["risk (exit -9)"]


def test_a_subscribing_shop_reads_status_pages_past_the_proxies(tmp_path: Path) -> None:
    assert Stack(tmp_path, {})._signal_args() == []
    urls = {"payment-a": "http://127.0.0.1:9101"}
    s = Stack(tmp_path, {"provider_signals": True}, upstream_urls=urls)
    assert s._signal_args() == [
        "--set", 'provider_status_urls={"payment-a": "http://127.0.0.1:9101"}',
        "--set", f"provider_signals_log={tmp_path / 'provider_signals.csv'}"]
