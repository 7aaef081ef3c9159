"""make bench's wait for the consumers to catch up, on the real broker."""

from __future__ import annotations

import uuid

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from claimscrub.bench.load import wait_idle
from claimscrub.runtime.testing import LocalKafka


def test_waits_while_a_group_lags_and_returns_once_it_caught_up(kafka: LocalKafka) -> None:
    run = uuid.uuid4().hex[:8]
    topic, prefix = f"test-wait-idle-{run}", f"test-wait-idle-{run}-"
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    for i in range(10):
        producer.send(topic, f"r{i}".encode())
    producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka.bootstrap,
        group_id=f"{prefix}group",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=3,
    )
    try:
        read = 0
        while read == 0:
            read += sum(len(r) for r in consumer.poll(timeout_ms=1000).values())
        consumer.commit()
        assert read < 10
        lags: list[int] = []
        assert wait_idle(kafka.bootstrap, 3.0, prefix=prefix, on_progress=lags.append) is None
        assert lags and min(lags) == 10 - read  # the records not yet read, told each look
        while read < 10:
            read += sum(len(r) for r in consumer.poll(timeout_ms=1000).values())
        consumer.commit()
        waited = wait_idle(kafka.bootstrap, 30.0, prefix=prefix)
        assert waited is not None
    finally:
        consumer.close()
