"""One proxied TCP connection: two directions, each passing bytes through its toxics.

With no toxic in effect on a direction, chunks are written straight to the other side (the fast
path costs one `write` per chunk). Otherwise they queue and a pump task passes each one through
the effects in order. Flow control: the reading side is paused while the writing side's buffer is
full, or while too much data waits in the queue.

Closes follow Toxiproxy's links: a direction ends when its input's close (or a toxic ending the
stream) has run through its chain; then its destination socket is closed outright, not shut down
for writing, and the other direction's input ends with it. So a FIN from either side, a timeout
or a limit_data closes both sides; no connection stays half-open. A connection that starts with a
reset_peer toxic on either stream has SO_LINGER 0 on both sockets (whatever the toxicity draw, for
its whole life), so each of those closes goes out as an RST.
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
_EOF = b""  # queued to mark the end of the input
# A queued item: the data (b"" for the end), when it arrived, and for an end that a toxic made,
# the effects after that toxic (None: the input closed, the whole chain sees the close).
_Item = tuple[bytes, float, tuple[Effect, ...] | None]


class Direction:
    """Bytes of one stream (`upstream`: client → server, `downstream`: server → client)."""

    def __init__(self, conn: Connection, stream: str) -> None:
        self.conn = conn
        self.stream = stream
        self.src: asyncio.Transport | None = None
        self.dst: asyncio.Transport | None = None
        self.effects: list[Effect] = []
        self.active: list[Effect] = []
        self.queue: deque[_Item] = deque()
        self.queued = 0
        self.pump: asyncio.Task[None] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.bytes = 0
        self.input_closed = False  # the source closed, or the other direction closed it
        self.ending = False  # a toxic ended the stream: later bytes are dropped
        self.finished = False  # the end went through the chain: dst is closed
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
        for effect in old.values():  # while the chain still holds them (end_after needs it)
            effect.removed()
        self.effects = effects
        self.active = [effect for effect in effects if effect.enabled]
        if self.queue and self.pump is None and self.dst is not None:
            self._start_pump()

    # -- what effects may do ------------------------------------------------------------------
    def close(self) -> None:
        self.conn.close()

    def end_after(self, effect: Effect) -> None:
        """`effect` ends the stream: nothing more passes it; the effects after it see the
        close, then the direction finishes (what a Toxiproxy toxic closing its stub does)."""
        if self.ending or self.finished or self.conn.closed:
            return
        self.ending = True
        if effect in self.effects:
            after = self.effects[self.effects.index(effect) + 1 :]
            tail = tuple(e for e in after if e.enabled)
        else:
            tail = ()
        self.queue.clear()  # bytes not yet through the chain never reach the toxic's output
        self.queued = 0
        if self._queue_full:
            self._queue_full = False
            self._update_reading()
        self.queue.append((_EOF, asyncio.get_running_loop().time(), tail))
        if self.pump is None and self.dst is not None:
            self._start_pump()

    def stop(self) -> None:
        for effect in self.effects:
            effect.stop()
        if self.pump is not None:
            self.pump.cancel()

    # -- input ------------------------------------------------------------------------------
    def _fast(self) -> bool:
        return not (self.active or self.pump is not None or self.queue or self.dst is None)

    def feed(self, data: bytes) -> None:
        self.bytes += len(data)
        if self.ending or self.finished or self.conn.closed:
            return
        if self._fast():
            cast(asyncio.Transport, self.dst).write(data)
        else:
            self._enqueue(data)

    def feed_eof(self) -> None:
        """The input ended: the source closed, or the other direction closed it."""
        if self.input_closed or self.ending or self.finished or self.conn.closed:
            return
        self.input_closed = True
        if self._fast():
            self._finish()
        else:
            self._enqueue(_EOF)

    def _enqueue(self, data: bytes) -> None:
        self.queue.append((data, asyncio.get_running_loop().time(), None))
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
            while self.queue and not self.conn.closed and not self.finished:
                data, arrived, tail = self.queue.popleft()
                self.queued -= len(data)
                if self._queue_full and self.queued < _LOW_WATER:
                    self._queue_full = False
                    self._update_reading()
                if tail is not None:
                    await self._close_through(tuple(e for e in tail if e in self.effects))
                elif not data:
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
        self._finish()

    # -- output -----------------------------------------------------------------------------
    async def _write(self, data: bytes) -> None:
        if self.dst is None or self.conn.closed or self.finished or not data:
            return
        self.dst.write(data)
        if self._dst_full:
            self.drained = asyncio.get_running_loop().create_future()
            await self.drained

    def _finish(self) -> None:
        if not self.finished:
            self.finished = True
            self.conn.finished(self)

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
        self.linger_zero = False  # closes send an RST (a reset_peer was there at the start)

    def direction(self, stream: str) -> Direction:
        return self.up if stream == "upstream" else self.down

    def attach(self, client: asyncio.Transport, server: asyncio.Transport) -> None:
        self.client, self.server = client, server
        self.up.src, self.up.dst = client, server
        self.down.src, self.down.dst = server, client
        self.linger_zero = any(effect.toxic.type == "reset_peer"
                               for direction in (self.up, self.down)
                               for effect in direction.effects)
        for transport in (client, server):
            _set_option(transport, socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as Go does
        for direction in (self.up, self.down):
            direction._update_reading()
            if direction.queue and direction.pump is None:
                direction._start_pump()

    def finished(self, direction: Direction) -> None:
        """`direction` has ended: close its destination; that ends the other direction's input."""
        if direction.dst is not None:
            self._close_transport(direction.dst)
        other = self.down if direction is self.up else self.up
        if other.finished:
            self.close()
        else:
            other.feed_eof()

    def _close_transport(self, transport: asyncio.Transport) -> None:
        if self.linger_zero:
            _set_option(transport, socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.close()  # buffered bytes are still written first

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.up.stop()
        self.down.stop()
        for transport in (self.client, self.server):
            if transport is not None:
                self._close_transport(transport)
        self.on_closed(self)

    def abort(self) -> None:
        for transport in (self.client, self.server):
            if transport is not None:
                if self.linger_zero:
                    _set_option(transport, socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
                transport.abort()
        self.close()


def _set_option(transport: asyncio.Transport, level: int, option: int, value: int | bytes) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(level, option, value)


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
        if exc is not None:  # a reset or an error: no close handshake to pass on
            self.conn.close()
        else:  # closed by us (the downstream direction ended) or by the connection
            self.conn.up.feed_eof()

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
        if exc is not None:
            self.conn.close()
        else:
            self.conn.down.feed_eof()

    def pause_writing(self) -> None:
        self.conn.up.pause_writing()

    def resume_writing(self) -> None:
        self.conn.up.resume_writing()
