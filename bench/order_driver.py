"""A lean closed-loop order driver for the shop benchmark (loopback only, its own process):
`buyers` concurrent buyers, each placing orders back to back — create, pay at the channel's
pay URL, then poll the status (every `--poll-s`) until delivered — on raw keep-alive HTTP/1.1
connections, so that the driver costs a fraction of what an HTTP library would (on two cores,
the driver's CPU is the shop's lost CPU).

    python bench/order_driver.py --url http://127.0.0.1:8000 --orders 600 --buyers 32

Prints one JSON line: orders, errors, seconds, orders_per_s, p50/p99 seconds from create to
delivered, and the orders ({order_no, token}) for the status-poll phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit

PRODUCTS = ("steam-50", "win-pro", "vip-month", "game-cdk")


class Connection:
    """One keep-alive HTTP/1.1 connection to one host:port (reconnects once if closed)."""

    def __init__(self, host: str, port: int) -> None:
        assert host in ("127.0.0.1", "localhost"), "loopback only"
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.retry_after: float | None = None  # of the last answer

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
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
                done: list[tuple[dict[str, str], float]], errors: list[str]) -> None:
    conn = Connection(*shop)
    channels: dict[tuple[str, int], Connection] = {}
    while todo:
        i = todo.pop()
        started = time.perf_counter()
        body = json.dumps({"product_id": PRODUCTS[i % len(PRODUCTS)],
                           "email": f"b{i}@example.com"}).encode()
        status, data = await conn.request("POST", "/api/orders", body)
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
        status, _ = await channel.request("POST", pay.path)
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


async def run(url: str, orders: int, buyers: int, poll_s: float) -> dict[str, object]:
    parts = urlsplit(url)
    shop = (parts.hostname or "127.0.0.1", parts.port or 80)
    todo = list(range(orders))
    done: list[tuple[dict[str, str], float]] = []
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(*(buyer(b, shop, todo, poll_s, done, errors) for b in range(buyers)))
    took = time.perf_counter() - started
    latencies = sorted(t for _, t in done)
    n = len(latencies)
    return {"orders": n, "errors": sum(e != "busy" for e in errors),
            "refused": errors.count("busy"), "seconds": round(took, 3),
            "orders_per_s": round(n / took, 2) if took else 0.0,
            "p50_s": round(latencies[n // 2], 4) if n else None,
            "p99_s": round(latencies[int(n * 0.99)], 4) if n else None,
            "placed": [o for o, _ in done]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--buyers", type=int, default=32)
    parser.add_argument("--poll-s", type=float, default=0.2)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(run(args.url, args.orders, args.buyers, args.poll_s))))


if __name__ == "__main__":
    main()
