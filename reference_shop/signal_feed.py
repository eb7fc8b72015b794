"""The shop's subscription to its providers' status pages: each provider's push
(``/api/v2/stream``, server-sent events), reconnected when it breaks, and ``summary.json``
polled every ``provider_poll_s`` as the fallback; what arrived is kept in ``ProviderSignals``
and, when it is news, appended to ``provider_signals_log`` (the run directory's
``provider_signals.csv``)."""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

import httpx

from fakalab.contract.rundir import PROVIDER_SIGNAL_COLUMNS
from fakalab.reference_shop.provider_signals import (
    ProviderReport,
    ProviderSignals,
    parse_summary,
    sse_events,
)

__all__ = ["SignalFeed"]

log = logging.getLogger("fakalab.signals")


class SignalFeed:
    def __init__(self, signals: ProviderSignals, urls: Mapping[str, str],
                 log_path: str | None = None, *, poll_s: float = 5.0,
                 reconnect_s: float = 1.0, http: httpx.AsyncClient | None = None) -> None:
        self.signals = signals
        self.urls = {name: url.rstrip("/") for name, url in urls.items()}
        self.log_path = Path(log_path) if log_path else None
        self.poll_s = poll_s
        self.reconnect_s = reconnect_s
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=None))
        self.connects: dict[str, int] = dict.fromkeys(self.urls, 0)
        self.listeners: list[Callable[[ProviderReport], None]] = []  # hear each piece of news

    def loops(self) -> list[Coroutine[Any, Any, None]]:
        return [c for name in self.urls for c in (self.stream(name), self.poll(name))]

    def record(self, report: ProviderReport) -> None:
        if not self.signals.apply(report):
            return
        for listener in self.listeners:
            listener(report)
        if self.log_path is None:
            return
        new = not self.log_path.exists()
        with self.log_path.open("a", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=PROVIDER_SIGNAL_COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(report.row())

    async def poll_once(self, name: str) -> None:
        response = await self.http.get(f"{self.urls[name]}/api/v2/summary.json", timeout=5.0)
        response.raise_for_status()
        self.record(parse_summary(name, response.json(), time.time(), "poll"))

    async def _poll_quietly(self, name: str) -> None:
        """One poll; a provider that cannot answer is logged, not raised (it is polled again)."""
        try:
            await self.poll_once(name)
        except (httpx.HTTPError, ValueError) as exc:
            log.debug("polling %s: %s", name, exc)

    async def poll(self, name: str) -> None:
        while True:
            await self._poll_quietly(name)
            await asyncio.sleep(self.poll_s)

    async def stream(self, name: str) -> None:
        """Follow the push; when it breaks, ask summary.json at once and reconnect."""
        while True:
            try:
                await self.follow(name)
            except (httpx.HTTPError, ValueError) as exc:
                log.debug("stream of %s: %s", name, exc)
            await self._poll_quietly(name)
            await asyncio.sleep(self.reconnect_s)

    async def follow(self, name: str) -> None:
        async with self.http.stream("GET", f"{self.urls[name]}/api/v2/stream") as response:
            response.raise_for_status()
            self.connects[name] += 1
            lines: list[str] = []
            async for line in response.aiter_lines():
                lines.append(line)
                if line:
                    continue
                for event, data in sse_events(lines):
                    if event == "summary":
                        self.record(parse_summary(name, json.loads(data), time.time(), "stream"))
                lines = []

    async def aclose(self) -> None:
        await self.http.aclose()
