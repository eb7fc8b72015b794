"""The Toxiproxy 2.x HTTP API: a small HTTP/1.1 server on asyncio streams.

`route()` maps a method and path to a handler; `ApiHandler` turns requests into calls on a
`ProxyCollection` and answers with the same codes and bodies as the real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from fakalab.chaos.proxy import ProxyCollection
from fakalab.chaos.toxics import ApiError, bad_body

__all__ = ["VERSION", "ApiHandler", "Response", "route"]

VERSION = "2.12.0+fakalab"
_MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(value).encode())

    @classmethod
    def error(cls, error: ApiError) -> Response:
        return cls(error.status, json.dumps(error.body()).encode() + b"\n")


NOT_FOUND = Response(404, b"404 page not found\n", "text/plain; charset=utf-8")
FORBIDDEN = Response(403, b"User agent not allowed\n", "text/plain; charset=utf-8")

# path shape -> the methods it accepts. "*" matches one path segment.
ROUTES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("version",): ("GET",),
    ("reset",): ("POST",),
    ("metrics",): ("GET",),
    ("populate",): ("POST",),
    ("proxies",): ("GET", "POST"),
    ("proxies", "*"): ("GET", "POST", "PATCH", "DELETE"),
    ("proxies", "*", "toxics"): ("GET", "POST"),
    ("proxies", "*", "toxics", "*"): ("GET", "POST", "PATCH", "DELETE"),
}


def route(path: str) -> tuple[tuple[str, ...], list[str]] | None:
    """Match a path against ROUTES: (shape, the `*` segments) or None."""
    parts = [unquote(part) for part in path.split("?", 1)[0].strip("/").split("/")]
    if not path.startswith("/") or path.split("?", 1)[0].endswith("/") or "" in parts:
        return None
    for shape in ROUTES:
        if len(shape) != len(parts):
            continue
        pairs = list(zip(shape, parts, strict=True))
        if all(s in ("*", p) for s, p in pairs):
            return shape, [p for s, p in pairs if s == "*"]
    return None


def _decode(body: bytes) -> Any:
    if not body.strip():
        raise bad_body("EOF")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_body(str(exc)) from None


Handler = Callable[[list[str], bytes], Awaitable[Response]]


class ApiHandler:
    """Answers API requests against one ProxyCollection."""

    def __init__(self, proxies: ProxyCollection, metrics: bool = False) -> None:
        self.proxies = proxies
        self.metrics = metrics
        self.sessions: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}
        self.lock = asyncio.Lock()  # one API operation at a time, as they await binds
        self.handlers: dict[tuple[tuple[str, ...], str], Handler] = {
            (("version",), "GET"): self.version,
            (("reset",), "POST"): self.reset,
            (("metrics",), "GET"): self.show_metrics,
            (("populate",), "POST"): self.populate,
            (("proxies",), "GET"): self.list_proxies,
            (("proxies",), "POST"): self.create_proxy,
            (("proxies", "*"), "GET"): self.show_proxy,
            (("proxies", "*"), "POST"): self.update_proxy,
            (("proxies", "*"), "PATCH"): self.update_proxy,
            (("proxies", "*"), "DELETE"): self.delete_proxy,
            (("proxies", "*", "toxics"), "GET"): self.list_toxics,
            (("proxies", "*", "toxics"), "POST"): self.create_toxic,
            (("proxies", "*", "toxics", "*"), "GET"): self.show_toxic,
            (("proxies", "*", "toxics", "*"), "POST"): self.update_toxic,
            (("proxies", "*", "toxics", "*"), "PATCH"): self.update_toxic,
            (("proxies", "*", "toxics", "*"), "DELETE"): self.delete_toxic,
        }

    async def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> Response:
        if headers.get("user-agent", "").startswith("Mozilla/"):
            return FORBIDDEN
        matched = route(path)
        if matched is None or (matched[0] == ("metrics",) and not self.metrics):
            return NOT_FOUND
        shape, args = matched
        handler = self.handlers.get((shape, method))
        if handler is None:
            return Response(405, b"", "text/plain; charset=utf-8")
        try:
            async with self.lock:
                return await handler(args, body)
        except ApiError as error:
            return Response.error(error)

    async def version(self, args: list[str], body: bytes) -> Response:
        return Response.json({"version": VERSION})

    async def reset(self, args: list[str], body: bytes) -> Response:
        await self.proxies.reset()
        return Response(204)

    async def show_metrics(self, args: list[str], body: bytes) -> Response:
        return Response(200, prometheus_text(self.proxies).encode(), "text/plain; version=0.0.4")

    async def populate(self, args: list[str], body: bytes) -> Response:
        done, error = await self.proxies.populate(_decode(body))
        listed = [proxy.to_json() for proxy in done]
        if error is not None:
            return Response.json(error.body() | {"proxies": listed}, error.status)
        return Response.json({"proxies": listed}, 201)

    async def list_proxies(self, args: list[str], body: bytes) -> Response:
        return Response.json({p.name: p.to_json() for p in self.proxies.all()})

    async def create_proxy(self, args: list[str], body: bytes) -> Response:
        proxy = await self.proxies.create(_decode(body))
        return Response.json(proxy.to_json(), 201)

    async def show_proxy(self, args: list[str], body: bytes) -> Response:
        return Response.json(self.proxies.get(args[0]).to_json())

    async def update_proxy(self, args: list[str], body: bytes) -> Response:
        self.proxies.get(args[0])
        proxy = await self.proxies.update(args[0], _decode(body))
        return Response.json(proxy.to_json())

    async def delete_proxy(self, args: list[str], body: bytes) -> Response:
        await self.proxies.delete(args[0])
        return Response(204)

    async def list_toxics(self, args: list[str], body: bytes) -> Response:
        toxics = self.proxies.get(args[0]).ordered_toxics()
        return Response.json([toxic.to_json() for toxic in toxics])

    async def create_toxic(self, args: list[str], body: bytes) -> Response:
        proxy = self.proxies.get(args[0])
        return Response.json(proxy.add_toxic(_decode(body)).to_json())

    async def show_toxic(self, args: list[str], body: bytes) -> Response:
        return Response.json(self.proxies.get(args[0]).get_toxic(args[1]).to_json())

    async def update_toxic(self, args: list[str], body: bytes) -> Response:
        proxy = self.proxies.get(args[0])
        proxy.get_toxic(args[1])
        return Response.json(proxy.update_toxic(args[1], _decode(body)).to_json())

    async def delete_toxic(self, args: list[str], body: bytes) -> Response:
        self.proxies.get(args[0]).remove_toxic(args[1])
        return Response(204)

    async def close_sessions(self) -> None:
        """Close idle keep-alive connections; their tasks then end on their own."""
        for writer in list(self.sessions.values()):
            writer.close()
        await asyncio.wait(list(self.sessions), timeout=2) if self.sessions else None

    # -- HTTP/1.1 ---------------------------------------------------------------------------
    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.sessions[task] = writer
            task.add_done_callback(lambda done: self.sessions.pop(done, None))
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        line = await reader.readline()
        if not line.strip():
            return False
        method, path, version = line.decode("latin-1").split()
        headers: dict[str, str] = {}
        while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
            key, _, value = header.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await _read_body(reader, headers)
        response = await self.handle(method.upper(), path, headers, body)
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        writer.write(_encode(response, keep))
        await writer.drain()
        return keep


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while size := int((await reader.readline()).split(b";")[0], 16):
            chunks.append(await reader.readexactly(size))
            await reader.readline()
        await reader.readline()
        return b"".join(chunks)
    length = int(headers.get("content-length", "0") or 0)
    if length > _MAX_BODY:
        raise ValueError("request body too large")
    return await reader.readexactly(length) if length else b""


def _encode(response: Response, keep_alive: bool) -> bytes:
    reason = HTTPStatus(response.status).phrase
    head = [f"HTTP/1.1 {response.status} {reason}"]
    if response.status != 204:
        head.append(f"Content-Type: {response.content_type}")
        head.append(f"Content-Length: {len(response.body)}")
    head.append("Connection: keep-alive" if keep_alive else "Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body


def prometheus_text(proxies: ProxyCollection) -> str:
    """Byte counters per proxy and direction, in the Prometheus text format."""
    lines = [
        "# HELP toxiproxy_proxy_received_bytes_total Bytes received by the proxy.",
        "# TYPE toxiproxy_proxy_received_bytes_total counter",
    ]
    for proxy in proxies.all():
        for stream in ("upstream", "downstream"):
            labels = (
                f'direction="{stream}",listener="{proxy.listen}",'
                f'proxy="{proxy.name}",upstream="{proxy.upstream}"'
            )
            lines.append(
                f"toxiproxy_proxy_received_bytes_total{{{labels}}} {proxy.bytes_received(stream)}"
            )
    return "\n".join(lines) + "\n"
