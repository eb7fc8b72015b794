"""One proxied TCP connection: two directions, each passing bytes through its toxics.

With no toxic in effect on a direction, chunks are written straight to the other side (the fast
path costs one `write` per chunk). Otherwise they queue and a pump task passes each one through
the effects in order. Flow control: the reading side is paused while the writing side's buffer is
full, or while too much data waits in the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections import deque
from collections.abc import Callable, Sequence
from typing import cast

from fakalab.chaos.effects import Effect, make_effect
from fakalab.chaos.toxics import Toxic

__all__ = ["Connection", "Direction"]

_HIGH_WATER = 256 * 1024
_LOW_WATER = 64 * 1024
_EOF = b""  # queued to mark the sending side's close


class Direction:
    """Bytes of one stream (`upstream`: client → server, `downstream`: server → client)."""

    def __init__(self, conn: Connection, stream: str) -> None:
        self.conn = conn
        self.stream = stream
        self.src: asyncio.Transport | None = None
        self.dst: asyncio.Transport | None = None
        self.effects: list[Effect] = []
        self.active: list[Effect] = []
        self.queue: deque[tuple[bytes, float]] = deque()
        self.queued = 0
        self.pump: asyncio.Task[None] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.bytes = 0
        self.eof_sent = False
        self.ended = False
        self._src_paused = False
        self._queue_full = False
        self._dst_full = False

    # -- toxics -----------------------------------------------------------------------------
    def set_toxics(self, toxics: Sequence[Toxic], rng: random.Random) -> None:
        old = {effect.toxic.name: effect for effect in self.effects}
        effects: list[Effect] = []
        for toxic in toxics:
            effect = old.pop(toxic.name, None)
            if effect is None:
                effect = make_effect(toxic, self, rng)
                effect.start()
            elif effect.toxic != toxic:
                effect.update(toxic)
            effects.append(effect)
        self.effects = effects
        self.active = [effect for effect in effects if effect.enabled]
        for effect in old.values():
            effect.removed()
        if self.queue and self.pump is None and self.dst is not None:
            self._start_pump()

    # -- what effects may do ------------------------------------------------------------------
    def close(self) -> None:
        self.conn.close()

    def reset(self) -> None:
        self.conn.reset()

    def end_stream(self) -> None:
        """Half-close this direction; later bytes are dropped (limit_data)."""
        if not self.ended:
            self.ended = True
            self._send_eof()

    def stop(self) -> None:
        for effect in self.effects:
            effect.stop()
        if self.pump is not None:
            self.pump.cancel()

    # -- input ------------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        self.bytes += len(data)
        if self.active or self.pump is not None or self.queue or self.dst is None:
            self._enqueue(data)
        else:
            self.dst.write(data)

    def feed_eof(self) -> None:
        if self.active or self.pump is not None or self.queue or self.dst is None:
            self._enqueue(_EOF)
        else:
            self._send_eof()

    def _enqueue(self, data: bytes) -> None:
        self.queue.append((data, asyncio.get_running_loop().time()))
        self.queued += len(data)
        if self.queued > _HIGH_WATER:
            self._queue_full = True
            self._update_reading()
        if self.pump is None and self.dst is not None:
            self._start_pump()

    def _start_pump(self) -> None:
        self.pump = asyncio.get_running_loop().create_task(self._run_pump())

    async def _run_pump(self) -> None:
        try:
            while self.queue and not self.conn.closed:
                data, arrived = self.queue.popleft()
                self.queued -= len(data)
                if self._queue_full and self.queued < _LOW_WATER:
                    self._queue_full = False
                    self._update_reading()
                if not data:
                    await self._close_through(tuple(self.active))
                else:
                    await self._through(tuple(self.active), 0, data, arrived)
        finally:
            self.pump = None

    async def _through(self, chain: tuple[Effect, ...], i: int, data: bytes, at: float) -> None:
        if i == len(chain):
            await self._write(data)
            return
        async for piece in chain[i].pieces(data, at):
            await self._through(chain, i + 1, piece, at)

    async def _close_through(self, chain: tuple[Effect, ...]) -> None:
        for effect in chain:
            if not await effect.on_eof():
                return
        self._send_eof()

    # -- output -----------------------------------------------------------------------------
    async def _write(self, data: bytes) -> None:
        if self.dst is None or self.conn.closed or self.ended or not data:
            return
        self.dst.write(data)
        if self._dst_full:
            self.drained = asyncio.get_running_loop().create_future()
            await self.drained

    def _send_eof(self) -> None:
        if self.eof_sent:
            return
        self.eof_sent = True
        if self.dst is None or self.dst.is_closing():
            return
        if self.dst.can_write_eof():
            self.dst.write_eof()
        self.conn.maybe_finished()

    def pause_writing(self) -> None:
        self._dst_full = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._dst_full = False
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        self._update_reading()

    def _update_reading(self) -> None:
        pause = self._queue_full or self._dst_full
        if self.src is None or pause == self._src_paused or self.src.is_closing():
            return
        self._src_paused = pause
        if pause:
            self.src.pause_reading()
        else:
            self.src.resume_reading()


class Connection:
    """A client connection and its upstream connection, joined by two directions."""

    def __init__(self, on_closed: Callable[[Connection], None]) -> None:
        self.on_closed = on_closed
        self.up = Direction(self, "upstream")
        self.down = Direction(self, "downstream")
        self.client: asyncio.Transport | None = None
        self.server: asyncio.Transport | None = None
        self.closed = False

    def direction(self, stream: str) -> Direction:
        return self.up if stream == "upstream" else self.down

    def attach(self, client: asyncio.Transport, server: asyncio.Transport) -> None:
        self.client, self.server = client, server
        self.up.src, self.up.dst = client, server
        self.down.src, self.down.dst = server, client
        for direction in (self.up, self.down):
            direction._update_reading()
            if direction.queue and direction.pump is None:
                direction._start_pump()

    def maybe_finished(self) -> None:
        if self.up.eof_sent and self.down.eof_sent:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.up.stop()
        self.down.stop()
        for transport in (self.client, self.server):
            if transport is not None:
                transport.close()
        self.on_closed(self)

    def abort(self) -> None:
        for transport in (self.client, self.server):
            if transport is not None:
                transport.abort()
        self.close()

    def reset(self) -> None:
        """Close both sides with a TCP RST (SO_LINGER 0)."""
        for transport in (self.client, self.server):
            sock = transport.get_extra_info("socket") if transport is not None else None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.abort()


class ClientSide(asyncio.Protocol):
    """Protocol of the accepted client socket."""

    def __init__(self, conn: Connection, connect: Callable[[ClientSide], None]) -> None:
        self.conn = conn
        self.connect = connect
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.conn.client = self.transport
        self.connect(self)

    def data_received(self, data: bytes) -> None:
        self.conn.up.feed(data)

    def eof_received(self) -> bool:
        self.conn.up.feed_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.close()

    def pause_writing(self) -> None:
        self.conn.down.pause_writing()

    def resume_writing(self) -> None:
        self.conn.down.resume_writing()


class ServerSide(asyncio.Protocol):
    """Protocol of the socket to the upstream server."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def data_received(self, data: bytes) -> None:
        self.conn.down.feed(data)

    def eof_received(self) -> bool:
        self.conn.down.feed_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None or not self.conn.down.queue:
            self.conn.close()

    def pause_writing(self) -> None:
        self.conn.up.pause_writing()

    def resume_writing(self) -> None:
        self.conn.up.resume_writing()
