"""Starting and stopping the embedded server: in-process, thread, subprocess, config."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest

from fakalab.chaos.server import (
    EmbeddedToxiproxy,
    ToxiproxySubprocess,
    ToxiproxyThread,
    load_config,
)
from fakalab.chaos.toxics import ApiError


async def test_in_process_start_with_config_and_stop() -> None:
    server = EmbeddedToxiproxy("127.0.0.1", 0)
    await server.start([{"name": "a", "upstream": "127.0.0.1:1"}])
    try:
        assert server.port != 0 and server.url == f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient() as http:
            proxies = (await http.get(f"{server.url}/proxies")).json()
        assert list(proxies) == ["a"]
        listen = proxies["a"]["listen"]
    finally:
        await server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", int(listen.rsplit(":", 1)[1])), timeout=2)


async def test_bad_config_stops_the_server() -> None:
    server = EmbeddedToxiproxy("127.0.0.1", 0)
    with pytest.raises(ApiError) as caught:
        await server.start([{"name": "a"}])
    assert caught.value.message == "missing required field: upstream"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2)


async def test_port_in_use_raises_oserror() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        with pytest.raises(OSError):
            await EmbeddedToxiproxy("127.0.0.1", taken.getsockname()[1]).start()


def test_thread_and_subprocess_serve_the_api() -> None:
    thread = ToxiproxyThread()
    with thread as url:
        assert httpx.get(f"{url}/version").status_code == 200
        created = thread.call(thread.server.proxies.create({"name": "t", "upstream": "x:1"}))
        assert created.name == "t"
    with ToxiproxySubprocess(metrics=True) as url:
        assert httpx.get(f"{url}/metrics").status_code == 200


def test_load_config(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps([{"name": "a", "upstream": "x:1"}]))
    assert load_config(path) == [{"name": "a", "upstream": "x:1"}]
    path.write_text("{}")
    with pytest.raises(ValueError, match="expected a JSON list"):
        load_config(path)
