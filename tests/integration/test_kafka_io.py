"""runtime.kafka_io on the real broker: a keyed record lands in the partition
runtime/partitioner.py computes (Kafka's Java default partitioner), which the
stream engine's producers and Quix's state recovery assume."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from claimscrub.runtime.kafka_config import PLAINTEXT, client_config
from claimscrub.runtime.kafka_io import produce_all, read_to_end
from claimscrub.runtime.partitioner import murmur2_partition
from claimscrub.runtime.testing import LocalKafka

pytestmark = pytest.mark.kafka

PARTITIONS = 7
KEYS = [f"CLM-{i:04d}".encode() for i in range(40)] + [b"b-" + b"a1" * 32, b"x"]


def _topic(kafka: LocalKafka) -> str:
    topic = f"test-partitioner-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(client_config(kafka.bootstrap, PLAINTEXT))
    for future in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
        future.result(30)
    return topic


def test_produce_all_places_each_key_where_murmur2_partition_says(kafka: LocalKafka) -> None:
    topic = _topic(kafka)
    produce_all(
        kafka.bootstrap,
        topic,
        [(key, b"v", []) for key in KEYS],
        client_id="test-partitioner",
        security=PLAINTEXT,
    )
    placed = {
        r.key: r.partition
        for r in read_to_end(
            kafka.bootstrap, topic, client_id="test-partitioner", timeout_s=30, security=PLAINTEXT
        )
    }
    assert placed == {k: murmur2_partition(k, PARTITIONS) for k in KEYS}


def test_librdkafkas_default_partitioner_would_place_keys_elsewhere(kafka: LocalKafka) -> None:
    # What the Java-compatible setting guards against: the same keys under
    # librdkafka's default (consistent_random, CRC32 of the key).
    from confluent_kafka import Producer

    topic = _topic(kafka)
    producer = Producer(client_config(kafka.bootstrap, PLAINTEXT))
    placed: dict[bytes, int] = {}
    for key in KEYS:
        producer.produce(
            topic, b"v", key, on_delivery=lambda e, m: placed.__setitem__(m.key(), m.partition())
        )
    assert producer.flush(30) == 0
    moved = [k for k in KEYS if placed[k] != murmur2_partition(k, PARTITIONS)]
    assert len(moved) > len(KEYS) // 2
