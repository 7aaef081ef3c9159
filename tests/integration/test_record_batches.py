"""RecordBatches on the real broker: every record once, in order, where send() puts it."""

from __future__ import annotations

import asyncio
import collections
import uuid

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from kafka.admin import KafkaAdminClient, NewTopic

from claimscrub.runtime.record_batches import RecordBatches
from claimscrub.runtime.testing import LocalKafka, consume_all

PARTITIONS = 6


def _topic(kafka: LocalKafka) -> str:
    name = f"test-record-batches-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        admin.create_topics([NewTopic(name, PARTITIONS, 1)])
    finally:
        admin.close()
    return name


def test_records_arrive_once_in_order_on_the_key_partition(kafka: LocalKafka) -> None:
    topic = _topic(kafka)
    # 1 KiB values: several 16 KiB batches per partition, so full batches are
    # sent mid-way as well as at the end.
    records = [
        (f"claim-{i:04d}".encode(), bytes([i % 256]) * 1024, [("n", str(i).encode())])
        for i in range(400)
    ]

    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
        await producer.start()
        try:
            out = RecordBatches(producer)
            for key, value, headers in records:
                await out.add(topic, value, key=key, headers=headers)
            futures = await out.send()
            assert len(futures) > PARTITIONS  # some batches filled up
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(produce())
    got = consume_all(kafka.bootstrap, topic, until=len(records), settle_s=1.0)
    assert sorted(r.key for r in got) == sorted(k for k, _, _ in records)
    by_key = {k: (v, h) for k, v, h in records}
    partitions = list(range(PARTITIONS))
    order: dict[int, list[int]] = collections.defaultdict(list)
    for r in got:
        value, headers = by_key[r.key]
        assert r.value == value
        assert [(k, v) for k, v in r.headers] == headers
        assert r.partition == DefaultPartitioner()(r.key, partitions, partitions)
        order[r.partition].append(int(r.key.split(b"-")[1]))
    for numbers in order.values():
        assert numbers == sorted(numbers)
