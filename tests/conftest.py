"""Shared fixtures: a real Kafka broker and real service processes.

The broker is started once per test session on its own port
(CLAIMSCRUB_TEST_KAFKA_PORT, default 19092) and data directory, so the
tests never touch a developer's `make up` broker on 9092. The secured broker
(TLS, SCRAM users, ACLs) starts only for the tests that ask for it, on
CLAIMSCRUB_TEST_SECURE_KAFKA_PORT (default the plain port + 10; it also
takes the next two ports for its controller and its mTLS listener).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from claimscrub.runtime.testing import REPO_ROOT, LocalKafka
from tests.brokers import base_port, running

EXAMPLES = REPO_ROOT / "examples"


@pytest.fixture(scope="session")
def kafka() -> Iterator[LocalKafka]:
    port = base_port()
    broker = LocalKafka(port=port, run_dir=REPO_ROOT / ".run" / f"test-kafka-{port}")
    with running(broker):
        yield broker


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Throwaway CA, certificates and SCRAM passwords (``make certs``'s files)."""
    from claimscrub.runtime.devcerts import generate

    directory = tmp_path_factory.mktemp("certs")
    generate(directory)
    return directory


@pytest.fixture(scope="session")
def secure_kafka(certs: Path) -> Iterator[LocalKafka]:
    port = int(os.environ.get("CLAIMSCRUB_TEST_SECURE_KAFKA_PORT", str(base_port() + 10)))
    broker = LocalKafka(
        port=port,
        run_dir=REPO_ROOT / ".run" / f"test-kafka-secure-{port}",
        secure=True,
        certs_dir=certs,
    )
    with running(broker):
        yield broker


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES
