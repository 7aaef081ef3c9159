"""Throwaway brokers for the tests, each on its own port and data directory,
so that no test touches a developer's `make up` broker on 9092."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from claimscrub.runtime.testing import REPO_ROOT, LocalKafka


def base_port() -> int:
    """The session broker's port (CLAIMSCRUB_TEST_KAFKA_PORT); other brokers
    take ports a fixed offset above it."""
    return int(os.environ.get("CLAIMSCRUB_TEST_KAFKA_PORT", "19092"))


@contextmanager
def running(broker: LocalKafka) -> Iterator[LocalKafka]:
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@contextmanager
def own_broker(offset: int, name: str) -> Iterator[LocalKafka]:
    """A broker of a test module's own, ``offset`` above :func:`base_port`."""
    port = base_port() + offset
    with running(
        LocalKafka(port=port, run_dir=REPO_ROOT / ".run" / f"test-kafka-{name}-{port}")
    ) as broker:
        yield broker
