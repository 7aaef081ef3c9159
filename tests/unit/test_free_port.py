"""runtime.testing.free_port: the ports the tests give their services lie below
the kernel's ephemeral range (so no outgoing connection takes one while its
service restarts), inside the session's CLAIMSCRUB_TEST_PORTS, never twice,
and never one a listener already holds."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from claimscrub.runtime import testing


def _ephemeral_low() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def test_ports_lie_inside_the_session_range_and_below_the_ephemeral_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLAIMSCRUB_TEST_PORTS", "21000-21049")
    ports = [testing.free_port() for _ in range(20)]
    assert all(21000 <= p <= 21049 for p in ports)
    assert all(p < _ephemeral_low() for p in ports)
    assert len(set(ports)) == len(ports)


def test_a_port_a_listener_holds_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        monkeypatch.setenv("CLAIMSCRUB_TEST_PORTS", f"{port}-{port}")
        monkeypatch.setattr(testing, "_ephemeral_low", lambda: 65536)
        with pytest.raises(RuntimeError, match="no free port"):
            testing.free_port()


def test_a_range_that_is_not_lo_hi_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAIMSCRUB_TEST_PORTS", "21000")
    with pytest.raises(ValueError, match="LO-HI"):
        testing.free_port()
