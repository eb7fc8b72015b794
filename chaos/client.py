"""A Toxiproxy client: toxiproxy-python behind one thin adapter.

toxiproxy-python speaks the API right but keeps its server address in class attributes, sends
requests without timeouts, cannot update a toxic and reports errors poorly (ProxyExists for a
toxic conflict, KeyError on a 500). `ToxiproxyClient` runs each call of the library with its
`requests` swapped for a transport bound to this client's URL and timeout, which raises
`ToxiproxyError(status, message)` for every failed request; it adds toxic updates (PATCH) and
server-side `/populate`. The same client drives the embedded server and a real one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
import toxiproxy
import toxiproxy.api
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import ProxyExists

__all__ = ["ToxiproxyClient", "ToxiproxyError", "connect_or_start", "toxiproxy_url"]

_LIBRARY_LOCK = threading.RLock()  # toxiproxy-python's address is global state


class ToxiproxyError(Exception):
    """A failed Toxiproxy request; status 0 when the server could not be reached."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{message} (HTTP {status})" if status else message)
        self.status = status
        self.message = message


def _error_from(response: requests.Response, method: str, url: str) -> ToxiproxyError:
    try:
        message = str(response.json().get("error") or response.text)
    except (ValueError, AttributeError):
        message = response.text.strip() or response.reason
    return ToxiproxyError(response.status_code, f"{method} {url}: {message}")


class _Transport:
    """Stands in for the `requests` module inside toxiproxy-python during one call."""

    def __init__(self, session: requests.Session, timeout: float) -> None:
        self.session = session
        self.timeout = timeout

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise ToxiproxyError(0, f"{method} {url}: no answer in {self.timeout:g} s") from None
        except requests.RequestException as exc:
            found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(exc))
            reason = found.group(1) if found else type(exc).__name__
            raise ToxiproxyError(0, f"cannot reach Toxiproxy at {url}: {reason}") from None
        if response.status_code >= 400:
            raise _error_from(response, method, url)
        return response

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", url, **kwargs)


class ToxiproxyClient:
    """Synchronous client of one Toxiproxy server (embedded or real)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if not parts.hostname:
            raise ToxiproxyError(0, f"bad Toxiproxy URL {url!r}")
        self.url = f"http://{parts.hostname}:{parts.port or 8474}"
        self.host, self.port = parts.hostname, parts.port or 8474
        self.transport = _Transport(requests.Session(), timeout)

    @contextlib.contextmanager
    def _library(self) -> Iterator[toxiproxy.Toxiproxy]:
        with _LIBRARY_LOCK:
            saved = (APIConsumer.host, APIConsumer.port, toxiproxy.api.requests)
            APIConsumer.host, APIConsumer.port = self.host, self.port
            toxiproxy.api.requests = self.transport
            try:
                yield toxiproxy.Toxiproxy()
            except ProxyExists as exc:
                raise ToxiproxyError(409, f"proxy already exists: {exc}") from None
            finally:
                APIConsumer.host, APIConsumer.port, toxiproxy.api.requests = saved

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        response = self.transport.request(method, self.url + path, json=body)
        return response.json() if response.content else None

    # -- server ------------------------------------------------------------------------------
    def version(self) -> str:
        with self._library():
            text = str(APIConsumer.get("/version").text)
        try:
            return str(json.loads(text)["version"])
        except (ValueError, KeyError, TypeError):
            return text.strip()  # Toxiproxy before 2.6 answers plain text

    def reset(self) -> None:
        with self._library() as server:
            server.reset()

    def populate(self, proxies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result: dict[str, list[dict[str, Any]]] = self._json("POST", "/populate", proxies)
        return result["proxies"]

    # -- proxies -----------------------------------------------------------------------------
    def proxies(self) -> dict[str, dict[str, Any]]:
        with self._library():
            result: dict[str, dict[str, Any]] = APIConsumer.get("/proxies").json()
            return result

    def get_proxy(self, name: str) -> dict[str, Any]:
        with self._library():
            result: dict[str, Any] = APIConsumer.get(f"/proxies/{name}").json()
            return result

    def create_proxy(
        self, name: str, upstream: str, listen: str = "127.0.0.1:0", enabled: bool = True
    ) -> dict[str, Any]:
        with self._library() as server:
            proxy = server.create(upstream=upstream, name=name, listen=listen, enabled=enabled)
        return {"name": proxy.name, "listen": proxy.listen, "upstream": proxy.upstream,
                "enabled": proxy.enabled}

    def delete_proxy(self, name: str) -> None:
        self._json("DELETE", f"/proxies/{name}")

    def set_enabled(self, name: str, enabled: bool) -> None:
        proxy = self.get_proxy(name)
        with self._library():
            lib_proxy = toxiproxy.Proxy(**{k: proxy[k] for k in ("name", "upstream", "enabled",
                                                                  "listen")})
            if enabled:
                lib_proxy.enable()
            else:
                lib_proxy.disable()

    # -- toxics ------------------------------------------------------------------------------
    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        with self._library():
            result: list[dict[str, Any]] = APIConsumer.get(f"/proxies/{proxy}/toxics").json()
            return result

    def add_toxic(
        self,
        proxy: str,
        type: str,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        body = {"name": name or f"{type}_{stream}", "type": type, "stream": stream,
                "toxicity": toxicity, "attributes": attributes or {}}
        with self._library():
            result: dict[str, Any] = APIConsumer.post(f"/proxies/{proxy}/toxics", json=body).json()
            return result

    def update_toxic(
        self,
        proxy: str,
        name: str,
        attributes: dict[str, int] | None = None,
        toxicity: float | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = attributes
        if toxicity is not None:
            body["toxicity"] = toxicity
        result: dict[str, Any] = self._json("PATCH", f"/proxies/{proxy}/toxics/{name}", body)
        return result

    def remove_toxic(self, proxy: str, name: str) -> None:
        with self._library():
            toxiproxy.Proxy(name=proxy, upstream="", enabled=True, listen="").destroy_toxic(name)


def toxiproxy_url(url: str | None = None) -> str | None:
    """The URL given, else `$TOXIPROXY_URL`, else None (meaning: start the embedded server)."""
    return url or os.environ.get("TOXIPROXY_URL") or None


@contextlib.contextmanager
def connect_or_start(url: str | None = None, timeout: float = 5.0) -> Iterator[ToxiproxyClient]:
    """A client of the server at `url` (or $TOXIPROXY_URL); else of a new embedded server.

    Raises ToxiproxyError when an external server does not answer.
    """
    url = toxiproxy_url(url)
    if url is not None:
        client = ToxiproxyClient(url, timeout)
        client.version()
        yield client
        return
    from fakalab.chaos.server import ToxiproxyThread

    with ToxiproxyThread() as embedded_url:
        yield ToxiproxyClient(embedded_url, timeout)
