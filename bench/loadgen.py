"""A lean closed-loop HTTP/1.1 load generator for benchmarks (loopback only, bounded in time).

Run as its own process so that it does not share the server's core:

    python bench/loadgen.py --url http://127.0.0.1:8000/healthz --connections 32 --duration 5

Each connection sends GET requests with keep-alive back to back; ``--targets FILE`` gives a JSON
list of ``[path, {header: value}]`` pairs used round robin (e.g. one per order with its token).
Prints one JSON line: requests, errors, duration_s, rps, p50_ms, p99_ms.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from urllib.parse import urlsplit


async def _connection(host: str, port: int, requests: list[bytes], stop_at: float,
                      latencies: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    cycle = itertools.cycle(requests)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(next(cycle))
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status >= 400:
                errors.append(status)
    finally:
        writer.close()


def _requests(url: str, targets: list[tuple[str, dict[str, str]]] | None) -> list[bytes]:
    parts = urlsplit(url)
    host = parts.netloc
    pairs = targets or [(parts.path or "/", {})]
    out = []
    for path, headers in pairs:
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        out.append(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode())
    return out


async def run(url: str, connections: int, duration: float,
              targets: list[tuple[str, dict[str, str]]] | None = None) -> dict[str, float]:
    parts = urlsplit(url)
    assert parts.hostname in ("127.0.0.1", "localhost"), "loopback only"
    requests = _requests(url, targets)
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    stop_at = started + duration
    chunks = [requests[i::connections] or requests for i in range(connections)]
    await asyncio.gather(*(_connection(parts.hostname or "127.0.0.1", parts.port or 80, chunk,
                                       stop_at, latencies, errors) for chunk in chunks))
    took = time.perf_counter() - started
    latencies.sort()
    n = len(latencies)
    return {"requests": n, "errors": len(errors), "duration_s": round(took, 3),
            "rps": round(n / took, 1),
            "p50_ms": round(latencies[n // 2] * 1000, 3) if n else 0.0,
            "p99_ms": round(latencies[int(n * 0.99)] * 1000, 3) if n else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--targets", default=None)
    args = parser.parse_args()
    targets = None
    if args.targets:
        with open(args.targets) as f:
            targets = [(p, h) for p, h in json.load(f)]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(run(args.url, args.connections, min(args.duration, 120.0),
                                     targets))))


if __name__ == "__main__":
    main()
