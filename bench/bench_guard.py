"""What the connection guard costs: the same bare FastAPI endpoint served with uvicorn's
httptools protocol and behind the shop's guard (reference_shop/guard.py), measured alternately
in the same run.

    .venv/bin/python bench/bench_guard.py [--rounds 3] [--duration 5] [--connections 32]

Prints req/s and p50 of each, per round, and the ratio guarded / plain (1.00 = free).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_shop import loadgen  # noqa: E402
from fakalab.reference_shop.upstreams.process import find_port_base  # noqa: E402


def serve(port: int, guarded: bool) -> subprocess.Popen[str]:
    args = [sys.executable, str(ROOT / "bench" / "bare_app.py"), str(port)]
    proc = subprocess.Popen(args + (["--guarded"] if guarded else []), stdout=subprocess.PIPE,
                            text=True)
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/hello", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("bare app did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    ratios = []
    for round_no in range(1, args.rounds + 1):
        rps = {}
        for guarded in (False, True):
            port = find_port_base() + 1
            proc = serve(port, guarded)
            try:
                result = loadgen(f"http://127.0.0.1:{port}/hello", args.connections,
                                 args.duration)
            finally:
                proc.terminate()
                proc.wait()
            rps[guarded] = result["rps"]
            label = "guarded" if guarded else "plain  "
            print(f"round {round_no} {label} {result['rps']:>8.0f} req/s   p50 "
                  f"{result['p50_ms']:.2f} ms   errors {result['errors']}")
        ratios.append(rps[True] / rps[False])
    print(f"guarded / plain: median {statistics.median(ratios):.3f} "
          f"(per round {', '.join(f'{r:.3f}' for r in ratios)})")


if __name__ == "__main__":
    main()
