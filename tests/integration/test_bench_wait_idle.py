"""make bench's wait for the consumers to catch up, on the real broker."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from claimscrub.bench.load import wait_idle
from claimscrub.runtime.kafka_config import PLAINTEXT, producer_config
from claimscrub.runtime.testing import LocalKafka
from claimscrub.runtime.topics import REDACTION_BY_CLAIM


def _read(consumer: Consumer, most: int) -> int:
    """Records read by one poll of at most ``most``, then committed."""
    messages = [m for m in consumer.consume(num_messages=most, timeout=1.0) if m.error() is None]
    if messages:
        consumer.commit(asynchronous=False)
    return len(messages)


def test_waits_while_a_group_lags_and_returns_once_it_caught_up(kafka: LocalKafka) -> None:
    run = uuid.uuid4().hex[:8]
    topic, prefix = f"test-wait-idle-{run}", f"test-wait-idle-{run}-"
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(30)
    producer = Producer(producer_config(kafka.bootstrap, PLAINTEXT))
    for i in range(10):
        producer.produce(topic, f"r{i}".encode())
    assert producer.flush(30) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": f"{prefix}group",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    try:
        read = 0
        while read == 0:
            read += _read(consumer, 3)
        assert read < 10
        lags: list[int] = []
        assert wait_idle(kafka.bootstrap, 3.0, prefix=prefix, on_progress=lags.append) is None
        assert lags and min(lags) == 10 - read  # the records not yet read, told each look
        while read < 10:
            read += _read(consumer, 10)
        waited = wait_idle(kafka.bootstrap, 30.0, prefix=prefix)
        assert waited is not None
    finally:
        consumer.close()


def test_a_reader_of_a_transactional_topic_one_short_of_its_end_has_caught_up(
    kafka: LocalKafka,
) -> None:
    # Redaction (exactly-once) writes its repartition topic in transactions:
    # each partition's last offset is a commit marker, which no reader is given.
    run = uuid.uuid4().hex[:8]
    topic, prefix = REDACTION_BY_CLAIM.name, f"test-wait-idle-tx-{run}-"
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    if topic not in admin.list_topics(timeout=30).topics:
        for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
            future.result(30)
    producer = Producer(
        producer_config(kafka.bootstrap, PLAINTEXT, **{"transactional.id": f"{prefix}tx"})
    )
    producer.init_transactions(30)
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": f"{prefix}group",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        # The group starts at the topic's end (earlier tests' records are not
        # this test's) and subscribes: wait_idle looks at groups with members.
        partitions = admin.list_topics(topic, timeout=30).topics[topic].partitions
        ends = [
            TopicPartition(topic, p, consumer.get_watermark_offsets(TopicPartition(topic, p))[1])
            for p in partitions
        ]
        consumer.commit(offsets=ends, asynchronous=False)
        consumer.subscribe([topic])
        producer.begin_transaction()
        for i in range(5):
            producer.produce(topic, f"r{i}".encode(), partition=0)
        producer.commit_transaction(30)
        read = 0
        while read < 4:
            read += _read(consumer, 4 - read)
        # Four of five read: one record and the marker behind, still lagging.
        assert wait_idle(kafka.bootstrap, 3.0, prefix=prefix) is None
        while read < 5:
            read += _read(consumer, 1)
        assert wait_idle(kafka.bootstrap, 30.0, prefix=prefix) is not None
    finally:
        consumer.close()
