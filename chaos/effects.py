"""What each toxic does to one direction of one live connection.

An `Effect` is the per-connection state of one toxic (its toxicity draw, byte counters, timers).
`pieces()` turns one arriving chunk into the pieces to pass on, sleeping where the toxic says so;
`on_eof()` runs when the stream's input ends (the sending side closed). The `Conn` protocol is all
an effect may do: close the whole connection at once, or end its stream where it stands
(`end_after`), as a Toxiproxy toxic does by closing its stub: nothing more passes it, the close
runs through the toxics after it, and at the end of the chain the destination socket is closed,
which ends the other direction too (with an RST where the connection started with a reset_peer).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from fakalab.chaos.toxics import Toxic

__all__ = ["Conn", "Effect", "make_effect", "slice_bounds"]


class Conn(Protocol):
    def close(self) -> None: ...

    def end_after(self, effect: Effect) -> None: ...


class Effect:
    """The noop toxic, and the base of every other one."""

    def __init__(self, toxic: Toxic, conn: Conn, rng: random.Random) -> None:
        self.toxic = toxic
        self.conn = conn
        self.rng = rng
        self.enabled = rng.random() < toxic.toxicity if toxic.toxicity < 1.0 else True
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Called once the effect is attached to a live connection."""

    def update(self, toxic: Toxic) -> None:
        """A PATCH changed the toxic: toxicity is drawn again, counters are kept."""
        self.stop()
        self.toxic = toxic
        self.enabled = self.rng.random() < toxic.toxicity if toxic.toxicity < 1.0 else True
        self.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def removed(self) -> None:
        """The toxic was deleted while this connection was open."""
        self.stop()

    def _later(self, ms: int, action: Callable[[], None]) -> None:
        self._timer = asyncio.get_running_loop().call_later(ms / 1000, action)

    async def pieces(self, chunk: bytes, arrived: float) -> AsyncIterator[bytes]:
        yield chunk

    async def on_eof(self) -> bool:
        """Return False to hold the close back (the effect ends the stream later itself)."""
        return True

    def _end(self) -> None:
        self.conn.end_after(self)


async def _sleep_until(deadline: float) -> None:
    delay = deadline - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)


class Latency(Effect):
    async def pieces(self, chunk: bytes, arrived: float) -> AsyncIterator[bytes]:
        jitter = self.toxic.attr("jitter")
        delay = self.toxic.attr("latency") + (self.rng.uniform(-jitter, jitter) if jitter else 0)
        await _sleep_until(arrived + delay / 1000)
        yield chunk


class Bandwidth(Effect):
    _free_at = 0.0

    async def pieces(self, chunk: bytes, arrived: float) -> AsyncIterator[bytes]:
        rate = self.toxic.attr("rate") * 1000  # bytes per second
        if rate <= 0:
            yield chunk
            return
        step = max(rate // 10, 1)  # pieces of 100 ms worth of data
        loop = asyncio.get_running_loop()
        for i in range(0, len(chunk), step):
            piece = chunk[i : i + step]
            self._free_at = max(loop.time(), self._free_at) + len(piece) / rate
            await _sleep_until(self._free_at)
            yield piece


class SlowClose(Effect):
    async def on_eof(self) -> bool:
        await asyncio.sleep(self.toxic.attr("delay") / 1000)
        return True


class Timeout(Effect):
    """Drops every byte; ends the stream `timeout` ms after it starts (never with 0), or at once
    when its input closes, or when the toxic is removed (its cleanup, whatever the draw)."""

    def start(self) -> None:
        if self.enabled and self.toxic.attr("timeout") > 0:
            self._later(self.toxic.attr("timeout"), self._end)

    def removed(self) -> None:
        self.stop()
        self._end()

    async def pieces(self, chunk: bytes, arrived: float) -> AsyncIterator[bytes]:
        return
        yield  # pragma: no cover - makes this an async generator that drops everything


class ResetPeer(Effect):
    """Drops every byte. The first chunk, or the input's close, arms it: `timeout` ms later it
    ends the stream, which the connection's SO_LINGER 0 turns into an RST. Once armed nothing
    stops it: Toxiproxy sleeps without listening, so an update or a removal waits for the reset
    (here they return at once, and the reset still comes on time)."""

    armed = False

    def _arm(self) -> None:
        if not self.armed:
            self.armed = True
            self._later(self.toxic.attr("timeout"), self._end)

    def update(self, toxic: Toxic) -> None:
        if not self.armed:
            super().update(toxic)

    def removed(self) -> None:
        if not self.armed:
            self.stop()

    async def pieces(self, chunk: bytes, arrived: float) -> AsyncIterator[bytes]:
        self._arm()
        return
        yield  # pragma: no cover

    async def on_eof(self) -> bool:
        self._arm()
        return False


def _wake(waker: asyncio.Future[None]) -> None:
    if not waker.done():
        waker.set_result(None)


def slice_bounds(size: int, average: int, variation: int,
                 rng: random.Random) -> list[tuple[int, int]]:
    """Where the slicer cuts a chunk of `size` bytes, as (start, end) pairs in order.

    Toxiproxy's recursive halving: a segment no longer than `average + variation` is a slice;
    a longer one is cut about in half, the cut moved by a random offset in [-variation,
    variation), and each half is cut again. So with no variation every slice is at most
    `average` (20 000 bytes at 1000 → 32 slices of 625). An average of 0 or less leaves the
    chunk whole; a cut is kept strictly inside its segment.
    """
    if size <= 0:
        return []
    if average <= 0:
        return [(0, size)]
    bounds: list[tuple[int, int]] = []
    todo = [(0, size)]  # a stack: left halves first, so the slices come out in order
    while todo:
        start, end = todo.pop()
        if end - start - average <= variation or end - start < 2:
            bounds.append((start, end))
            continue
        mid = start + (end - start) // 2
        if variation > 0:
            mid += rng.randrange(-variation, variation)
        mid = min(max(mid, start + 1), end - 1)
        todo.append((mid, end))
        todo.append((start, mid))
    return bounds


class Slicer(Effect):
    """Cuts each chunk with `slice_bounds` and waits `delay` µs after every slice (the last one
    too). Updated or removed in the middle of a chunk, it passes the rest of that chunk at once."""

    _interrupted = False
    _waker: asyncio.Future[None] | None = None

    def _interrupt(self) -> None:
        self._interrupted = True
        if self._waker is not None:
            _wake(self._waker)

    def update(self, toxic: Toxic) -> None:
        self._interrupt()
        super().update(toxic)

    def removed(self) -> None:
        self._interrupt()
        super().removed()

    async def _nap(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self._waker = waker = loop.create_future()
        timer = loop.call_later(seconds, _wake, waker)
        try:
            await waker
        finally:
            timer.cancel()
            self._waker = None

    async def pieces(self, chunk: bytes, arrived: float) -> AsyncIterator[bytes]:
        average, variation = self.toxic.attr("average_size"), self.toxic.attr("size_variation")
        delay = self.toxic.attr("delay") / 1_000_000
        self._interrupted = False
        for start, end in slice_bounds(len(chunk), average, variation, self.rng):
            yield chunk[start:end]
            if delay > 0 and not self._interrupted:
                await self._nap(delay)
            if self._interrupted:
                if end < len(chunk):
                    yield chunk[end:]
                return


class LimitData(Effect):
    """Passes exactly `bytes` (counted across updates), then ends the stream: the whole
    connection closes, both directions."""

    passed = 0

    async def pieces(self, chunk: bytes, arrived: float) -> AsyncIterator[bytes]:
        piece = chunk[: max(self.toxic.attr("bytes") - self.passed, 0)]
        if piece:
            self.passed += len(piece)
            yield piece
        if self.passed >= self.toxic.attr("bytes"):
            self._end()


EFFECTS: dict[str, type[Effect]] = {
    "noop": Effect,
    "latency": Latency,
    "bandwidth": Bandwidth,
    "slow_close": SlowClose,
    "timeout": Timeout,
    "reset_peer": ResetPeer,
    "slicer": Slicer,
    "limit_data": LimitData,
}


def make_effect(toxic: Toxic, conn: Conn, rng: random.Random) -> Effect:
    return EFFECTS[toxic.type](toxic, conn, rng)
