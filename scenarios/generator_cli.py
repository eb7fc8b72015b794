"""`fakalab generator --master HOST:PORT`: a load generator on another host joins a drill.

It waits until the drill's Locust master (`fakalab drill … --bind HOST --remote-generators N`)
accepts connections, then becomes a Locust worker (`locust --worker` with fakalab's locustfile,
in this process): the master sends it the scenario and its share of the arrivals, and it sends
its records back, so nothing of the run directory is needed here.
"""

from __future__ import annotations

import os
import socket
import sys
import time

import click

__all__ = ["generator", "parse_master", "wait_for_master"]


def parse_master(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``) as a pair; ValueError with a one-line reason."""
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--master {text}: expected HOST:PORT, e.g. 10.0.0.5:5557")
    return host, int(port)


def wait_for_master(host: str, port: int, wait_s: float, interval_s: float = 0.5) -> str | None:
    """None once `host:port` accepts a TCP connection; else why not, after `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=min(2.0, max(wait_s, 0.1))):
                return None
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
        if time.monotonic() >= deadline:
            return reason
        time.sleep(interval_s)


@click.command()
@click.option("--master", "master", required=True, metavar="HOST:PORT",
              help="The drill's Locust master: its --bind address and --master-port.")
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Generator processes on this host (each one of the drill's "
              "--remote-generators).")
@click.option("--name", default=None,
              help="This generator's name in run.json's load summaries (default: hostname).")
@click.option("--wait", "wait_s", type=click.FloatRange(0), default=120.0, show_default=True,
              help="Seconds to wait for the master to accept connections.")
def generator(master: str, processes: int, name: str | None, wait_s: float) -> None:
    """Join a drill's Locust master from this host and take a share of its arrivals."""
    from fakalab.scenarios.loadgen import LOCUSTFILE

    try:
        host, port = parse_master(master)
        why = wait_for_master(host, port, wait_s)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    if why is not None:
        click.echo(f"error: no drill master at {host}:{port} after {wait_s:g} s ({why}); start "
                   f"`fakalab drill … --bind {host} --remote-generators N` first, or check the "
                   f"address and any firewall between the hosts", err=True)
        sys.exit(2)
    args = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker",
            "--master-host", host, "--master-port", str(port)]
    args += ["--processes", str(processes)] if processes > 1 else []
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "FAKALAB_GENERATOR_NAME": name or socket.gethostname()}
    click.echo(f"joining the drill master at {host}:{port} with {processes} process(es)")
    sys.stdout.flush()
    os.execve(sys.executable, args, env)
