"""A second "host" on this machine for tests: a Linux network namespace joined by a veth pair.

`test_host()` creates namespace ``fakalab-<pid>-<n>`` with one end of a veth pair inside; the
two ends get the two addresses of a private /30 in 10.251.0.0/16 not used on this machine, so
traffic between this machine and the namespace stays on those addresses. On leaving the block —
also on an exception, Ctrl-C or SIGTERM — the processes in the namespace are killed, and the
namespace and the veth pair deleted. Namespaces left behind by a process that no longer runs
(SIGKILL) are swept before a new one is made. Needs root and the `ip` binary (iproute2);
`NetnsUnavailable` says why it cannot be made.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import FrameType

__all__ = ["NetnsHost", "NetnsUnavailable", "list_namespaces", "test_host", "unavailable"]

PREFIX = "fakalab-"
NAME = re.compile(rf"^{PREFIX}(\d+)-(\d+)$")
NETWORK = "10.251"  # addresses 10.251.a.b/30 for the pair


class NetnsUnavailable(RuntimeError):
    """A namespace cannot be created here (the message says why)."""


@dataclass(frozen=True)
class NetnsHost:
    name: str  # the namespace
    veth: str  # this machine's end of the pair
    address: str  # this machine's address on the pair
    peer_address: str  # the namespace's address

    def exec(self, argv: Sequence[str]) -> list[str]:
        """`argv` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]


def unavailable() -> str | None:
    """Why no namespace can be made here (None: worth trying)."""
    if shutil.which("ip") is None:
        return "no `ip` binary (iproute2) on PATH"
    if os.geteuid() != 0:
        return "network namespaces need root"
    return None


def _ip(*args: str, check: bool = True) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if check and done.returncode != 0:
        raise NetnsUnavailable(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def list_namespaces() -> list[str]:
    return [line.split()[0] for line in _ip("netns", "list", check=False).splitlines()
            if line.strip()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _delete(name: str, veth: str | None) -> None:
    """Kill what runs in `name`, delete it and the pair (deleting one end removes both)."""
    for pid in _ip("netns", "pids", name, check=False).split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    _ip("netns", "del", name, check=False)
    if veth is not None:
        _ip("link", "del", veth, check=False)


def _sweep() -> None:
    """Namespaces (and their pairs) of fakalab processes that are gone."""
    for name in list_namespaces():
        found = NAME.match(name)
        if found and not _alive(int(found.group(1))):
            _delete(name, _veth(int(found.group(1)), int(found.group(2))))


def _veth(pid: int, n: int) -> str:
    return f"fk{pid}x{n}"[:15]


def _free_subnet(rng: random.Random) -> tuple[str, str]:
    used = _ip("-o", "-4", "addr", "show", check=False)
    for _ in range(200):
        a, b = rng.randrange(256), rng.randrange(64) * 4
        if f" {NETWORK}.{a}." not in used:
            return f"{NETWORK}.{a}.{b + 1}", f"{NETWORK}.{a}.{b + 2}"
    raise NetnsUnavailable(f"no free /30 left in {NETWORK}.0.0/16")


_counter = iter(range(1, 1 << 30))


def _create() -> NetnsHost:
    why = unavailable()
    if why is not None:
        raise NetnsUnavailable(why)
    _sweep()
    pid, n = os.getpid(), next(_counter)
    name, veth, peer = f"{PREFIX}{pid}-{n}", _veth(pid, n), _veth(pid, n) + "p"
    peer = peer if len(peer) <= 15 else peer[-15:]
    mine, theirs = _free_subnet(random.Random())
    _ip("netns", "add", name)
    try:
        _ip("link", "add", veth, "type", "veth", "peer", "name", peer)
        _ip("link", "set", peer, "netns", name)
        _ip("addr", "add", f"{mine}/30", "dev", veth)
        _ip("link", "set", veth, "up")
        _ip("netns", "exec", name, "ip", "addr", "add", f"{theirs}/30", "dev", peer)
        _ip("netns", "exec", name, "ip", "link", "set", peer, "up")
        _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
    except BaseException:
        _delete(name, veth)
        raise
    return NetnsHost(name, veth, mine, theirs)


@contextlib.contextmanager
def test_host() -> Iterator[NetnsHost]:
    """A namespace for the block, always deleted afterwards (SIGTERM included)."""
    host = _create()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield host
    finally:
        _delete(host.name, host.veth)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


test_host.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
