"""Transport security settings and gRPC TLS on real servers on localhost.

Settings: plaintext is the local default; CLAIMSCRUB_MODE=production refuses
plaintext Kafka and gRPC, unauthenticated clients and missing or default
secrets, and no refusal or repr ever carries a secret's value.
gRPC: a server that requires client certificates refuses a plaintext client,
a TLS client without a certificate and one whose certificate comes from
another CA, and answers one with a valid certificate; its plaintext health
port answers health checks and nothing else.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from claimscrub.necessity.beneficiary import DEV_HMAC_KEY, hmac_key
from claimscrub.runtime import grpc_client
from claimscrub.runtime.devcerts import generate
from claimscrub.runtime.env import SettingsError
from claimscrub.runtime.grpc_server import start_grpc_server
from claimscrub.runtime.grpc_tls import ClientTls, ServerTls
from claimscrub.runtime.kafka_config import KafkaSecurity
from claimscrub.runtime.secrets import Secret, read_secret
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.testing import REPO_ROOT, free_port
from claimscrub.units.check import load_units_check
from claimscrub.units.servicer import registrar
from claimscrub.v1 import claim_pb2, units_service_pb2_grpc
from tests.contract_example import units_example

PASSWORD = "pw-" + "q" * 30
HMAC = "hmac-" + "z" * 40


def _tls_env(certs: Path, name: str = "units") -> dict[str, str]:
    return {
        "CLAIMSCRUB_GRPC_TLS_CERT": str(certs / f"{name}.pem"),
        "CLAIMSCRUB_GRPC_TLS_KEY": str(certs / f"{name}-key.pem"),
        "CLAIMSCRUB_GRPC_TLS_CA": str(certs / "ca.pem"),
        "CLAIMSCRUB_GRPC_REQUIRE_CLIENT_CERT": "true",
    }


def _kafka_env(certs: Path) -> dict[str, str]:
    return {
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_USERNAME": "units",
        "KAFKA_SASL_PASSWORD": PASSWORD,
        "KAFKA_SSL_CA_FILE": str(certs / "ca.pem"),
    }


def _production(certs: Path) -> dict[str, str]:
    return {"CLAIMSCRUB_MODE": "production", **_kafka_env(certs), **_tls_env(certs)}


def _settings(env: dict[str, str]) -> Settings:
    return Settings.from_env("units", grpc_port=50051, metrics_port=9101, env=env)


# --- settings ---


def test_plaintext_is_the_local_default() -> None:
    s = _settings({})
    assert s.kafka.protocol == "PLAINTEXT"
    assert s.kafka.librdkafka_config() == {"security.protocol": "plaintext"}
    assert s.grpc_tls is None and s.grpc_client is None and s.health_port is None


def test_production_accepts_authenticated_tls_everywhere(certs: Path) -> None:
    s = _settings(_production(certs))
    assert s.kafka.protocol == "SASL_SSL" and s.kafka.sasl_mechanism == "SCRAM-SHA-512"
    assert s.grpc_tls is not None and s.grpc_tls.require_client_cert
    assert s.grpc_client is not None and s.grpc_client.cert_chain is not None
    config = s.kafka.librdkafka_config()
    assert config["security.protocol"] == "sasl_ssl" and config["sasl.mechanism"] == (
        "SCRAM-SHA-512"
    )
    assert config["ssl.endpoint.identification.algorithm"] == "https"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}, "KAFKA_SECURITY_PROTOCOL=PLAINTEXT"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL"}, "the client would not authenticate"),
        ({"KAFKA_SASL_PASSWORD": ""}, "needs KAFKA_SASL_PASSWORD"),
        ({"KAFKA_SSL_CHECK_HOSTNAME": "false"}, "KAFKA_SSL_CHECK_HOSTNAME=false"),
        ({"CLAIMSCRUB_GRPC_TLS_CERT": "", "CLAIMSCRUB_GRPC_TLS_KEY": ""}, "gRPC without TLS"),
        ({"CLAIMSCRUB_GRPC_REQUIRE_CLIENT_CERT": "false"}, "without client certificates"),
    ],
)
def test_production_refuses_plaintext_and_unauthenticated_transports(
    certs: Path, change: dict[str, str], reason: str
) -> None:
    with pytest.raises(SettingsError) as err:
        _settings({**_production(certs), **change})
    assert reason in str(err.value)
    assert PASSWORD not in str(err.value)


def test_production_refuses_a_missing_default_or_short_hmac_key(tmp_path: Path) -> None:
    prod = {"CLAIMSCRUB_MODE": "production"}
    for env in (prod, {**prod, "CLAIMSCRUB_HMAC_KEY": DEV_HMAC_KEY.decode()}, {
        **prod, "CLAIMSCRUB_HMAC_KEY": "short"
    }):  # fmt: skip
        with pytest.raises(SettingsError) as err:
            hmac_key(env)
        assert DEV_HMAC_KEY.decode() not in str(err.value) and "short" not in str(err.value)
    key_file = tmp_path / "hmac"
    key_file.write_text(HMAC + "\n")
    assert hmac_key({**prod, "CLAIMSCRUB_HMAC_KEY_FILE": str(key_file)}) == (HMAC.encode(), False)
    # Locally the development key stands in (the service warns).
    assert hmac_key({}) == (DEV_HMAC_KEY, True)


def test_secrets_come_from_a_variable_or_a_file_and_never_print(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text(PASSWORD + "\n")
    from_file = read_secret({"X_FILE": str(path)}, "X")
    assert from_file == Secret(PASSWORD.encode())
    assert PASSWORD not in repr(from_file) and PASSWORD not in str(from_file)
    assert PASSWORD not in repr(KafkaSecurity.from_env(_kafka_env_for_repr(tmp_path)))
    with pytest.raises(SettingsError, match="not both"):
        read_secret({"X": PASSWORD, "X_FILE": str(path)}, "X")
    with pytest.raises(SettingsError, match="cannot be read") as err:
        read_secret({"X_FILE": str(tmp_path / "missing")}, "X")
    assert PASSWORD not in str(err.value)


def _kafka_env_for_repr(tmp_path: Path) -> dict[str, str]:
    return {
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_USERNAME": "units",
        "KAFKA_SASL_PASSWORD": PASSWORD,
    }


def test_a_service_in_production_with_plaintext_kafka_exits_2_with_the_reason(
    certs: Path,
) -> None:
    env = {"PATH": "/usr/bin:/bin", **_production(certs), "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
    done = subprocess.run(
        [sys.executable, "-m", "claimscrub.units.main"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 2
    assert "CLAIMSCRUB_MODE=production refuses to start: KAFKA_SECURITY_PROTOCOL=PLAINTEXT" in (
        done.stderr
    )


def test_the_cli_in_production_refuses_plaintext_kafka(tmp_path: Path) -> None:
    claims = REPO_ROOT / "examples/claims.json"
    env = {"PATH": "/usr/bin:/bin", "CLAIMSCRUB_MODE": "production"}
    done = subprocess.run(
        [sys.executable, "-m", "claimscrub.cli.main", "submit", str(claims)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 2
    assert "configuration error" in done.stderr and "PLAINTEXT" in done.stderr


# --- gRPC over TLS, real servers on localhost ---

UNITS_CLAIM = units_example("TLS-1")

Scenario = Callable[[int, int], Awaitable[None]]


def _serve(certs: Path, scenario: Scenario) -> None:
    """A units gRPC server requiring client certificates, with a plaintext health port."""
    tls = ServerTls.from_env(_tls_env(certs))
    assert tls is not None

    async def main() -> None:
        health_port = free_port()
        handle = await start_grpc_server(
            "127.0.0.1",
            0,
            registrar(load_units_check(None, None), "tls-test"),
            tls=tls,
            health_port=health_port,
        )
        try:
            await scenario(handle.port, health_port)
        finally:
            await handle.stop(0)

    asyncio.run(main())


def _client(certs: Path, name: str | None) -> ClientTls:
    env = {"CLAIMSCRUB_GRPC_CLIENT_CA": str(certs / "ca.pem")}
    if name is not None:
        env["CLAIMSCRUB_GRPC_CLIENT_CERT"] = str(certs / f"{name}.pem")
        env["CLAIMSCRUB_GRPC_CLIENT_KEY"] = str(certs / f"{name}-key.pem")
    client = ClientTls.from_env(env)
    assert client is not None
    return client


async def _check(port: int, tls: ClientTls | bool) -> Any:
    claim = json_format.ParseDict(UNITS_CLAIM, claim_pb2.Claim())
    async with grpc_client.aio_channel(f"127.0.0.1:{port}", tls=tls) as channel:
        return await units_service_pb2_grpc.UnitsServiceStub(channel).Check(claim, timeout=5)


async def _refused(port: int, tls: ClientTls | bool) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _check(port, tls)
    code: grpc.StatusCode = err.value.code()
    return code


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("other-ca")
    generate(directory, names=["necessity"], ca_name="some other CA")
    return directory


def test_mtls_refuses_clients_without_a_valid_certificate_and_answers_one_with(
    certs: Path, other_ca: Path
) -> None:
    async def scenario(port: int, _health: int) -> None:
        # A client cert signed by another CA, trusting our server's CA all the same.
        foreign = ClientTls(
            (certs / "ca.pem").read_bytes(),
            (other_ca / "necessity.pem").read_bytes(),
            Secret((other_ca / "necessity-key.pem").read_bytes()),
            None,
        )
        assert await _refused(port, False) == grpc.StatusCode.UNAVAILABLE
        assert await _refused(port, _client(certs, None)) == grpc.StatusCode.UNAVAILABLE
        assert await _refused(port, foreign) == grpc.StatusCode.UNAVAILABLE
        # A valid certificate of a principal the policy does not let call Check.
        assert await _refused(port, _client(certs, "necessity")) == (
            grpc.StatusCode.PERMISSION_DENIED
        )
        reply = await _check(port, _client(certs, "aggregator"))
        assert reply.claim_id == "TLS-1"
        # Contract §3's example: 30 timed minutes support 2 units, 3 were billed.
        assert [e.code for e in reply.edits] == ["UNITS_EXCEED_TIME"]

    _serve(certs, scenario)


def test_a_client_refuses_a_server_whose_certificate_it_cannot_verify(
    certs: Path, other_ca: Path
) -> None:
    async def scenario(port: int, _health: int) -> None:
        # Our own valid certificate, but trusting only the other CA.
        doubting = ClientTls(
            (other_ca / "ca.pem").read_bytes(),
            (certs / "necessity.pem").read_bytes(),
            Secret((certs / "necessity-key.pem").read_bytes()),
            None,
        )
        assert await _refused(port, doubting) == grpc.StatusCode.UNAVAILABLE

    _serve(certs, scenario)


def test_the_plaintext_health_port_answers_health_and_nothing_else(certs: Path) -> None:
    async def scenario(port: int, health_port: int) -> None:
        target = f"127.0.0.1:{health_port}"
        async with grpc.aio.insecure_channel(target) as channel:
            for name in ("", "claimscrub.v1.UnitsService"):
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=name), timeout=5
                )
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert await _refused(health_port, False) == grpc.StatusCode.UNIMPLEMENTED

    _serve(certs, scenario)


def test_the_healthcheck_command_uses_the_environment_s_client_certificate(certs: Path) -> None:
    async def scenario(port: int, health_port: int) -> None:
        base = [sys.executable, "-m", "claimscrub.runtime.healthcheck"]
        env = {"PATH": "/usr/bin:/bin", **_tls_env(certs, "necessity")}
        runs = {
            "mtls": [*base, f"127.0.0.1:{port}"],
            "plain-on-tls": [*base, f"127.0.0.1:{port}", "--plaintext"],
            "health-port": [*base, f"127.0.0.1:{health_port}", "--plaintext"],
        }
        codes = {}
        for label, cmd in runs.items():
            proc = await asyncio.create_subprocess_exec(*cmd, env=env, cwd=REPO_ROOT)
            codes[label] = await proc.wait()
        assert codes == {"mtls": 0, "plain-on-tls": 1, "health-port": 0}

    _serve(certs, scenario)
