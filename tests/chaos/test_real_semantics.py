"""The embedded server does what real Toxiproxy 2.12.0 does, seen from raw sockets.

The four numbered cases were probed against a real `toxiproxy-server` 2.12.0 built from source,
side by side with the embedded one; the other tests follow from its Go code (`link.go`,
`toxic_collection.go`, `toxics/`). The expectations are the real server's. The upstreams are small
threaded servers on 127.0.0.1 (`TcpServer`), the client a plain blocking socket. Timing windows
are wide: the lower bounds follow from the toxics' own sleeps, the upper ones only catch "much too
late".
"""

from __future__ import annotations

import contextlib
import itertools
import random
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from fakalab.chaos.client import ToxiproxyClient
from tests.chaos.conftest import TcpServer, connect, recv_all, recv_exactly


@contextlib.contextmanager
def _upstream(handle: Callable[[socket.socket], None]) -> Iterator[TcpServer]:
    server = TcpServer(handle)
    try:
        yield server
    finally:
        server.close()


def _answer_and_close(conn: socket.socket) -> None:
    """Read the request, answer it, close: the upstream is the first to close."""
    conn.recv(100)
    conn.sendall(b"answer")


def _bye_and_close(conn: socket.socket) -> None:
    """Answer at once without waiting for a request, then close."""
    conn.sendall(b"bye")


def _read_until_closed(sock: socket.socket) -> tuple[bytes, BaseException | None]:
    """Everything received until EOF or a reset, and the reset (or None for a clean EOF)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError as exc:
        return data, exc
    return data, None


# -- 1. reset_peer: the upstream answers and closes first --------------------------------------


def test_reset_peer_resets_after_its_timeout_when_the_upstream_closes_first(
        client: ToxiproxyClient) -> None:
    """Real: no data, then an RST at ~503 ms. (The embedded server used to close cleanly at
    once, so the client never saw a reset.)"""
    with _upstream(_answer_and_close) as upstream:
        proxy = client.create_proxy("p", upstream.address)
        client.add_toxic("p", "reset_peer", attributes={"timeout": 500})
        with connect(proxy, timeout=3.0) as sock:
            start = time.perf_counter()
            sock.sendall(b"hi")
            data, reset = _read_until_closed(sock)
            elapsed = time.perf_counter() - start
    assert data == b""  # reset_peer drops what it holds
    assert isinstance(reset, ConnectionResetError), "expected an RST, got a clean close"
    assert 0.4 <= elapsed < 2.0, elapsed


def test_reset_peer_with_toxicity_zero_still_resets_the_close(client: ToxiproxyClient) -> None:
    """Real: SO_LINGER 0 is set on both sockets when the connection starts with a reset_peer in
    its chain, whatever the toxicity draw, so even a clean close goes out as an RST."""
    with _upstream(_answer_and_close) as upstream:
        proxy = client.create_proxy("p", upstream.address)
        client.add_toxic("p", "reset_peer", toxicity=0.0, attributes={"timeout": 5000})
        with connect(proxy, timeout=10.0) as sock:
            start = time.perf_counter()
            sock.sendall(b"hi")
            data, reset = _read_until_closed(sock)
            elapsed = time.perf_counter() - start
    assert data == b"answer"  # the toxic was not drawn: data passes
    assert isinstance(reset, ConnectionResetError)
    assert elapsed < 2.5, elapsed  # not the 5 s timeout: it is the upstream's close, reset


def test_reset_peer_added_to_an_open_connection_closes_cleanly(client: ToxiproxyClient,
                                                                echo: TcpServer) -> None:
    """Real: the linger is only set when a connection starts, so a reset_peer added later ends
    the connection at its timeout with a clean close (FIN), not an RST."""
    proxy = client.create_proxy("p", echo.address)
    with connect(proxy, timeout=3.0) as sock:
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"
        client.add_toxic("p", "reset_peer", attributes={"timeout": 100})
        start = time.perf_counter()
        sock.sendall(b"ping")
        data, reset = _read_until_closed(sock)
        elapsed = time.perf_counter() - start
    assert (data, reset) == (b"", None)
    assert 0.08 <= elapsed < 2.0, elapsed


# -- 2. timeout: the upstream closes --------------------------------------------------------


@pytest.mark.parametrize("timeout", [5000, 0])
def test_timeout_closes_at_once_when_the_upstream_closes(client: ToxiproxyClient,
                                                         timeout: int) -> None:
    """Real: the toxic sees its input close and closes the client's connection at once (~1 ms),
    with 1000 as with 0. (The embedded server used to hold it until the timeout, or forever.)
    A 5 s timeout here, so that "at once" can have a wide margin on a busy machine."""
    with _upstream(_bye_and_close) as upstream:
        proxy = client.create_proxy("p", upstream.address)
        client.add_toxic("p", "timeout", attributes={"timeout": timeout})
        with connect(proxy, timeout=10.0) as sock:
            start = time.perf_counter()
            data, reset = _read_until_closed(sock)
            elapsed = time.perf_counter() - start
    assert (data, reset) == (b"", None)  # the data is dropped, the close passes
    assert elapsed < 2.5, elapsed


def test_removing_a_timeout_closes_even_when_it_was_not_drawn(client: ToxiproxyClient,
                                                              echo: TcpServer) -> None:
    """Real: removing a timeout toxic runs its cleanup, which closes the stream, whatever the
    toxicity draw was."""
    proxy = client.create_proxy("p", echo.address)
    client.add_toxic("p", "timeout", toxicity=0.0, attributes={"timeout": 0})
    with connect(proxy, timeout=2.0) as sock:
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"  # not drawn: data passes
        client.remove_toxic("p", "timeout_downstream")
        assert _read_until_closed(sock) == (b"", None)


# -- 3. limit_data on the upstream stream ----------------------------------------------------


class _Recorder:
    """An upstream that answers the first bytes it gets and records all it received."""

    def __init__(self) -> None:
        self.received = b""
        self.done = threading.Event()

    def __call__(self, conn: socket.socket) -> None:
        try:
            answered = False
            while chunk := conn.recv(65536):
                self.received += chunk
                if not answered:
                    answered = True
                    conn.sendall(b"reply")
        finally:
            self.done.set()


def test_limit_data_upstream_closes_the_whole_connection(client: ToxiproxyClient) -> None:
    """Real: past the limit the link closes, which ends both directions: the upstream gets
    exactly `bytes`, the client nothing. (The embedded server used to cut only client→upstream,
    so the upstream's reply still arrived.)"""
    recorder = _Recorder()
    with _upstream(recorder) as upstream:
        proxy = client.create_proxy("p", upstream.address)
        client.add_toxic("p", "limit_data", stream="upstream", attributes={"bytes": 10})
        with connect(proxy, timeout=3.0) as sock:
            sock.sendall(b"u" * 100)
            assert _read_until_closed(sock) == (b"", None)
        assert recorder.done.wait(3.0)
    assert recorder.received == b"u" * 10


# -- 4. slicer: recursive halving ------------------------------------------------------------


def test_slice_bounds_halve_until_at_most_average_plus_variation() -> None:
    from fakalab.chaos.effects import slice_bounds

    rng = random.Random(7)
    # The probed case: 20 000 bytes, average 1000, no variation → 32 slices of 625 bytes.
    assert slice_bounds(20_000, 1000, 0, rng) == [(i * 625, (i + 1) * 625) for i in range(32)]
    assert slice_bounds(1000, 1000, 0, rng) == [(0, 1000)]
    assert slice_bounds(1001, 1000, 0, rng) == [(0, 500), (500, 1001)]
    assert slice_bounds(0, 1000, 0, rng) == []
    assert slice_bounds(50, 0, 0, rng) == [(0, 50)]  # no average: the chunk passes whole
    for size, average, variation in [(20_000, 1000, 300), (4096, 64, 8), (999, 10, 9),
                                     (300, 5, 10), (1, 1, 0), (77, 3, -2)]:
        bounds = slice_bounds(size, average, variation, rng)
        assert bounds[0][0] == 0 and bounds[-1][1] == size
        assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
        assert all(end - start > 0 for start, end in bounds)
        assert all(end - start <= max(average + variation, 1) for start, end in bounds)


def _send_20k_then_wait(conn: socket.socket) -> None:
    conn.recv(100)
    conn.sendall(bytes(range(250)) * 80)  # 20 000 bytes in one write
    recv_all(conn)


def test_slicer_slices_are_at_most_the_average(client: ToxiproxyClient) -> None:
    """Real: 20 000 bytes with average 1000, variation 0, delay 10 ms come as 32 slices of 625 B
    in ~333 ms (a delay after every slice). (The embedded server used to cut ~1000 B slices and
    take ~193 ms.) Receive sizes are read on the client; an occasional pair coalesced by a late
    reader is allowed for, hence the median and count rather than every size."""
    payload = bytes(range(250)) * 80
    with _upstream(_send_20k_then_wait) as upstream:
        proxy = client.create_proxy("p", upstream.address)
        client.add_toxic("p", "slicer", attributes={"average_size": 1000, "size_variation": 0,
                                                   "delay": 10_000})
        with connect(proxy, timeout=3.0) as sock:
            start = time.perf_counter()
            sock.sendall(b"go")
            sizes: list[int] = []
            data = b""
            while len(data) < len(payload):
                chunk = sock.recv(65536)
                assert chunk, "closed early"
                sizes.append(len(chunk))
                data += chunk
            elapsed = time.perf_counter() - start
    assert data == payload
    assert statistics.median(sizes) <= 700, sizes
    assert len(sizes) >= 24, sizes
    assert 0.3 <= elapsed < 3.0, elapsed  # at least 31 delays of 10 ms before the last slice


def test_slicer_removed_mid_chunk_passes_the_rest_at_once(client: ToxiproxyClient) -> None:
    """Real: an interrupted slicer writes the rest of its chunk in one piece and stops."""
    payload = bytes(range(250)) * 80
    with _upstream(_send_20k_then_wait) as upstream:
        proxy = client.create_proxy("p", upstream.address)
        client.add_toxic("p", "slicer", attributes={"average_size": 100, "size_variation": 0,
                                                   "delay": 200_000})  # 256 slices, 51 s
        with connect(proxy, timeout=3.0) as sock:
            sock.sendall(b"go")
            data = sock.recv(65536)
            assert 0 < len(data) <= 100
            client.remove_toxic("p", "slicer_downstream")
            deadline = time.monotonic() + 1.5  # the rest comes at once; sliced, it would take 51 s
            while len(data) < len(payload) and time.monotonic() < deadline:
                data += sock.recv(65536)
    assert data == payload


# -- closes: Toxiproxy keeps no half-open connection ----------------------------------------


def _reply_after_eof(conn: socket.socket) -> None:
    request = recv_all(conn)
    with contextlib.suppress(OSError):
        conn.sendall(b"late reply to " + request)


def test_a_half_close_from_the_client_closes_both_sides(client: ToxiproxyClient) -> None:
    """Real: when one direction ends, its destination socket is closed (not shut down for
    writing), which ends the other direction too: a reply sent after the client's FIN is lost."""
    with _upstream(_reply_after_eof) as upstream:
        proxy = client.create_proxy("p", upstream.address)
        with connect(proxy, timeout=3.0) as sock:
            sock.sendall(b"request")
            sock.shutdown(socket.SHUT_WR)
            data, _ = _read_until_closed(sock)
    assert data == b""
