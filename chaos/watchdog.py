"""The rollback guard: a detached process that removes a drill's faults if the runner dies.

`spawn(spec)` starts `python -m fakalab.chaos.watchdog` in its own session (so a terminal's
Ctrl-C does not reach it), giving it the spec on stdin. It acts once, then exits:

- as soon as the runner's process is gone (its parent pid changes) — at once, while the drill's
  processes are still the ones the faults were put on, never minutes later when the ports and
  proxy names may belong to the next drill;
- or at `deadline` (epoch seconds) if the runner is still alive but hung.

It removes every toxic it was given (named after the run's tag, so never another run's),
re-enables every proxy, and resets every upstream whose `/healthz` still reports the instance
the faults were put on (and withdraws the announcements on its status page). A runner that
finishes cleanly dismisses it with `cancel()` (SIGTERM).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from fakalab.chaos.client import ToxiproxyClient, ToxiproxyError

__all__ = ["WatchdogSpec", "cancel", "instance_of", "main", "restore", "spawn", "spec_for",
           "wait_for_cause"]

POLL_S = 0.2


@dataclass(frozen=True)
class WatchdogSpec:
    deadline: float
    toxiproxy_url: str | None
    toxics: list[tuple[str, str]] = field(default_factory=list)  # (proxy, toxic name)
    proxies: list[str] = field(default_factory=list)  # proxies to re-enable
    admin_urls: list[str] = field(default_factory=list)  # upstreams whose faults to reset
    runner_pid: int | None = None  # act as soon as this process is gone
    instances: dict[str, str] = field(default_factory=dict)  # admin URL -> instance seen
    announcers: list[str] = field(default_factory=list)  # upstreams whose announcements to withdraw


def instance_of(admin_url: str, timeout_s: float = 2.0) -> str | None:
    """The `instance` an upstream's `/healthz` reports (None when it reports none)."""
    try:
        found = httpx.get(f"{admin_url}/healthz", timeout=timeout_s).json().get("instance")
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return str(found) if found else None


def spec_for(plan: Any, toxiproxy_url: str | None, admin_urls: Mapping[str, str],
             deadline: float, toxic_names: Callable[[Any], str],
             instances: Mapping[str, str] | None = None) -> WatchdogSpec:
    """What the watchdog must undo for `plan` (a chaos.plan.Plan), on behalf of this process."""
    toxics = [(f.proxy, toxic_names(f)) for f in plan.faults if f.fault.kind == "toxic"]
    proxies = sorted({f.proxy for f in plan.faults if f.fault.kind == "down"})
    services = sorted({f.service for f in plan.faults
                       if f.fault.kind == "business" and not f.false_alarm})
    urls = [admin_urls[s] for s in services if s in admin_urls]
    speakers = sorted({f.service for f in plan.faults if f.announced})
    announcers = [admin_urls[s] for s in speakers if s in admin_urls]
    return WatchdogSpec(deadline, toxiproxy_url, toxics, proxies, urls, os.getpid(),
                        {u: v for u, v in (instances or {}).items()
                         if u in urls or u in announcers}, announcers)


def spawn(spec: WatchdogSpec) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "fakalab.chaos.watchdog"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(asdict(spec)).encode())
    process.stdin.close()
    return process


def cancel(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)


def restore(spec: WatchdogSpec) -> list[str]:
    """Undo everything the spec lists; return what could not be undone."""
    failures: list[str] = []
    if spec.toxiproxy_url and (spec.toxics or spec.proxies):
        client = ToxiproxyClient(spec.toxiproxy_url)
        for proxy, name in spec.toxics:
            try:
                client.remove_toxic(proxy, name)
            except ToxiproxyError as exc:
                if exc.status != 404:
                    failures.append(str(exc))
        for proxy in spec.proxies:
            try:
                client.set_enabled(proxy, True)
            except ToxiproxyError as exc:
                if exc.status != 404:  # the proxy is gone, and its state with it
                    failures.append(str(exc))
    for url in spec.admin_urls:
        expected = spec.instances.get(url)
        if expected is not None and instance_of(url) != expected:
            continue  # not the process the fault was put on (restarted, or another stack's)
        try:
            httpx.delete(f"{url}/admin/faults", timeout=5).raise_for_status()
        except httpx.HTTPError as exc:
            failures.append(f"{url}: {exc}")
    for url in spec.announcers:
        expected = spec.instances.get(url)
        if expected is not None and instance_of(url) != expected:
            continue
        try:
            httpx.delete(f"{url}/admin/status", timeout=5).raise_for_status()
        except httpx.HTTPError as exc:
            failures.append(f"{url}: {exc}")
    return failures


def wait_for_cause(spec: WatchdogSpec, parent: Callable[[], int] = os.getppid,
                   clock: Callable[[], float] = time.time,
                   sleep: Callable[[float], None] = time.sleep) -> str:
    """Block until the runner is gone ("runner gone") or the deadline passes ("deadline")."""
    while clock() < spec.deadline:
        if spec.runner_pid is not None and parent() != spec.runner_pid:
            return "runner gone"
        sleep(min(POLL_S, max(0.0, spec.deadline - clock())))
    return "deadline"


def main() -> int:
    raw = json.loads(sys.stdin.read())
    spec = WatchdogSpec(raw["deadline"], raw["toxiproxy_url"], [tuple(t) for t in raw["toxics"]],
                        raw["proxies"], raw["admin_urls"], raw.get("runner_pid"),
                        raw.get("instances") or {}, raw.get("announcers") or [])
    wait_for_cause(spec)
    return 1 if restore(spec) else 0


if __name__ == "__main__":
    sys.exit(main())
