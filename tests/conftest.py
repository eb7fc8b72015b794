"""Fixtures every part's tests share: a private PostgreSQL cluster for the session."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bindir() -> Path | None:
    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True):
        return Path(initdb).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A private PostgreSQL cluster on a free port, for the session: its base URL
    (``postgresql://fakalab@127.0.0.1:PORT``, trust authentication) with a database ``shop``.
    Skipped when the server binaries (initdb, pg_ctl) are not installed."""
    bindir = postgres_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        pytest.skip("the PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    as_owner: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="fakalab-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root: the cluster belongs to "postgres"
        if shutil.which("runuser") is None or subprocess.run(
                ["id", "postgres"], capture_output=True).returncode != 0:
            pytest.skip("running as root, and there is no postgres user to own the cluster")
        shutil.chown(root, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()

    def pg(*args: str) -> None:
        subprocess.run([*as_owner, *args], check=True, capture_output=True, timeout=120)

    pg(str(bindir / "initdb"), "-D", str(data), "-U", "fakalab", "--auth=trust", "-E", "UTF8",
       "--no-sync")
    pg(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-o",
       f"-p {port} -h 127.0.0.1 -k {root} -c fsync=off -c full_page_writes=off", "start")
    try:
        pg(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "fakalab",
           "shop")
        yield f"postgresql://fakalab@127.0.0.1:{port}"
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            pg(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_database(postgres: str) -> str:
    """A fresh, empty database in the session's cluster: its URL."""
    name = f"t{os.getpid()}_{time.monotonic_ns()}"
    port = postgres.rpartition(":")[2]
    bindir = postgres_bindir()
    assert bindir is not None
    subprocess.run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", port, "-U", "fakalab",
                    name], check=True, capture_output=True, timeout=60)
    return f"{postgres}/{name}"




def create_database(postgres: str, name: str) -> str:
    """A new, empty database in the session's cluster: its URL."""
    bindir = postgres_bindir()
    assert bindir is not None
    subprocess.run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p",
                    postgres.rpartition(":")[2], "-U", "fakalab", name], check=True,
                   capture_output=True, timeout=60)
    return f"{postgres}/{name}"
