"""The redaction join on the real broker when claims.submitted is not placed
like claims.scrubbed: the contract (§6) keys claims.submitted by claimId but
asks nothing of the producer's partitioner, and librdkafka's default
(consistent_random, CRC32 of the key) puts most claimIds on another partition
than the stream engine's murmur2 gives their results on claims.scrubbed.
Every claim must still get its one claims.deidentified record, and every
CLEAN one its one claims.ready record."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import Producer

from claimscrub.core.codec import CONTENT_TYPE
from claimscrub.runtime.kafka_config import producer_config
from claimscrub.runtime.partitioner import murmur2_partition
from claimscrub.runtime.testing import LocalKafka, ServiceProcess
from claimscrub.runtime.topics import CLAIMS_SUBMITTED
from tests.integration.test_ready_stage import (
    CLEAN,
    HOLD,
    _assert_ready_once,
    _ready,
    _records,
    _results,
)
from tests.integration.test_redaction_service import DEID, _deidentified

pytestmark = pytest.mark.kafka

#: librdkafka's default partitioner (CONFIGURATION.md, "partitioner"): CRC32
#: of the key, as a billing platform's confluent-kafka client places keys.
LIBRDKAFKA_DEFAULT = "consistent_random"


def _produce_as_a_billing_platform(
    kafka: LocalKafka, records: dict[bytes, tuple[bytes, bytes]]
) -> dict[bytes, int]:
    """Submits ``records`` placed by librdkafka's default partitioner; returns
    the partition each claimId went to."""
    # Deliberately not the project's murmur2: this producer stands for a
    # billing platform's client, which the contract lets place keys as it likes.
    config: dict[str, Any] = {
        **producer_config(kafka.bootstrap, acks="all"),
        "partitioner": LIBRDKAFKA_DEFAULT,
    }
    producer = Producer(config)
    placed: dict[bytes, int] = {}

    def delivered(err: Any, msg: Any) -> None:
        assert err is None, err
        placed[msg.key()] = msg.partition()

    for key, (value, ctype) in records.items():
        producer.produce(
            CLAIMS_SUBMITTED.name,
            value,
            key,
            headers=[(CONTENT_TYPE, ctype)],
            on_delivery=delivered,
        )
    assert producer.flush(30) == 0
    return placed


def test_claims_placed_by_librdkafkas_default_partitioner_are_all_joined(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    cases = {i: CLEAN if i % 3 else HOLD for i in range(48)}
    records = _records("CPT", 400_000, cases)
    placed = _produce_as_a_billing_platform(kafka, records)
    assert set(placed) == set(records)
    # Not vacuous: most claims sit on another partition than their results will.
    moved = [k for k, p in placed.items() if p != murmur2_partition(k, kafka.partitions)]
    assert len(moved) >= len(records) // 2, (len(moved), len(records))

    statuses = _results(kafka, b"CPT-", len(cases))
    assert len(statuses) == len(cases)
    tokens = {DEID.claim_token(k.decode()) for k in records}
    deidentified = _deidentified(kafka, tokens)
    missing = tokens - set(deidentified)
    assert not missing, f"{len(missing)} of {len(tokens)} claims got no de-identified record"
    assert all(len(v) == 1 for v in deidentified.values()), "a claim got two records"

    clean = {k for k in records if statuses[k.decode()] == "CLEAN"}
    assert len(clean) == 32
    _assert_ready_once(_ready(kafka, b"CPT-", len(clean)), records, clean)
