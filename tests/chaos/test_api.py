"""The HTTP API over raw HTTP: every route, its codes and bodies, every error."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from fakalab.chaos.api import route


@pytest.fixture
def http(toxiproxy_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=toxiproxy_url, timeout=5) as client:
        yield client


def _create(http: httpx.Client, name: str = "db", **extra: object) -> httpx.Response:
    body = {"name": name, "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0"} | extra
    return http.post("/proxies", json=body)


def _error(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status
    assert response.json() == {"error": message, "status": status}


def test_route_matches_shapes_and_rejects_others() -> None:
    assert route("/proxies/a%2Fb/toxics/t") == (("proxies", "*", "toxics", "*"), ["a/b", "t"])
    assert route("/proxies?x=1") == (("proxies",), [])
    assert route("/proxies/") is None
    assert route("/nothing") is None


def test_version(http: httpx.Client) -> None:
    response = http.get("/version")
    assert response.status_code == 200
    assert response.json()["version"].startswith("2.")


def test_create_proxy_returns_201_with_real_port(http: httpx.Client) -> None:
    response = _create(http)
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "db" and body["upstream"] == "127.0.0.1:1" and body["enabled"] is True
    assert body["toxics"] == []
    assert not body["listen"].endswith(":0")
    with socket.create_connection(("127.0.0.1", int(body["listen"].split(":")[1])), timeout=2):
        pass


def test_create_proxy_disabled_does_not_listen(http: httpx.Client) -> None:
    body = _create(http, enabled=False).json()
    assert body["enabled"] is False


def test_create_proxy_errors(http: httpx.Client) -> None:
    _error(http.post("/proxies", json={"upstream": "x:1"}), 400, "missing required field: name")
    _error(http.post("/proxies", json={"name": "a"}), 400, "missing required field: upstream")
    bad = http.post("/proxies", content=b"{nope")
    assert bad.status_code == 400 and bad.json()["error"].startswith("bad request body: ")
    _error(http.post("/proxies", content=b""), 400, "bad request body: EOF")
    assert _create(http).status_code == 201
    _error(_create(http), 409, "proxy already exists")


def test_create_proxy_bind_failure_is_500(http: httpx.Client) -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    with taken:
        response = _create(http, "busy", listen=f"127.0.0.1:{port}")
    assert response.status_code == 500
    assert response.json()["status"] == 500 and "127.0.0.1" in response.json()["error"]
    assert http.get("/proxies/busy").status_code == 404


def test_list_show_delete_proxy(http: httpx.Client) -> None:
    created = _create(http).json()
    assert http.get("/proxies").json() == {"db": created}
    assert http.get("/proxies/db").json() == created
    deleted = http.delete("/proxies/db")
    assert deleted.status_code == 204 and deleted.content == b""
    _error(http.get("/proxies/db"), 404, "proxy not found")
    _error(http.delete("/proxies/db"), 404, "proxy not found")
    assert http.get("/proxies").json() == {}


def test_update_proxy_patch_and_post(http: httpx.Client) -> None:
    created = _create(http).json()
    disabled = http.patch("/proxies/db", json={"enabled": False, "name": "ignored"})
    assert disabled.status_code == 200
    assert disabled.json() | {"enabled": True} == created
    assert disabled.json()["name"] == "db"
    moved = http.post("/proxies/db", json={"upstream": "127.0.0.1:2", "enabled": True}).json()
    assert moved["upstream"] == "127.0.0.1:2" and moved["enabled"] is True
    _error(http.patch("/proxies/nope", json={}), 404, "proxy not found")
    assert http.patch("/proxies/db", content=b"[").status_code == 400


def test_update_proxy_to_busy_listen_is_500(http: httpx.Client) -> None:
    _create(http)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = f"127.0.0.1:{taken.getsockname()[1]}"
        assert http.patch("/proxies/db", json={"listen": busy}).status_code == 500


def test_toxic_create_defaults_and_200(http: httpx.Client) -> None:
    _create(http)
    response = http.post("/proxies/db/toxics", json={"type": "latency",
                                                     "attributes": {"latency": 10}})
    assert response.status_code == 200
    assert response.json() == {
        "name": "latency_downstream", "type": "latency", "stream": "downstream",
        "toxicity": 1.0, "attributes": {"latency": 10, "jitter": 0},
    }


def test_toxic_errors(http: httpx.Client) -> None:
    _error(http.post("/proxies/x/toxics", json={"type": "noop"}), 404, "proxy not found")
    _create(http)
    _error(http.post("/proxies/db/toxics", json={"type": "bogus"}), 400, "invalid toxic type")
    _error(http.post("/proxies/db/toxics", json={"type": "noop", "stream": "sideways"}), 400,
           "stream was invalid, can be either upstream or downstream")
    assert http.post("/proxies/db/toxics", content=b"{").status_code == 400
    assert http.post("/proxies/db/toxics", json={"type": "noop"}).status_code == 200
    _error(http.post("/proxies/db/toxics", json={"type": "noop"}), 409, "toxic already exists")
    _error(http.get("/proxies/db/toxics/nope"), 404, "toxic not found")
    _error(http.patch("/proxies/db/toxics/nope", json={}), 404, "toxic not found")
    _error(http.delete("/proxies/db/toxics/nope"), 404, "toxic not found")
    _error(http.get("/proxies/x/toxics"), 404, "proxy not found")


def test_toxics_list_upstream_first_then_insertion_order(http: httpx.Client) -> None:
    _create(http)
    for name, stream in (("d1", "downstream"), ("u1", "upstream"), ("d2", "downstream")):
        http.post("/proxies/db/toxics", json={"name": name, "type": "noop", "stream": stream})
    assert [t["name"] for t in http.get("/proxies/db/toxics").json()] == ["u1", "d1", "d2"]
    assert [t["name"] for t in http.get("/proxies/db").json()["toxics"]] == ["u1", "d1", "d2"]


def test_toxic_update_merges_attributes(http: httpx.Client) -> None:
    _create(http)
    http.post("/proxies/db/toxics", json={"name": "lag", "type": "latency",
                                          "attributes": {"latency": 10, "jitter": 2}})
    patched = http.patch("/proxies/db/toxics/lag", json={
        "attributes": {"jitter": 5}, "toxicity": 0.5, "name": "x", "type": "noop",
        "stream": "upstream",
    })
    assert patched.status_code == 200
    assert patched.json() == {"name": "lag", "type": "latency", "stream": "downstream",
                              "toxicity": 0.5, "attributes": {"latency": 10, "jitter": 5}}
    posted = http.post("/proxies/db/toxics/lag", json={"attributes": {"latency": 20}})
    assert posted.json()["attributes"] == {"latency": 20, "jitter": 5}
    assert http.get("/proxies/db/toxics/lag").json() == posted.json()
    assert http.delete("/proxies/db/toxics/lag").status_code == 204
    assert http.get("/proxies/db/toxics").json() == []


def test_populate_creates_keeps_and_replaces(http: httpx.Client) -> None:
    first = http.post("/populate", json=[{"name": "a", "upstream": "127.0.0.1:1"},
                                         {"name": "b", "upstream": "127.0.0.1:2"}])
    assert first.status_code == 201
    proxies = {p["name"]: p for p in first.json()["proxies"]}
    assert set(proxies) == {"a", "b"}
    http.post("/proxies/a/toxics", json={"type": "noop"})
    http.post("/proxies/b/toxics", json={"type": "noop"})
    again = http.post("/populate", json=[
        {"name": "a", "upstream": "127.0.0.1:1", "listen": proxies["a"]["listen"]},  # unchanged
        {"name": "b", "upstream": "127.0.0.1:9", "listen": proxies["b"]["listen"]},  # replaced
    ])
    assert again.status_code == 201
    assert len(http.get("/proxies/a/toxics").json()) == 1
    assert http.get("/proxies/b/toxics").json() == []
    assert http.get("/proxies/b").json()["upstream"] == "127.0.0.1:9"


def test_populate_errors_report_status_and_created_so_far(http: httpx.Client) -> None:
    missing = http.post("/populate", json=[{"name": "a", "upstream": "x:1"}, {"name": "b"}])
    assert missing.status_code == 400
    assert missing.json() == {"error": "missing required field: upstream", "status": 400,
                              "proxies": []}
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = f"127.0.0.1:{taken.getsockname()[1]}"
        partial = http.post("/populate", json=[{"name": "ok", "upstream": "x:1"},
                                               {"name": "bad", "upstream": "x:1", "listen": busy}])
    assert partial.status_code == 500
    assert [p["name"] for p in partial.json()["proxies"]] == ["ok"]
    assert "ok" in http.get("/proxies").json()  # not atomic
    assert http.post("/populate", content=b"{").status_code == 400


def test_reset_enables_proxies_and_removes_toxics(http: httpx.Client) -> None:
    _create(http)
    http.post("/proxies/db/toxics", json={"type": "latency"})
    http.patch("/proxies/db", json={"enabled": False})
    response = http.post("/reset")
    assert response.status_code == 204 and response.content == b""
    proxy = http.get("/proxies/db").json()
    assert proxy["enabled"] is True and proxy["toxics"] == []


def test_wrong_method_is_405_unknown_path_404(http: httpx.Client) -> None:
    assert http.put("/proxies").status_code == 405
    assert http.delete("/version").status_code == 405
    assert http.get("/reset").status_code == 405
    assert http.put("/proxies/db/toxics/x").status_code == 405
    assert http.get("/nowhere").status_code == 404


def test_browsers_are_refused(http: httpx.Client) -> None:
    response = http.get("/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"})
    assert response.status_code == 403


def test_metrics_counts_bytes(http: httpx.Client, echo: object) -> None:
    from tests.chaos.conftest import TcpServer, connect, recv_exactly

    assert isinstance(echo, TcpServer)
    proxy = http.post("/proxies", json={"name": "e", "upstream": echo.address}).json()
    with connect(proxy) as sock:
        sock.sendall(b"x" * 100)
        assert recv_exactly(sock, 100) == b"x" * 100
    text = http.get("/metrics").text
    assert 'toxiproxy_proxy_received_bytes_total{direction="upstream"' in text
    assert any(line.startswith("toxiproxy_proxy_received_bytes_total") and
               'direction="downstream"' in line and line.endswith(" 100")
               for line in text.splitlines())


def test_metrics_404_when_disabled() -> None:
    from fakalab.chaos.server import ToxiproxyThread

    with ToxiproxyThread() as url:
        assert httpx.get(f"{url}/metrics").status_code == 404


def test_keep_alive_serves_several_requests_on_one_connection(toxiproxy_url: str) -> None:
    host, port = toxiproxy_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        request = b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n"
        sock.sendall(request * 2)
        data = b""
        while data.count(b"HTTP/1.1 200") < 2:
            data += sock.recv(4096)


def test_expect_continue_and_chunked_bodies(toxiproxy_url: str) -> None:
    host, port = toxiproxy_url.removeprefix("http://").split(":")
    body = b'{"name": "c", "upstream": "127.0.0.1:1"}'
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"POST /proxies HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked)
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n")
    assert data.endswith(b'"toxics": []}')
