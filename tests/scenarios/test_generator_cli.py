"""`fakalab generator` and the drill's --bind / --remote-generators: every mistake a person can
make is one line and starts nothing."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from fakalab.cli import cli
from fakalab.scenarios.generator_cli import parse_master, wait_for_master


def one_line_error(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again once the block ends


def test_master_addresses_parse() -> None:
    assert parse_master("10.0.0.5:5557") == ("10.0.0.5", 5557)
    assert parse_master("[::1]:5557") == ("::1", 5557)
    for bad in ("10.0.0.5", ":5557", "host:port", "host:70000"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_master(bad)


def test_a_master_that_is_not_there_is_one_line() -> None:
    port = closed_port()
    line = one_line_error(["generator", "--master", f"127.0.0.1:{port}", "--wait", "0"])
    assert f"no drill master at 127.0.0.1:{port}" in line and "refused" in line
    assert "error: --master nowhere: expected HOST:PORT" in one_line_error(
        ["generator", "--master", "nowhere"])


def test_waiting_for_a_master_ends_once_it_listens() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert wait_for_master("127.0.0.1", server.getsockname()[1], 1.0) is None


def test_remote_generators_need_an_address_of_this_machine() -> None:
    assert "needs --bind ADDRESS" in one_line_error(["drill", "steady",
                                                     "--remote-generators", "1"])
    assert "not a wildcard" in one_line_error(["drill", "steady", "--bind", "0.0.0.0",
                                               "--remote-generators", "1"])
    # 192.0.2.1 (TEST-NET-1) is nobody's address: nothing is sent to it, the bind just fails
    assert "not an address of this machine" in one_line_error(
        ["drill", "steady", "--bind", "192.0.2.1", "--remote-generators", "1"])


def test_a_master_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_error(["drill", "steady", "--bind", "127.0.0.1", "--remote-generators",
                               "1", "--master-port", str(port)])
    assert f"127.0.0.1:{port} for the Locust master (--master-port): port already in use" in line


def test_remote_generators_are_for_the_reference_shop() -> None:
    assert "reference shop only" in one_line_error(
        ["drill", "steady", "--target", "reference-epay", "--bind", "127.0.0.1",
         "--remote-generators", "1"])
