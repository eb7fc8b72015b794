"""The upstream transports against real loopback sockets: an answer, a silent server, a
refused port, a reset mid-answer, and keep-alive reuse across the server's idle close."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from fakalab.reference_shop.http_transport import (
    AiohttpTransport,
    HttpxTransport,
    Reply,
    Transport,
    TransportError,
    TransportTimeout,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    return lines[0], await reader.readexactly(length) if length else b""


def _answer(status: int, body: bytes, *, close: bool = False) -> bytes:
    extra = b"connection: close\r\n" if close else b""
    return (f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n").encode() + extra + b"\r\n" + body


@contextlib.asynccontextmanager
async def _serve(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            line, body = await _read_request(reader)
            reply = json.dumps({"request": line, "body": json.loads(body) if body else None})
            writer.write(_answer(201, reply.encode()))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def _transports() -> list[Callable[[], Transport]]:
    return [AiohttpTransport, lambda: HttpxTransport(httpx.AsyncClient(trust_env=False))]


@pytest.mark.parametrize("make", _transports(), ids=["aiohttp", "httpx"])
async def test_a_json_body_goes_out_and_the_answer_comes_back(make: Callable[[], Transport]
                                                              ) -> None:
    transport = make()
    async with _serve(_echo) as url:
        reply = await transport.request("POST", url + "/api/keys", {"n": 2, "名": "键"}, 2.0)
        again = await transport.request("GET", url + "/api/x", None, 2.0)
    await transport.aclose()
    assert reply.status_code == 201
    assert reply.json() == {"request": "POST /api/keys HTTP/1.1", "body": {"n": 2, "名": "键"}}
    assert again.json()["request"] == "GET /api/x HTTP/1.1" and again.json()["body"] is None


@pytest.mark.parametrize("make", _transports(), ids=["aiohttp", "httpx"])
async def test_a_server_that_never_answers_is_a_timeout(make: Callable[[], Transport]) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await asyncio.sleep(5)

    transport = make()
    async with _serve(silent) as url:
        with pytest.raises(TransportTimeout):
            await transport.request("GET", url + "/", None, 0.2)
    await transport.aclose()


@pytest.mark.parametrize("make", _transports(), ids=["aiohttp", "httpx"])
async def test_a_refused_port_and_a_reset_are_transport_errors(make: Callable[[], Transport]
                                                               ) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # bound, never listening: connecting is refused

        async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
            await writer.drain()
            writer.transport.abort()

        transport = make()
        with pytest.raises(TransportError):
            await transport.request("GET", f"http://127.0.0.1:{closed}/", None, 2.0)
        async with _serve(reset) as url:
            with pytest.raises(TransportError):
                await transport.request("GET", url + "/", None, 2.0)
        await transport.aclose()


async def test_a_connection_the_server_closed_after_answering_is_not_reused() -> None:
    """uvicorn closes idle keep-alive connections; the client must never send on one the
    server announced closing — every one of these requests gets its answer."""

    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(_answer(200, b'{"ok": true}', close=True))
        await writer.drain()
        writer.close()

    transport = AiohttpTransport()
    async with _serve(once) as url:
        replies = [await transport.request("GET", url + "/", None, 2.0) for _ in range(20)]
    await transport.aclose()
    assert replies == [Reply(200, '{"ok": true}')] * 20


async def test_a_body_that_is_not_json_says_so() -> None:
    with pytest.raises(ValueError):
        Reply(200, "<html>").json()
