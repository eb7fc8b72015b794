"""One send per response: a transport wrapper that joins the writes made in one turn of the
event loop.

uvicorn writes a response's head and its body with two ``transport.write`` calls, which uvloop
turns into two ``send`` system calls and two TCP segments — under load the shop spent about a
fifth of its CPU in those writes (py-spy, bench/bench_shop.py). The wrapper keeps the writes of
the current turn and sends them together at the end of it (``loop.call_soon``): one system call
per response, and pipelined responses share one. ``close`` sends what is kept first; ``abort``
drops it, as the transport itself would.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["CoalescingTransport"]


class CoalescingTransport:
    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._kept: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._kept:
            self._loop.call_soon(self._send)
        self._kept.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _send(self) -> None:
        kept, self._kept = self._kept, []
        if kept and not self._transport.is_closing():
            self._transport.write(kept[0] if len(kept) == 1 else b"".join(kept))

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(k) for k in self._kept)

    def close(self) -> None:
        self._send()
        self._transport.close()

    def abort(self) -> None:
        self._kept = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's own
        return getattr(self._transport, name)
