"""The test host: a namespace on a veth pair, always deleted — also when the block fails."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fakalab.scenarios.netns import NetnsUnavailable, list_namespaces, test_host, unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


def test_the_namespace_reaches_this_side_and_is_gone_after_a_failure() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        try:
            with test_host() as host:
                assert host.address.startswith("10.251.")
                assert host.name in list_namespaces()
                sleeper = subprocess.Popen(host.exec(["sleep", "60"]))
                reached = subprocess.run(host.exec(["ip", "route", "get", host.address]),
                                         capture_output=True, text=True, timeout=10)
                assert host.peer_address in reached.stdout
                raise RuntimeError("boom")
        except NetnsUnavailable as exc:
            pytest.skip(f"no network namespace: {exc}")
    assert sleeper.wait(10) != 0  # killed with its namespace
    assert host.name not in list_namespaces()
    assert not Path(f"/sys/class/net/{host.veth}").exists()
