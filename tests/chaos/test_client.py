"""The client adapter and toxiproxy-python itself against the embedded server."""

from __future__ import annotations

import socket

import pytest
import toxiproxy

from fakalab.chaos.client import ToxiproxyClient, ToxiproxyError, connect_or_start, toxiproxy_url
from tests.chaos.conftest import TcpServer, connect, recv_exactly


def test_library_drives_the_embedded_server(library: toxiproxy.Toxiproxy, echo: TcpServer) -> None:
    proxy = library.create(upstream=echo.address, name="echo", listen="127.0.0.1:0")
    assert library.running()
    assert set(library.proxies()) == {"echo"}
    proxy.add_toxic(type="latency", attributes={"latency": 5})
    assert set(proxy.toxics()) == {"latency_downstream"}
    assert proxy.toxics()["latency_downstream"].attributes == {"latency": 5, "jitter": 0}
    with connect({"listen": proxy.listen}) as sock:
        sock.sendall(b"hi")
        assert recv_exactly(sock, 2) == b"hi"
    with proxy.down():
        assert library.get_proxy("echo").enabled is False
    assert library.get_proxy("echo").enabled is True
    proxy.destroy_toxic("latency_downstream")
    assert proxy.toxics() == {}
    assert library.reset()
    library.destroy_all()
    assert library.proxies() == {}


def test_library_populate(library: toxiproxy.Toxiproxy) -> None:
    created = library.populate([{"name": "a", "upstream": "127.0.0.1:1",
                                 "listen": "127.0.0.1:0"}])
    assert [p.name for p in created] == ["a"]
    with pytest.raises(toxiproxy.api.ProxyExists):
        library.create(upstream="127.0.0.1:1", name="a")


def test_client_errors_carry_status_and_message(client: ToxiproxyClient) -> None:
    client.create_proxy("a", "127.0.0.1:1")
    with pytest.raises(ToxiproxyError) as exists:
        client.create_proxy("a", "127.0.0.1:1")
    assert exists.value.status == 409
    client.add_toxic("a", "noop")
    with pytest.raises(ToxiproxyError) as toxic_exists:
        client.add_toxic("a", "noop")
    assert toxic_exists.value.status == 409 and "toxic already exists" in str(toxic_exists.value)
    with pytest.raises(ToxiproxyError) as missing:
        client.get_proxy("nope")
    assert missing.value.status == 404 and "proxy not found" in missing.value.message
    with pytest.raises(ToxiproxyError) as bad:
        client.add_toxic("a", "bogus")
    assert bad.value.status == 400 and "invalid toxic type" in bad.value.message


def test_client_bind_failure_is_a_500_error_not_a_keyerror(client: ToxiproxyClient) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        with pytest.raises(ToxiproxyError) as failed:
            client.create_proxy("b", "127.0.0.1:1", listen=f"127.0.0.1:{taken.getsockname()[1]}")
    assert failed.value.status == 500


def test_client_updates_toxics_and_proxies(client: ToxiproxyClient) -> None:
    client.create_proxy("a", "127.0.0.1:1")
    client.add_toxic("a", "latency", name="lag", attributes={"latency": 10})
    updated = client.update_toxic("a", "lag", attributes={"jitter": 2}, toxicity=0.5)
    assert updated["attributes"] == {"latency": 10, "jitter": 2} and updated["toxicity"] == 0.5
    assert client.toxics("a") == [updated]
    client.set_enabled("a", False)
    assert client.get_proxy("a")["enabled"] is False
    client.reset()
    assert client.get_proxy("a") | {"listen": ""} == {
        "name": "a", "listen": "", "upstream": "127.0.0.1:1", "enabled": True, "toxics": []}
    assert [p["name"] for p in client.populate([{"name": "b", "upstream": "x:1"}])] == ["b"]
    client.delete_proxy("b")
    assert set(client.proxies()) == {"a"}
    assert client.version().startswith("2.")


def test_unreachable_server_says_so() -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    with pytest.raises(ToxiproxyError) as caught:
        ToxiproxyClient(f"http://127.0.0.1:{port}", timeout=2).version()
    assert caught.value.status == 0 and "cannot reach Toxiproxy" in str(caught.value)


def test_slow_server_times_out() -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:  # accepts, never answers
        client = ToxiproxyClient(f"127.0.0.1:{sock.getsockname()[1]}", timeout=0.3)
        with pytest.raises(ToxiproxyError) as caught:
            client.proxies()
    assert "no answer in 0.3 s" in str(caught.value)


def test_connect_or_start(monkeypatch: pytest.MonkeyPatch, toxiproxy_url: str) -> None:
    monkeypatch.delenv("TOXIPROXY_URL", raising=False)
    with connect_or_start(None) as embedded:
        assert embedded.url != toxiproxy_url and embedded.proxies() == {}
    with connect_or_start(toxiproxy_url) as external:
        assert external.url == toxiproxy_url
    monkeypatch.setenv("TOXIPROXY_URL", toxiproxy_url)
    assert toxiproxy_url_of_env() == toxiproxy_url
    with connect_or_start() as from_env:
        assert from_env.url == toxiproxy_url


def toxiproxy_url_of_env() -> str | None:
    return toxiproxy_url(None)
