"""The running pipeline for integration tests: every service of PIPELINE as a
real process on the session's broker, started once and shared. The example
enrollment records are on providers.enrollment before the services start.

For the secured broker (``secure_kafka``): the deployment's HMAC key file and
the environment a service runs with as its own principal (production mode,
gRPC mTLS), shared by the modules that start secured services."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from claimscrub.runtime.pipeline import PIPELINE
from claimscrub.runtime.testing import LocalKafka, ServiceProcess, free_port
from tests.integration.helpers import prepare_pipeline, started

# The principal each service connects to the secured broker as, and how:
# redaction and enrollment by certificate, the others by SCRAM.
VIA = {"redaction": "ssl", "enrollment": "ssl"}


@pytest.fixture(scope="session")
def services(
    kafka: LocalKafka, tmp_path_factory: pytest.TempPathFactory, examples_dir: Path
) -> Iterator[dict[str, ServiceProcess]]:
    log_dir = tmp_path_factory.mktemp("services")
    ports, env = prepare_pipeline(kafka, examples_dir, dict(PIPELINE))
    env["CLAIMSCRUB_ENROLLMENT_TIMEOUT_SECONDS"] = "1"
    procs = {
        name: ServiceProcess(name, module, *ports[name], kafka, log_dir, env)
        for name, module in PIPELINE
    }
    with started(procs) as running:
        yield running


@pytest.fixture(scope="session")
def hmac_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The secured deployment's HMAC key (claim tokens, sealed state)."""
    import secrets

    path = tmp_path_factory.mktemp("hmac") / "hmac.key"
    path.write_text(secrets.token_urlsafe(48) + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def secure_service_env(
    secure_kafka: LocalKafka, certs: Path, hmac_file: Path
) -> Callable[[str], dict[str, str]]:
    """The environment service ``name`` runs with on the secured broker: its
    own Kafka principal, production mode, gRPC mTLS with its certificate."""

    def env(name: str) -> dict[str, str]:
        return {
            **secure_kafka.client_env(name, VIA.get(name, "sasl")),
            "CLAIMSCRUB_MODE": "production",
            "CLAIMSCRUB_GRPC_TLS_CERT": str(certs / f"{name}.pem"),
            "CLAIMSCRUB_GRPC_TLS_KEY": str(certs / f"{name}-key.pem"),
            "CLAIMSCRUB_GRPC_TLS_CA": str(certs / "ca.pem"),
            "CLAIMSCRUB_GRPC_REQUIRE_CLIENT_CERT": "true",
            "CLAIMSCRUB_HEALTH_PORT": str(free_port()),
            "CLAIMSCRUB_HMAC_KEY_FILE": str(hmac_file),
        }

    return env
