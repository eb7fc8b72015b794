"""What each toxic does to one direction of one live connection.

An `Effect` is the per-connection state of one toxic (its toxicity draw, byte counters, timers).
`pieces()` turns one arriving chunk into the pieces to pass on, sleeping where the toxic says so;
`on_eof()` runs when the sending side closes. The `Conn` protocol is all an effect may do: close
the whole connection, reset it with a TCP RST, or end its own direction (half-close).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from fakalab.chaos.toxics import Toxic

__all__ = ["Conn", "Effect", "make_effect"]


class Conn(Protocol):
    def close(self) -> None: ...

    def reset(self) -> None: ...

    def end_stream(self) -> None: ...


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
        """Return False to swallow the close instead of passing it on."""
        return True


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
    def start(self) -> None:
        if self.enabled and self.toxic.attr("timeout") > 0:
            self._later(self.toxic.attr("timeout"), self.conn.close)

    def removed(self) -> None:
        self.stop()
        if self.enabled:
            self.conn.close()

    async def pieces(self, chunk: bytes, arrived: float) -> AsyncIterator[bytes]:
        return
        yield  # pragma: no cover - makes this an async generator that drops everything

    async def on_eof(self) -> bool:
        return False


class ResetPeer(Effect):
    async def pieces(self, chunk: bytes, arrived: float) -> AsyncIterator[bytes]:
        if self._timer is None:
            self._later(self.toxic.attr("timeout"), self.conn.reset)
        return
        yield  # pragma: no cover


class Slicer(Effect):
    async def pieces(self, chunk: bytes, arrived: float) -> AsyncIterator[bytes]:
        average, variation = self.toxic.attr("average_size"), self.toxic.attr("size_variation")
        if average <= 0:
            yield chunk
            return
        delay = self.toxic.attr("delay") / 1_000_000
        start = 0
        while start < len(chunk):
            jitter = self.rng.randint(-variation, variation) if variation else 0
            size = max(1, average + jitter)
            if start and delay:
                await asyncio.sleep(delay)
            yield chunk[start : start + size]
            start += size


class LimitData(Effect):
    passed = 0

    async def pieces(self, chunk: bytes, arrived: float) -> AsyncIterator[bytes]:
        remaining = self.toxic.attr("bytes") - self.passed
        if remaining > 0:
            piece = chunk[:remaining]
            self.passed += len(piece)
            yield piece
        if self.passed >= self.toxic.attr("bytes"):
            self.conn.end_stream()


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
