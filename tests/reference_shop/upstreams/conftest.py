"""Fixtures of the upstream tests: ASGI clients for in-process apps, a real callback receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi import FastAPI


@asynccontextmanager
async def asgi_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client talking to ``app`` in process, with the app's lifespan running."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://upstream") as client:
            yield client


class Receiver:
    """A real HTTP server on 127.0.0.1 standing in for the shop's callback endpoint.

    Answers ``success`` unless ``replies[trade_no]`` holds replies still to give (e.g. ``fail``).
    """

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.replies: dict[str, list[str]] = {}
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                reply = receiver._record(body).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _record(self, body: dict[str, Any]) -> str:
        with self._changed:
            self.calls.append(body)
            self._changed.notify_all()
            pending = self.replies.get(body.get("trade_no", ""), [])
            return pending.pop(0) if pending else "success"

    def received(self, trade_no: str) -> list[dict[str, Any]]:
        with self._changed:
            return [call for call in self.calls if call.get("trade_no") == trade_no]

    def wait_for(self, trade_no: str, count: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """The callbacks of ``trade_no`` once there are ``count`` (or what came before timeout)."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while len(self.received(trade_no)) < count and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())
        return self.received(trade_no)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()
