"""Proxies: a TCP listener each, forwarding to an upstream through its toxics.

`ProxyCollection` holds the proxies by name and answers the operations of the HTTP API; it raises
`ApiError` with the status and message the real Toxiproxy uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterable
from typing import Any, cast

from fakalab.chaos.link import ClientSide, Connection, ServerSide
from fakalab.chaos.toxics import ApiError, Toxic, bad_body, not_found, parse_toxic, update_toxic

__all__ = ["Proxy", "ProxyCollection", "split_address"]


def split_address(address: str) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`) → (host, port); raise ValueError when malformed."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"address {address!r} is not host:port")
    host = host.strip("[]")
    return (host or "0.0.0.0", int(port))


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Proxy:
    """One named proxy: its listener, toxics and live connections."""

    def __init__(self, name: str, listen: str, upstream: str) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.toxics: list[Toxic] = []
        self.connections: set[Connection] = set()
        self.server: asyncio.AbstractServer | None = None
        self.rng = random.Random()
        self.received = {"upstream": 0, "downstream": 0}
        self._dialing: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        return self.server is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [toxic.to_json() for toxic in self.ordered_toxics()],
        }

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if self.server is not None:
            return
        try:
            host, port = split_address(self.listen)
            loop = asyncio.get_running_loop()
            self.server = await loop.create_server(self._accept, host, port, reuse_address=True)
        except (OSError, ValueError) as exc:
            raise ApiError(500, f"listen tcp {self.listen}: {exc}") from exc
        bound = self.server.sockets[0].getsockname()
        self.listen = _join(bound[0], bound[1])

    async def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.close()
        for conn in list(self.connections):
            conn.abort()
        for task in list(self._dialing):
            task.cancel()
        if server is not None:
            await server.wait_closed()

    def _accept(self) -> ClientSide:
        conn = Connection(self._forget)
        self.connections.add(conn)
        for stream in ("upstream", "downstream"):
            conn.direction(stream).set_toxics(self.stream_toxics(stream), self.rng)
        return ClientSide(conn, self._dial)

    def _dial(self, side: ClientSide) -> None:
        task = asyncio.get_running_loop().create_task(self._connect_upstream(side))
        self._dialing.add(task)
        task.add_done_callback(self._dialing.discard)

    async def _connect_upstream(self, side: ClientSide) -> None:
        conn = side.conn
        try:
            host, port = split_address(self.upstream)
            loop = asyncio.get_running_loop()
            server, _ = await loop.create_connection(lambda: ServerSide(conn), host, port)
        except (OSError, ValueError):
            conn.close()
            return
        if conn.closed or side.transport is None:
            server.close()
            return
        conn.attach(side.transport, cast(asyncio.Transport, server))

    def _forget(self, conn: Connection) -> None:
        if conn in self.connections:
            self.connections.discard(conn)
            self.received["upstream"] += conn.up.bytes
            self.received["downstream"] += conn.down.bytes

    def bytes_received(self, stream: str) -> int:
        live = sum(conn.direction(stream).bytes for conn in self.connections)
        return self.received[stream] + live

    # -- toxics -----------------------------------------------------------------------------
    def ordered_toxics(self) -> list[Toxic]:
        return self.stream_toxics("upstream") + self.stream_toxics("downstream")

    def stream_toxics(self, stream: str) -> list[Toxic]:
        return [toxic for toxic in self.toxics if toxic.stream == stream]

    def get_toxic(self, name: str) -> Toxic:
        for toxic in self.toxics:
            if toxic.name == name:
                return toxic
        raise not_found("toxic")

    def add_toxic(self, body: Any) -> Toxic:
        toxic = parse_toxic(body)
        if any(existing.name == toxic.name for existing in self.toxics):
            raise ApiError(409, "toxic already exists")
        self.toxics.append(toxic)
        self._apply(toxic.stream)
        return toxic

    def update_toxic(self, name: str, body: Any) -> Toxic:
        old = self.get_toxic(name)
        new = update_toxic(old, body)
        self.toxics[self.toxics.index(old)] = new
        self._apply(new.stream)
        return new

    def remove_toxic(self, name: str) -> None:
        toxic = self.get_toxic(name)
        self.toxics.remove(toxic)
        self._apply(toxic.stream)

    def reset_toxics(self) -> None:
        self.toxics.clear()
        self._apply("upstream")
        self._apply("downstream")

    def _apply(self, stream: str) -> None:
        toxics = self.stream_toxics(stream)
        for conn in list(self.connections):
            conn.direction(stream).set_toxics(toxics, self.rng)


def _proxy_fields(body: Any) -> tuple[str, str, str, bool]:
    if not isinstance(body, dict):
        raise bad_body("expected a JSON object")
    name, upstream = body.get("name") or "", body.get("upstream") or ""
    listen, enabled = body.get("listen") or "127.0.0.1:0", body.get("enabled", True)
    if not all(isinstance(v, str) for v in (name, upstream, listen)):
        raise bad_body("name, listen and upstream must be strings")
    if not isinstance(enabled, bool):
        raise bad_body("enabled must be a boolean")
    for field, value in (("name", name), ("upstream", upstream)):
        if not value:
            raise ApiError(400, f"missing required field: {field}")
    return name, listen, upstream, enabled


class ProxyCollection:
    """Every proxy of one server, by name."""

    def __init__(self) -> None:
        self.proxies: dict[str, Proxy] = {}

    def get(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            raise not_found("proxy") from None

    async def create(self, body: Any) -> Proxy:
        name, listen, upstream, enabled = _proxy_fields(body)
        if name in self.proxies:
            raise ApiError(409, "proxy already exists")
        return await self._add(name, listen, upstream, enabled)

    async def _add(self, name: str, listen: str, upstream: str, enabled: bool) -> Proxy:
        proxy = Proxy(name, listen, upstream)
        if enabled:
            await proxy.start()
        self.proxies[name] = proxy
        return proxy

    async def populate(self, body: Any) -> tuple[list[Proxy], ApiError | None]:
        """Create or replace each proxy in turn; stop at the first error (not atomic)."""
        if not isinstance(body, list):
            return [], bad_body("expected a JSON array of proxies")
        done: list[Proxy] = []
        try:
            entries = [_proxy_fields(entry) for entry in body]
            for name, listen, upstream, enabled in entries:
                done.append(await self._add_or_replace(name, listen, upstream, enabled))
        except ApiError as error:
            return done, error
        return done, None

    async def _add_or_replace(self, name: str, listen: str, upstream: str, enabled: bool) -> Proxy:
        existing = self.proxies.get(name)
        if existing is not None:
            if existing.listen == listen and existing.upstream == upstream:
                return existing
            await self.delete(name)
        return await self._add(name, listen, upstream, enabled)

    async def update(self, name: str, body: Any) -> Proxy:
        proxy = self.get(name)
        if not isinstance(body, dict):
            raise bad_body("expected a JSON object")
        _, listen, upstream, enabled = _proxy_fields(
            {"name": name, "listen": proxy.listen, "upstream": proxy.upstream,
             "enabled": proxy.enabled} | {k: v for k, v in body.items() if k != "name"}
        )
        if (listen, upstream) != (proxy.listen, proxy.upstream) or not enabled:
            old_listen = proxy.listen
            await proxy.stop()
            proxy.listen, proxy.upstream = listen, upstream
            if enabled:
                await self._restart(proxy, old_listen)
        elif enabled:
            await proxy.start()
        return proxy

    async def _restart(self, proxy: Proxy, old_listen: str) -> None:
        try:
            await proxy.start()
        except ApiError:
            proxy.listen = old_listen
            with contextlib.suppress(ApiError):
                await proxy.start()
            raise

    async def delete(self, name: str) -> None:
        proxy = self.get(name)
        del self.proxies[name]
        await proxy.stop()

    async def reset(self) -> None:
        for proxy in self.proxies.values():
            proxy.reset_toxics()
            await proxy.start()

    async def close(self) -> None:
        for proxy in list(self.proxies.values()):
            await proxy.stop()

    def all(self) -> Iterable[Proxy]:
        return self.proxies.values()
