"""Shared fixtures: a real Kafka broker and real service processes.

The broker is started once per test session on its own port
(CLAIMSCRUB_TEST_KAFKA_PORT, default 19092) and data directory, so the
tests never touch a developer's `make up` broker on 9092.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from claimscrub.runtime.testing import REPO_ROOT, LocalKafka

EXAMPLES = REPO_ROOT / "examples"


@pytest.fixture(scope="session")
def kafka() -> Iterator[LocalKafka]:
    port = int(os.environ.get("CLAIMSCRUB_TEST_KAFKA_PORT", "19092"))
    broker = LocalKafka(port=port, run_dir=REPO_ROOT / ".run" / f"test-kafka-{port}")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES
