"""Connection limits of the shop's HTTP server, as production servers keep them (nginx's
client_header_timeout and large_client_header_buffers, Go's ReadHeaderTimeout).

uvicorn's httptools protocol never closes a connection that sends nothing, nor one that
trickles a request line, and accepts headers of any size and number: 20,000 idle connections
took every file descriptor, a 100 MB header was read whole. `GuardedProtocol` adds, per
connection:

- a **header timeout**: a request's line and headers must arrive within `header_timeout_s` of
  the connection opening or of the previous response (idle and trickling connections are
  closed, by one sweep every half second);
- **header limits**: at most `max_header_bytes` of request line and headers, and at most
  `max_headers` header fields — a bigger request is answered 431 and closed;
- a **connection cap**: above `max_connections`, the connection that has waited longest for a
  request (idle or trickling) is closed to make room — an attacker's idle connections go
  first; when every connection is busy with a request, the new one is refused.

What is refused is counted (`fakalab_connections_refused_total{reason}`) and logged, at most
one line a second per reason so that a flood does not flood the log.

It also holds the shop's **door** (`Door`, set by the app): a request the door answers — a new
order while the sale is busy — is answered from the request line, before any ASGI task, scope
or framework exists; under a flash sale's overload the refusals are most of the requests, and
each must cost far less than the order it turns away.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fakalab.reference_shop.coalesce import CoalescingTransport

__all__ = ["DOOR_PASSED", "ConnectionLimits", "Door", "GuardedProtocol", "Refusals",
           "guarded_protocol", "usable_fds"]

log = logging.getLogger("fakalab.guard")
DOOR_PASSED = "fakalab.door_passed"  # in a request's scope["extensions"]: the door let it in
RESERVED_FDS = 512  # the database, the upstreams' connection pool, logs


def usable_fds(reserve: int = RESERVED_FDS) -> int:
    """Connections the process can hold: its open-file limit (raised to the hard limit)
    less what the shop itself needs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return max(64, soft - reserve)


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int = 4096
    max_header_bytes: int = 16_384
    max_headers: int = 100
    header_timeout_s: float = 10.0


@dataclass
class Refusals:
    """Counts of what the guard refused, and when each reason was last logged."""

    counts: dict[str, int] = field(default_factory=dict)
    logged_at: dict[str, float] = field(default_factory=dict)
    unlogged: dict[str, int] = field(default_factory=dict)
    on_refusal: Any = None  # callable(reason) for the metrics

    def refused(self, reason: str, detail: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self.unlogged[reason] = self.unlogged.get(reason, 0) + 1
        if self.on_refusal is not None:
            self.on_refusal(reason)
        now = time.monotonic()
        if now - self.logged_at.get(reason, -1e9) >= 1.0:
            count = self.unlogged.pop(reason)
            self.logged_at[reason] = now
            log.warning("refused %d connection(s) in the last second: %s", count, detail)


class Door(Protocol):
    def __call__(self, method: bytes, url: bytes) -> bytes | None:
        """The whole HTTP response (status line to body, keep-alive) to answer this request
        with, or None to pass it on to the application."""


class _Shared:
    """What every connection of one server shares: the limits, the counts, and the connections
    waiting for a request's headers, oldest first (idle ones and trickling ones: the first to
    go when room is needed, and the ones a single sweep a second times out)."""

    def __init__(self, limits: ConnectionLimits, refusals: Refusals,
                 door: Door | None = None) -> None:
        self.limits = limits
        self.refusals = refusals
        self.door = door
        self.waiting: OrderedDict[GuardedProtocol, float] = OrderedDict()  # -> deadline
        self.open = 0
        self.sweeping = False

    def sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close the connections whose headers are overdue; again in half a second."""
        now = loop.time()
        while self.waiting:
            conn, deadline = next(iter(self.waiting.items()))
            if deadline > now:
                break
            del self.waiting[conn]
            conn.header_timeout()
        if self.open:
            loop.call_later(0.5, self.sweep, loop)
        else:
            self.sweeping = False


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the shop's connection limits (set by
    `guarded_protocol`). Per request it costs two dictionary updates and, while the headers
    arrive, a scan for their end; the timeouts are one sweep a second for the whole server."""

    shared: _Shared

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]
        super().connection_made(transport)
        shared = self.shared
        shared.open += 1
        self._header_phase = True  # reading a request line and headers (not yet their end)
        self._header_bytes = 0
        self._tail = b""
        self._rejected = False
        self._message_done = False  # the parser has read the whole current request
        self._answered = False  # the door answered the current request: its body is skipped
        if shared.open > shared.limits.max_connections and not self._make_room():
            shared.refusals.refused(
                "too_many_connections", f"over {shared.limits.max_connections} "
                "connections, all of them busy")
            transport.abort()
            return
        self._wait_for_headers()
        if not shared.sweeping:
            shared.sweeping = True
            self.loop.call_later(0.5, shared.sweep, self.loop)

    def _make_room(self) -> bool:
        """Close the connection that has waited longest for a request; False when none is."""
        if not self.shared.waiting:
            return False
        oldest, _ = self.shared.waiting.popitem(last=False)
        self.shared.refusals.refused(
            "evicted_idle", f"over {self.shared.limits.max_connections} connections: closed "
            "the longest-idle ones")
        oldest.transport.abort()
        return True

    def _wait_for_headers(self) -> None:
        self.shared.waiting[self] = self.loop.time() + self.shared.limits.header_timeout_s

    def header_timeout(self) -> None:
        if not self.transport.is_closing():
            self.shared.refusals.refused(
                "header_timeout", f"no complete request within "
                f"{self.shared.limits.header_timeout_s:g} s (idle or trickling)")
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.shared.open -= 1
        self.shared.waiting.pop(self, None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._rejected:
            return
        if self._header_phase:  # count up to the blank line that ends the headers
            chunk = self._tail + data if self._tail else data
            end = chunk.find(b"\r\n\r\n")
            end = end + 4 if end >= 0 else chunk.find(b"\n\n") + 2 if b"\n\n" in chunk else -1
            self._header_bytes += len(data) if end < 0 else max(0, end - len(self._tail))
            if self._header_bytes > self.shared.limits.max_header_bytes:
                self._too_large(f"request line and headers over "
                                f"{self.shared.limits.max_header_bytes} bytes")
                return
            self._header_phase, self._tail = end < 0, chunk[-3:] if end < 0 else b""
        super().data_received(data)

    def on_message_begin(self) -> None:
        self._message_done = False
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self.shared.waiting.pop(self, None)
        if len(self.headers) > self.shared.limits.max_headers:
            self._too_large(f"more than {self.shared.limits.max_headers} header fields")
            return
        door = self.shared.door
        # Not behind a request still being answered (a pipelined one: answers keep their
        # order), nor one waiting for "100 Continue" (its body would never come).
        if door is not None and (self.cycle is None or self.cycle.response_complete) \
                and not self.expect_100_continue:
            answer = door(self.parser.get_method(), self.url)
            if answer is not None:
                self._answered = True
                self.transport.write(answer)
                if not self.parser.should_keep_alive() or not self._short_body():
                    self.transport.close()  # not worth reading a long body to keep it open
                return
            self.scope.setdefault("extensions", {})[DOOR_PASSED] = {}
        super().on_headers_complete()

    def _short_body(self) -> bool:
        for name, value in self.headers:
            if name == b"content-length":
                return value.isdigit() and int(value) <= self.shared.limits.max_header_bytes
            if name == b"transfer-encoding":
                return False
        return True

    def on_body(self, body: bytes) -> None:
        if not self._rejected and not self._answered:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._message_done = True
        if self._answered:
            self._answered = False
            self._next_request()
            return
        if self._rejected:
            return
        super().on_message_complete()
        if self.cycle is not None and self.cycle.response_complete:
            self._next_request()  # answered before its body was read (a 413, say)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._message_done:  # else: the rest of the body still comes, then the next request
            self._next_request()

    def _next_request(self) -> None:
        """From here on, the bytes are the next request's line and headers."""
        self._header_phase, self._header_bytes, self._tail = True, 0, b""
        if not self.transport.is_closing():
            self._wait_for_headers()

    def _too_large(self, why: str) -> None:
        self._rejected = True
        self.shared.waiting.pop(self, None)
        if self.transport.is_closing():
            return
        self.shared.refusals.refused("headers_too_large", why)
        body = b"request header fields too large"
        self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                             b"content-type: text/plain; charset=utf-8\r\n"
                             b"content-length: " + str(len(body)).encode() + b"\r\n"
                             b"connection: close\r\n\r\n" + body)
        self.transport.close()


def guarded_protocol(limits: ConnectionLimits, refusals: Refusals, door: Door | None = None
                     ) -> type[GuardedProtocol]:
    """A protocol class for one server (its own idle list and counts, and its door)."""
    shared = _Shared(limits, refusals, door)
    return type("GuardedShopProtocol", (GuardedProtocol,), {"shared": shared})
