"""Each toxic's effect, measured through the embedded server on real TCP connections."""

from __future__ import annotations

import contextlib
import socket
import statistics
import time

import pytest

from fakalab.chaos.client import ToxiproxyClient
from tests.chaos.conftest import TcpServer, connect, recv_all, recv_exactly


def _proxy(client: ToxiproxyClient, upstream: TcpServer, name: str = "p") -> dict[str, object]:
    return client.create_proxy(name, upstream.address)


def _round_trip(sock: socket.socket, payload: bytes = b"ping") -> float:
    start = time.perf_counter()
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    return time.perf_counter() - start


def _median_rtt_ms(sock: socket.socket, samples: int = 5) -> float:
    return statistics.median(_round_trip(sock) for _ in range(samples)) * 1000


def test_no_toxic_passes_bytes_intact(client: ToxiproxyClient, echo: TcpServer) -> None:
    proxy = _proxy(client, echo)
    payload = bytes(range(256)) * 8192  # 2 MiB: exercises flow control both ways
    with connect(proxy) as sock:
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_latency_adds_the_setting(client: ToxiproxyClient, echo: TcpServer, stream: str) -> None:
    proxy = _proxy(client, echo)
    with connect(proxy) as sock:
        baseline = _median_rtt_ms(sock)
        client.add_toxic("p", "latency", stream=stream, attributes={"latency": 60})
        delayed = _median_rtt_ms(sock)
    # a delay is never shorter than the setting; how much longer depends on the machine's load
    assert delayed - baseline >= 60 - 5 and delayed - baseline <= 60 + 300, (baseline, delayed)


def test_latency_jitter_spreads_within_bounds(client: ToxiproxyClient, echo: TcpServer) -> None:
    proxy = _proxy(client, echo)
    client.add_toxic("p", "latency", attributes={"latency": 50, "jitter": 20})
    with connect(proxy) as sock:
        samples = [_round_trip(sock) * 1000 for _ in range(12)]
    assert min(samples) >= 30 - 1 and max(samples) <= 70 + 300, samples  # never below 30
    assert max(samples) - min(samples) > 5, samples


def test_bandwidth_limits_throughput(client: ToxiproxyClient, echo: TcpServer) -> None:
    proxy = _proxy(client, echo)
    client.add_toxic("p", "bandwidth", attributes={"rate": 100})  # 100 KB/s downstream
    payload = b"b" * 50_000
    with connect(proxy) as sock:
        start = time.perf_counter()
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
        elapsed = time.perf_counter() - start
    rate = len(payload) / elapsed / 1000
    assert 25 <= rate <= 110, rate  # never above the limit; below it on a busy machine


def test_limit_data_passes_exactly_then_closes(client: ToxiproxyClient, echo: TcpServer) -> None:
    proxy = _proxy(client, echo)
    client.add_toxic("p", "limit_data", attributes={"bytes": 1000})
    with connect(proxy) as sock:
        sock.sendall(b"d" * 5000)
        assert recv_all(sock) == b"d" * 1000


def test_limit_data_upstream_closes_both_directions(client: ToxiproxyClient,
                                                   echo: TcpServer) -> None:
    # As in Toxiproxy 2.12: at the limit the whole connection closes, so the echo of the 10
    # bytes that passed never comes back (test_real_semantics checks what the upstream got).
    proxy = _proxy(client, echo)
    client.add_toxic("p", "limit_data", stream="upstream", attributes={"bytes": 10})
    with connect(proxy) as sock:
        sock.sendall(b"u" * 100)
        assert recv_all(sock) == b""


def test_reset_peer_resets_the_connection(client: ToxiproxyClient, echo: TcpServer) -> None:
    proxy = _proxy(client, echo)
    client.add_toxic("p", "reset_peer", attributes={"timeout": 50})
    with connect(proxy) as sock:
        start = time.perf_counter()
        sock.sendall(b"hello")
        with pytest.raises(ConnectionResetError):
            sock.recv(100)
        assert time.perf_counter() - start >= 0.045


def test_timeout_drops_data_then_closes(client: ToxiproxyClient, echo: TcpServer) -> None:
    proxy = _proxy(client, echo)
    client.add_toxic("p", "timeout", attributes={"timeout": 200})
    with connect(proxy) as sock:
        start = time.perf_counter()
        sock.sendall(b"hello")
        assert sock.recv(100) == b""
        assert time.perf_counter() - start >= 0.18


def test_timeout_zero_holds_until_the_toxic_is_removed(client: ToxiproxyClient,
                                                       echo: TcpServer) -> None:
    proxy = _proxy(client, echo)
    client.add_toxic("p", "timeout", attributes={"timeout": 0})
    with connect(proxy, timeout=0.3) as sock:
        sock.sendall(b"hello")
        with pytest.raises(TimeoutError):
            sock.recv(100)
        sock.settimeout(5)
        client.remove_toxic("p", "timeout_downstream")
        assert sock.recv(100) == b""


def _bye(conn: socket.socket) -> None:
    conn.sendall(b"bye")


@pytest.mark.parametrize(("delay", "low", "high"), [(0, 0, 0.1), (250, 0.24, 1.0)])
def test_slow_close_holds_the_close(client: ToxiproxyClient, delay: int, low: float,
                                    high: float) -> None:
    server = TcpServer(_bye)
    try:
        proxy = _proxy(client, server)
        client.add_toxic("p", "slow_close", attributes={"delay": delay})
        with connect(proxy) as sock:
            start = time.perf_counter()
            assert recv_all(sock) == b"bye"
            assert low <= time.perf_counter() - start <= high
    finally:
        server.close()


def test_slicer_delivers_intact_data_in_pieces(client: ToxiproxyClient, echo: TcpServer) -> None:
    proxy = _proxy(client, echo)
    client.add_toxic("p", "slicer", attributes={"average_size": 10, "size_variation": 4,
                                               "delay": 2000})
    payload = bytes(range(200)) * 5
    with connect(proxy) as sock:
        start = time.perf_counter()
        sock.sendall(payload)
        pieces = []
        while sum(map(len, pieces)) < len(payload):
            pieces.append(sock.recv(65536))
        elapsed = time.perf_counter() - start
    assert b"".join(pieces) == payload
    assert len(pieces) > 5 and elapsed >= 0.1  # ~100 pieces, 2 ms apart


def test_noop_changes_nothing(client: ToxiproxyClient, echo: TcpServer) -> None:
    proxy = _proxy(client, echo)
    client.add_toxic("p", "noop")
    with connect(proxy) as sock:
        assert _round_trip(sock, b"x" * 1000) < 0.5


def test_disabled_proxy_refuses_and_closes_connections(client: ToxiproxyClient,
                                                       echo: TcpServer) -> None:
    proxy = _proxy(client, echo)
    with connect(proxy) as sock:
        _round_trip(sock)
        client.set_enabled("p", False)
        assert sock.recv(10) == b""
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)
    client.set_enabled("p", True)
    with connect(proxy) as sock:
        _round_trip(sock)


@pytest.mark.parametrize(("toxicity", "delayed"), [(0.0, False), (1.0, True)])
def test_toxicity_zero_and_one(client: ToxiproxyClient, echo: TcpServer, toxicity: float,
                               delayed: bool) -> None:
    proxy = _proxy(client, echo)
    client.add_toxic("p", "latency", toxicity=toxicity, attributes={"latency": 400})
    for _ in range(3):
        with connect(proxy) as sock:
            assert (_round_trip(sock) >= 0.2) is delayed  # 0.4 s or not at all


def test_toxicity_is_drawn_per_connection(client: ToxiproxyClient, echo: TcpServer) -> None:
    proxy = _proxy(client, echo)
    client.add_toxic("p", "latency", toxicity=0.5, attributes={"latency": 300})
    outcomes = []
    for _ in range(24):
        with connect(proxy) as sock:
            first, second = _round_trip(sock), _round_trip(sock)
        assert (first >= 0.15) == (second >= 0.15)  # one draw for the connection's life
        outcomes.append(first >= 0.15)
    assert 0 < sum(outcomes) < len(outcomes)


def test_toxics_added_and_removed_apply_to_open_connections(client: ToxiproxyClient,
                                                            echo: TcpServer) -> None:
    proxy = _proxy(client, echo)
    with connect(proxy) as sock:
        assert _round_trip(sock) < 0.2
        client.add_toxic("p", "latency", name="lag", attributes={"latency": 400})
        assert _round_trip(sock) >= 0.39
        client.update_toxic("p", "lag", attributes={"latency": 800})
        assert _round_trip(sock) >= 0.79
        client.remove_toxic("p", "lag")
        assert _round_trip(sock) < 0.4


def test_unreachable_upstream_closes_the_client(client: ToxiproxyClient) -> None:
    proxy = client.create_proxy("dead", "127.0.0.1:1")
    with connect(proxy) as sock:
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(10) == b""
