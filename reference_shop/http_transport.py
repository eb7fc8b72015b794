"""How the shop's upstream clients put a request on the wire.

``Upstream`` (``upstream.py``) owns timeouts, retries, the breaker and health; it hands each
attempt to a :class:`Transport` and gets back a :class:`Reply` — status, body text and
``json()`` — or one of two exceptions: :class:`TransportTimeout` or :class:`TransportError`.

:class:`AiohttpTransport` is the production one: ``bench/bench_shop.py`` measured the shop's
outbound calls as its largest CPU cost, and aiohttp's client spends about a sixth of httpx's
CPU per request on loopback. :class:`HttpxTransport` wraps an ``httpx.AsyncClient``, so unit
tests keep using ``httpx.MockTransport``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import httpx

__all__ = ["AiohttpTransport", "HttpxTransport", "Reply", "Transport", "TransportError",
           "TransportTimeout"]

JSON = {"content-type": "application/json"}
# below uvicorn's 5 s keep-alive, and by enough that a reply slowed by a latency fault does not
# leave the client reusing a connection the server is about to close
KEEPALIVE_S = 2.0


@dataclass(frozen=True)
class Reply:
    status_code: int
    text: str

    def json(self) -> Any:
        """The body as JSON (``ValueError`` if it is not)."""
        return json.loads(self.text)


class TransportTimeout(Exception):
    """No complete answer within the attempt's timeout."""


class TransportError(Exception):
    """The request could not be sent or its answer not read (refused, reset, malformed)."""


class Transport(Protocol):
    async def request(self, method: str, url: str, body: dict[str, Any] | None,
                      timeout: float, headers: Mapping[str, str] | None = None) -> Reply: ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """One pooled aiohttp session, made on first use (it must be made inside the loop)."""

    def __init__(self, max_connections: int = 200) -> None:
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.max_connections,
                                             keepalive_timeout=KEEPALIVE_S,
                                             use_dns_cache=True)
            self._session = aiohttp.ClientSession(connector=connector,
                                                  auto_decompress=False,
                                                  skip_auto_headers=("User-Agent",))
        return self._session

    async def request(self, method: str, url: str, body: dict[str, Any] | None,
                      timeout: float, headers: Mapping[str, str] | None = None) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        sent = JSON if data is not None else None
        if headers:  # a traceparent (reference_shop/tracing.py)
            sent = {**(sent or {}), **headers}
        try:
            async with self._open().request(
                    method, url, data=data, headers=sent,
                    timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                raw = await response.read()
                return Reply(response.status, raw.decode("utf-8", "replace"))
        except TimeoutError as exc:
            raise TransportTimeout(str(exc) or "timed out") from exc
        except aiohttp.ClientError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        except (OSError, ValueError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class HttpxTransport:
    """An ``httpx.AsyncClient`` as a transport (tests pass one over ``httpx.MockTransport``)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def request(self, method: str, url: str, body: dict[str, Any] | None,
                      timeout: float, headers: Mapping[str, str] | None = None) -> Reply:
        try:
            response = await self.client.request(method, url, json=body, timeout=timeout,
                                                 headers=headers)
        except httpx.TimeoutException as exc:
            raise TransportTimeout(str(exc) or "timed out") from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return Reply(response.status_code, response.text)

    async def aclose(self) -> None:
        await self.client.aclose()
