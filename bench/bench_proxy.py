"""Throughput and added latency of the embedded Toxiproxy (no toxic) against a direct connection.

    .venv/bin/python bench/bench_proxy.py [--duration 3] [--connections 32] [--rounds 4]

Upstream: a bare FastAPI endpoint under uvicorn (one process). Proxy: `python -m chaos.server`
(its own process). Load: a separate process of keep-alive HTTP/1.1 connections on loopback,
bounded by a duration and a request count. Direct and proxied runs alternate in the same
invocation; the script prints requests/s of each, their ratio and the added latency (median of
sequential requests on one connection, and the median under load).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

APP = """
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
app = FastAPI()
@app.get("/", response_class=PlainTextResponse)
def hello() -> str:
    return "hello"
"""


class Client(asyncio.Protocol):
    """One keep-alive connection sending GET / back to back."""

    def __init__(self, stats: dict[str, Any], done: asyncio.Event, request: bytes) -> None:
        self.stats, self.done, self.request = stats, done, request
        self.buffer = b""
        self.sent = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self._send()

    def _send(self) -> None:
        if self.done.is_set():
            self.transport.close()
            return
        self.sent = time.perf_counter()
        self.transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
        if len(self.buffer) < end + 4 + length:
            return
        self.buffer = self.buffer[end + 4 + length:]
        self.stats["latencies"].append(time.perf_counter() - self.sent)
        self.stats["count"] += 1
        if self.stats["count"] >= self.stats["max"]:
            self.done.set()
        self._send()


async def load(port: int, connections: int, duration: float, max_requests: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stats: dict[str, Any] = {"count": 0, "latencies": [], "max": max_requests}
    done = asyncio.Event()
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    for _ in range(connections):
        await loop.create_connection(lambda: Client(stats, done, request), "127.0.0.1", port)
    start = time.perf_counter()
    try:
        await asyncio.wait_for(done.wait(), duration)
    except TimeoutError:
        done.set()
    elapsed = time.perf_counter() - start
    latencies = stats["latencies"]
    return {"requests": stats["count"], "seconds": elapsed, "rps": stats["count"] / elapsed,
            "median_ms": statistics.median(latencies) * 1000 if latencies else None}


async def sequential(port: int, count: int) -> float:
    """Median latency (ms) of `count` requests, one at a time, on one connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        samples.append(time.perf_counter() - start)
    writer.close()
    return statistics.median(samples) * 1000


def run_load(args: argparse.Namespace) -> None:
    import uvloop

    port = int(args.load)
    if args.wrk:
        result = wrk_load(port, args)
    else:
        result = uvloop.run(load(port, args.connections, args.duration, args.max_requests))
    result["sequential_median_ms"] = uvloop.run(sequential(port, 1000))
    print(json.dumps(result))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


WRK_SCRIPT = """
local n = 0
local max = tonumber(os.getenv("BENCH_MAX_REQUESTS"))
response = function(status, headers, body)
  n = n + 1
  if n >= max then wrk.thread:stop() end
end
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def measure(port: int, args: argparse.Namespace) -> dict[str, Any]:
    """One bounded load run from a separate process (wrk when chosen, else Python)."""
    command = [sys.executable, __file__, "--load", str(port), "--connections",
               str(args.connections), "--duration", str(args.duration),
               "--max-requests", str(args.max_requests)]
    if args.tool == "wrk":
        command += ["--wrk"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def wrk_load(port: int, args: argparse.Namespace) -> dict[str, Any]:
    script = Path(tempfile.mkdtemp(prefix="fakalab-wrk-")) / "limit.lua"
    script.write_text(WRK_SCRIPT)
    env = {"BENCH_MAX_REQUESTS": str(args.max_requests), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        ["wrk", "-t1", f"-c{args.connections}", f"-d{args.duration:g}s", "--latency", "-s",
         str(script), f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True, timeout=args.duration + 30, env=env)
    shutil.rmtree(script.parent, ignore_errors=True)
    requests = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", out.stdout).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))  # type: ignore[union-attr]
    median = re.search(r"50%\s+([\d.]+)(us|ms|s)", out.stdout)
    median_ms = float(median.group(1)) * _UNITS[median.group(2)] if median else None
    return {"requests": requests, "seconds": requests / rps if rps else 0.0, "rps": rps,
            "median_ms": median_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=4, help="direct/proxied pairs")
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap per measurement")
    parser.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto",
                        help="load generator: wrk when installed (auto), else Python/uvloop")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--wrk", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        run_load(args)
        return
    if args.tool == "auto":
        args.tool = "wrk" if shutil.which("wrk") else "python"
    print(f"load generator: {args.tool}, {args.connections} connections, "
          f"{args.duration:g} s or {args.max_requests} requests per run")
    from fakalab.chaos.client import ToxiproxyClient
    from fakalab.chaos.server import ToxiproxySubprocess

    app_dir = Path(tempfile.mkdtemp(prefix="fakalab-bench-"))
    (app_dir / "_hello_app.py").write_text(APP)
    upstream_port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "_hello_app:app", "--port", str(upstream_port),
         "--log-level", "warning", "--no-access-log", "--app-dir", str(app_dir)])
    proxy_server = ToxiproxySubprocess()
    try:
        wait_for_port(upstream_port)
        client = ToxiproxyClient(proxy_server.start())
        listen = client.create_proxy("bench", f"127.0.0.1:{upstream_port}")["listen"]
        proxy_port = int(listen.rsplit(":", 1)[1])
        assert proxy_server.process is not None
        report(upstream_port, proxy_port, args, proxy_server.process.pid)
    finally:
        proxy_server.stop()
        upstream.terminate()
        upstream.wait(10)
        shutil.rmtree(app_dir, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def report(direct_port: int, proxy_port: int, args: argparse.Namespace, proxy_pid: int) -> None:
    measure(direct_port, argparse.Namespace(**{**vars(args), "duration": 1.0}))  # warm-up
    runs: dict[str, list[dict[str, Any]]] = {"direct": [], "proxied": []}
    proxy_cpu, proxied_requests = 0.0, 0
    for _ in range(args.rounds):
        for name, port in (("direct", direct_port), ("proxied", proxy_port)):
            cpu_before = cpu_seconds(proxy_pid)
            result = measure(port, args)
            if name == "proxied":
                proxy_cpu += cpu_seconds(proxy_pid) - cpu_before
                proxied_requests += result["requests"] + 1000
            runs[name].append(result)
            print(f"{name:8s} {result['rps']:8.0f} req/s  median under load "
                  f"{result['median_ms']:.2f} ms  sequential {result['sequential_median_ms']:.3f}"
                  f" ms  ({result['requests']} requests in {result['seconds']:.1f} s)")
    direct = statistics.mean(r["rps"] for r in runs["direct"])
    proxied = statistics.mean(r["rps"] for r in runs["proxied"])
    pair_ratios = [p["rps"] / d["rps"] for d, p in zip(runs["direct"], runs["proxied"],
                                                        strict=True)]
    added = statistics.mean(r["sequential_median_ms"] for r in runs["proxied"]) - statistics.mean(
        r["sequential_median_ms"] for r in runs["direct"])
    print(f"throughput: direct {direct:.0f} req/s, proxied {proxied:.0f} req/s, "
          f"ratio {proxied / direct:.3f} (proxy costs {100 * (1 - proxied / direct):.1f}%)")
    print(f"median of per-round ratios: {statistics.median(pair_ratios):.3f} "
          f"({', '.join(f'{r:.2f}' for r in pair_ratios)})")
    print(f"added latency (median, sequential requests on one connection): {added * 1000:.0f} µs")
    print(f"proxy CPU per proxied request: {proxy_cpu / proxied_requests * 1e6:.1f} µs "
          f"({proxy_cpu:.2f} s for {proxied_requests} requests)")


if __name__ == "__main__":
    main()
