"""Fixtures of the chaos tests: an embedded Toxiproxy per test, real TCP upstreams on 127.0.0.1."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
import toxiproxy
from toxiproxy.api import APIConsumer

from fakalab.chaos.client import ToxiproxyClient
from fakalab.chaos.server import ToxiproxyThread


@pytest.fixture
def toxiproxy_url() -> Iterator[str]:
    """URL of a fresh embedded server (its own thread and event loop, a free port)."""
    with ToxiproxyThread(metrics=True) as url:
        yield url


@pytest.fixture
def client(toxiproxy_url: str) -> ToxiproxyClient:
    return ToxiproxyClient(toxiproxy_url)


@pytest.fixture
def library(toxiproxy_url: str) -> Iterator[toxiproxy.Toxiproxy]:
    """toxiproxy-python pointed at the embedded server (its address is global state)."""
    saved = APIConsumer.host, APIConsumer.port
    server = toxiproxy.Toxiproxy()
    host, port = toxiproxy_url.removeprefix("http://").split(":")
    server.update_api_consumer(host, int(port))
    yield server
    APIConsumer.host, APIConsumer.port = saved


class TcpServer:
    """A threaded TCP server on 127.0.0.1 running `handle(conn)` for each connection."""

    def __init__(self, handle: Callable[[socket.socket], None]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.handle = handle
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self.handle(conn)

    def close(self) -> None:
        self.sock.close()


def _echo(conn: socket.socket) -> None:
    while data := conn.recv(65536):
        conn.sendall(data)


@pytest.fixture
def echo() -> Iterator[TcpServer]:
    """An echo server: every byte received is sent back."""
    server = TcpServer(_echo)
    yield server
    server.close()


def listen_address(proxy: dict[str, object]) -> tuple[str, int]:
    host, port = str(proxy["listen"]).rsplit(":", 1)
    return host, int(port)


def connect(proxy: dict[str, object], timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(listen_address(proxy), timeout=timeout)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def recv_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data
