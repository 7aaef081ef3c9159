"""Where the services listen (docs/configuration.md): loopback in local mode,
every interface in production mode, either overridden per variable."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from claimscrub.runtime import metrics
from claimscrub.runtime.settings import Settings, default_bind_host


def _settings(**env: str) -> Settings:
    return Settings.from_env("units", grpc_port=50051, metrics_port=9101, env=env)


def test_local_mode_binds_grpc_and_metrics_to_loopback() -> None:
    for env in ({}, {"CLAIMSCRUB_MODE": "local"}):
        s = _settings(**env)
        assert (s.grpc_host, s.metrics_host) == ("127.0.0.1", "127.0.0.1")


def test_production_mode_binds_every_interface() -> None:
    # (Settings.from_env in production mode also demands TLS; the default alone here.)
    assert default_bind_host({"CLAIMSCRUB_MODE": "production"}) == "0.0.0.0"
    assert default_bind_host({"CLAIMSCRUB_MODE": "local"}) == "127.0.0.1"


def test_each_bind_address_can_be_set() -> None:
    s = _settings(CLAIMSCRUB_GRPC_HOST="0.0.0.0", CLAIMSCRUB_METRICS_HOST="::1")
    assert (s.grpc_host, s.metrics_host) == ("0.0.0.0", "::1")


def test_metrics_server_listens_on_the_given_host_only() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    metrics.serve(port, "127.0.0.1", registry=CollectorRegistry())
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        assert reply.status == 200
    # Another address of this host does not answer: the socket is bound to 127.0.0.1 only.
    with socket.socket() as other, pytest.raises(ConnectionRefusedError):
        other.settimeout(5)
        other.connect(("127.0.0.2", port))
