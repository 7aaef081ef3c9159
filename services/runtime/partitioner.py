"""Where Kafka's default partitioner puts a key.

The Java client's default partitioner, librdkafka's ``murmur2`` partitioner
(which the stream engine's producers use) and Quix's state recovery all place
a keyed record by murmur2 of its key; code that must pick a key for a
partition (the aggregator's clock ticks) or write a changelog record itself
(the state bench) computes the same.
"""

from __future__ import annotations


def murmur2_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default (Java) partitioner and librdkafka's
    ``murmur2`` give ``key``."""
    return (_murmur2(key) & 0x7FFFFFFF) % partitions


def _murmur2(data: bytes) -> int:
    # Kafka's org.apache.kafka.common.utils.Utils.murmur2 (seed 0x9747b28c).
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    rest = length % 4
    if rest == 3:
        h ^= data[whole + 2] << 16
    if rest >= 2:
        h ^= data[whole + 1] << 8
    if rest >= 1:
        h ^= data[whole]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h
