"""The rollback deadline: a detached process that removes a drill's faults if the runner dies.

`spawn(spec)` starts `python -m chaos.watchdog` in its own session (so Ctrl-C to the runner does
not reach it), giving it the spec on stdin. At `deadline` (epoch seconds) it removes every toxic,
re-enables every proxy and resets every upstream service listed, then exits. A runner that finishes
cleanly cancels it with `cancel()` (SIGTERM).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["WatchdogSpec", "cancel", "main", "restore", "spawn", "spec_for"]


@dataclass(frozen=True)
class WatchdogSpec:
    deadline: float
    toxiproxy_url: str | None
    toxics: list[tuple[str, str]] = field(default_factory=list)  # (proxy, toxic name)
    proxies: list[str] = field(default_factory=list)  # proxies to re-enable
    admin_urls: list[str] = field(default_factory=list)  # upstreams whose faults to reset


def spec_for(plan: Any, toxiproxy_url: str | None, admin_urls: Mapping[str, str],
             deadline: float) -> WatchdogSpec:
    """What the watchdog must undo for `plan` (a chaos.plan.Plan)."""
    from fakalab.chaos.faults import toxic_name

    toxics = [(f.proxy, toxic_name(f)) for f in plan.faults if f.fault.kind == "toxic"]
    proxies = sorted({f.proxy for f in plan.faults if f.fault.kind == "down"})
    services = sorted({f.service for f in plan.faults if f.fault.kind == "business"})
    return WatchdogSpec(deadline, toxiproxy_url, toxics, proxies,
                        [admin_urls[s] for s in services if s in admin_urls])


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
    import httpx

    from fakalab.chaos.client import ToxiproxyClient, ToxiproxyError

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
                failures.append(str(exc))
    for url in spec.admin_urls:
        try:
            httpx.delete(f"{url}/admin/faults", timeout=5).raise_for_status()
        except httpx.HTTPError as exc:
            failures.append(f"{url}: {exc}")
    return failures


def main() -> int:
    raw = json.loads(sys.stdin.read())
    spec = WatchdogSpec(raw["deadline"], raw["toxiproxy_url"], [tuple(t) for t in raw["toxics"]],
                        raw["proxies"], raw["admin_urls"])
    while (left := spec.deadline - time.time()) > 0:
        time.sleep(min(left, 1.0))
    return 1 if restore(spec) else 0


if __name__ == "__main__":
    sys.exit(main())
