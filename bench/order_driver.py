"""A lean closed-loop order driver for the shop benchmark (loopback only, its own process):
`buyers` concurrent buyers, each placing orders back to back — create, pay at the channel's
pay URL, then poll the status (every `--poll-s`) until delivered — on raw keep-alive HTTP/1.1
connections, so that the driver costs a fraction of what an HTTP library would (on two cores,
the driver's CPU is the shop's lost CPU).

    python bench/order_driver.py --url http://127.0.0.1:8000 --orders 600 --buyers 32
    python bench/order_driver.py --url http://127.0.0.1:8000 --rate 600 --duration 60  # open loop

Prints one JSON line: orders, errors, seconds, orders_per_s, p50/p99 seconds from create to
delivered, and the orders ({order_no, token}) for the status-poll phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import time
from typing import Any
from urllib.parse import urlsplit

from fakalab.scenarios.trace_sampler import TraceSampler

PRODUCTS = ("steam-50", "win-pro", "vip-month", "game-cdk")
_RNG = random.Random()


class Connection:
    """One keep-alive HTTP/1.1 connection to one host:port (reconnects once if closed)."""

    def __init__(self, host: str, port: int) -> None:
        assert host in ("127.0.0.1", "localhost"), "loopback only"
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.retry_after: float | None = None  # of the last answer
        self.connect_s: float | None = None  # how long the last connect took

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.writer is None:
                connecting = time.perf_counter()
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                self.connect_s = time.perf_counter() - connecting
            extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
            head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{extra}"
                    f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n")
            try:
                assert self.reader is not None
                self.writer.write(head.encode() + body)
                raw = await self.reader.readuntil(b"\r\n\r\n")
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
                continue
            status = int(raw[9:12])
            length = 0
            self.retry_after = None
            for line in raw.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                elif line[:12].lower() == b"retry-after:":
                    self.retry_after = float(line[12:])
            data = await self.reader.readexactly(length) if length else b""
            return status, data
        raise ConnectionError("unreachable")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def buyer(index: int, shop: tuple[str, int], todo: list[int], poll_s: float,
                done: list[tuple[dict[str, str], float]], errors: list[str],
                sampler: TraceSampler | None = None) -> None:
    conn = Connection(*shop)
    channels: dict[tuple[str, int], Connection] = {}
    while todo:
        i = todo.pop()
        started = time.perf_counter()
        body = json.dumps({"product_id": PRODUCTS[i % len(PRODUCTS)],
                           "email": f"b{i}@example.com"}).encode()
        trace = None if sampler is None else {  # --traceparent: one W3C trace per journey
            "traceparent": f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-"
                           f"{'01' if sampler.sample(time.monotonic(), _RNG) else '00'}"}
        status, data = await conn.request("POST", "/api/orders", body, trace)
        if status == 503 and conn.retry_after is not None:  # busy: come back as told
            errors.append("busy")
            todo.append(i)
            await asyncio.sleep(conn.retry_after)
            continue
        if status != 201:
            errors.append(f"create {status}")
            continue
        order = json.loads(data)
        pay = urlsplit(order["pay_url"])
        key = (pay.hostname or "127.0.0.1", pay.port or 80)
        channel = channels.setdefault(key, Connection(*key))
        status, _ = await channel.request("POST", pay.path, headers=trace)
        if status != 200:
            errors.append(f"pay {status}")
            continue
        headers = {"X-Order-Token": order["token"]}
        path = f"/api/orders/{order['order_no']}"
        while True:
            await asyncio.sleep(poll_s)
            status, data = await conn.request("GET", path, headers=headers)
            if status == 200 and b'"state":"delivered"' in data:
                break
        done.append(({"order_no": order["order_no"], "token": order["token"]},
                     time.perf_counter() - started))
    conn.close()
    for channel in channels.values():
        channel.close()


async def run(url: str, orders: int, buyers: int, poll_s: float,
              sampler: TraceSampler | None = None
              ) -> dict[str, object]:
    parts = urlsplit(url)
    shop = (parts.hostname or "127.0.0.1", parts.port or 80)
    todo = list(range(orders))
    done: list[tuple[dict[str, str], float]] = []
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(*(buyer(b, shop, todo, poll_s, done, errors, sampler)
                           for b in range(buyers)))
    took = time.perf_counter() - started
    latencies = sorted(t for _, t in done)
    n = len(latencies)
    return {"orders": n, "errors": sum(e != "busy" for e in errors),
            "refused": errors.count("busy"), "seconds": round(took, 3),
            "orders_per_s": round(n / took, 2) if took else 0.0,
            "p50_s": round(latencies[n // 2], 4) if n else None,
            "p99_s": round(latencies[int(n * 0.99)], 4) if n else None,
            "placed": [o for o, _ in done]}


class Pool:
    """Keep-alive connections to one host, each used by one request at a time: an idle one
    when there is one, else a new one up to `size` — an open-loop buyer must not queue behind
    the driver's own connections, or the offered load never reaches the shop (with a fixed
    pool of 256, a 3x overload arrived at the shop as about 0.7x, spread over three minutes)."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port, self.size = host, port, size
        self.free: asyncio.Queue[Connection] = asyncio.Queue()
        self.opened = 0

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None,
                      fresh: list[tuple[bool, float | None]] | None = None
                      ) -> tuple[int, bytes, float | None, float]:
        """(status, body, Retry-After, seconds); status 0 when the connection failed. Appends
        to `fresh` whether the request opened a new connection, and how long connecting took
        (None: no connect)."""
        if self.free.empty() and self.opened < self.size:
            self.opened += 1
            conn = Connection(self.host, self.port)
        else:
            conn = await self.free.get()
        opened = conn.writer is None
        conn.connect_s = None
        started = time.perf_counter()
        try:
            status, data = await conn.request(method, path, body, headers)
            retry = conn.retry_after
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError):
            conn.close()
            status, data, retry = 0, b"", None
        finally:
            self.free.put_nowait(conn)
            if fresh is not None:
                fresh.append((opened, conn.connect_s))
        return status, data, retry, time.perf_counter() - started

    def close(self) -> None:
        while not self.free.empty():
            self.free.get_nowait().close()


async def open_buyer(i: int, shop: Pool, pays: dict[tuple[str, int], Pool], stats: dict[str, Any],
                     rng: random.Random, poll_s: float, retries: int, drain: float) -> None:
    """One arriving buyer of the open-loop run: order (retrying a busy answer after its
    Retry-After times U(1, 1.5), up to `retries` times, else gives up), pay, then poll until
    delivered, or for `drain` seconds after paying (then the order counts as undelivered)."""
    body = json.dumps({"product_id": PRODUCTS[i % len(PRODUCTS)],
                       "email": f"o{i}@example.com"}).encode()
    for attempt in range(retries + 1):
        opened: list[tuple[bool, float | None]] = []
        status, data, retry, took = await shop.request("POST", "/api/orders", body,
                                                       fresh=opened)
        stats["create_s"].append(took)
        stats["create_by"].append((status, opened[0][0], took))
        if opened[0][1] is not None:  # of which connecting
            stats["create_by"].append((-1, False, opened[0][1]))
        if status == 503 and retry is not None:
            stats["refused"] += 1
            if attempt == retries:
                stats["gave_up"] += 1
                return
            await asyncio.sleep(retry * rng.uniform(1.0, 1.5))
            continue
        break
    if status != 201:
        stats["errors"][f"create {status}"] = stats["errors"].get(f"create {status}", 0) + 1
        return
    order = json.loads(data)
    pay = urlsplit(order["pay_url"])
    key = (pay.hostname or "127.0.0.1", pay.port or 80)
    pool = pays.setdefault(key, Pool(*key, size=shop.size))
    status, _, _, _ = await pool.request("POST", pay.path)
    if status != 200:
        stats["errors"][f"pay {status}"] = stats["errors"].get(f"pay {status}", 0) + 1
        return
    paid_at = time.time()
    stop_at = paid_at + drain
    stats["paid"] += 1
    headers = {"X-Order-Token": order["token"]}
    path = f"/api/orders/{order['order_no']}"
    while time.time() < stop_at:
        await asyncio.sleep(poll_s)
        status, data, _, _ = await shop.request("GET", path, headers=headers)
        if status == 200 and b'"state":"delivered"' in data:
            stats["delivered"].append((paid_at, time.time()))
            return
    stats["undelivered"].append(order["order_no"])


def create_split(rows: list[tuple[int, bool, float]]) -> dict[str, dict[str, float]]:
    """The answer times of `POST /api/orders` by answer (201, 503, other) and by connection
    (a new one, or one kept alive), and the connects alone: count, p50, p99 and the share over
    1 s of each."""
    groups: dict[str, list[float]] = {}
    for status, fresh, took in rows:
        if status == -1:  # the connect of a request that opened a connection
            groups.setdefault("connect", []).append(took)
            continue
        answer = str(status) if status in (201, 503) else "other"
        for name in (answer, "new connection" if fresh else "kept-alive"):
            groups.setdefault(name, []).append(took)
    out = {}
    for name, times in groups.items():
        times.sort()
        out[name] = {"n": len(times), "p50_s": round(times[len(times) // 2], 4),
                     "p99_s": round(times[int(len(times) * 0.99)], 4),
                     "over_1s": round(sum(t > 1.0 for t in times) / len(times), 4)}
    return out


async def open_loop(url: str, rate: float, duration: float, drain: float, poll_s: float,
                    retries: int, connections: int, seed: int) -> dict[str, Any]:
    """Buyers arriving as a Poisson process at `rate` a second for `duration` seconds; each
    paid order has `drain` seconds to be delivered. Times in `delivered_at` are from the first
    arrival."""
    parts = urlsplit(url)
    shop = Pool(parts.hostname or "127.0.0.1", parts.port or 80, connections)
    pays: dict[tuple[str, int], Pool] = {}
    rng = random.Random(seed)
    stats: dict[str, Any] = {"create_s": [], "create_by": [], "refused": 0, "gave_up": 0, "paid": 0,
                             "delivered": [], "undelivered": [], "errors": {}}
    started = time.time()
    tasks = []
    at, i = 0.0, 0
    while True:
        at += rng.expovariate(rate)
        if at >= duration:
            break
        delay = started + at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(open_buyer(i, shop, pays, stats, rng, poll_s,
                                                    retries, drain)))
        i += 1
    await asyncio.gather(*tasks)
    shop.close()
    for pool in pays.values():
        pool.close()
    create = sorted(stats.pop("create_s"))
    split = create_split(stats.pop("create_by"))
    delivered = stats.pop("delivered")
    ttd = sorted(d - p for p, d in delivered)
    return {"arrivals": i, "offered_per_s": round(i / duration, 2), "attempts": len(create),
            "seconds": round(time.time() - started, 3),
            "create_p50_s": round(create[len(create) // 2], 4) if create else None,
            "create_p99_s": round(create[int(len(create) * 0.99)], 4) if create else None,
            "create_split": split, "delivered": len(ttd),
            "delivered_at": [round(d - started, 3) for _, d in delivered],
            "ttd": [round(t, 3) for t in ttd], **stats,
            "undelivered": len(stats["undelivered"]), "undelivered_orders": stats["undelivered"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--buyers", type=int, default=32)
    parser.add_argument("--poll-s", type=float, default=0.2)
    parser.add_argument("--rate", type=float, default=None,
                        help="open loop: buyers arriving at this rate a second (Poisson)")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--drain", type=float, default=60.0)
    parser.add_argument("--retries", type=int, default=3)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None, help="write the JSON result to this file")
    parser.add_argument("--traceparent", type=float, nargs="?", const=1.0, default=None,
                        metavar="SHARE", help="closed loop: send a W3C traceparent with each "
                        "order and payment, sampled for SHARE of them (default 1)")
    parser.add_argument("--trace-rate", type=float, default=0.0, metavar="R",
                        help="with --traceparent: at most R sampled journeys a second (0: no "
                        "cap), as a drill's shop.trace_rate")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # one descriptor a connection
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if args.rate is not None:
        result = json.dumps(asyncio.run(open_loop(
            args.url, args.rate, args.duration, args.drain, args.poll_s, args.retries,
            args.connections, args.seed)))
        if args.out:
            with open(args.out, "w") as handle:
                handle.write(result)
        else:
            print(result)
        return
    sampler = None if args.traceparent is None else TraceSampler(args.traceparent,
                                                                 args.trace_rate)
    result = asyncio.run(run(args.url, args.orders, args.buyers, args.poll_s, sampler))
    if sampler is not None:
        result["traced"] = sampler.sampled
    print(json.dumps(result))


if __name__ == "__main__":
    main()
