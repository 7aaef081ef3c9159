"""The partitioner of runtime.record_batches picks what aiokafka's send() picks."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from claimscrub.runtime.record_batches import murmur2, partition_for


def test_murmur2_matches_aiokafka_for_every_tail_length() -> None:
    rng = random.Random(20261127)
    keys = [rng.randbytes(n) for n in range(0, 90) for _ in range(50)]
    keys += [b"", b"claim-1", "Ümlaut-é".encode(), b"\xff" * 33]
    for key in keys:
        assert murmur2(key) == aiokafka_murmur2(key) & 0xFFFFFFFF, key


def test_partition_matches_the_default_partitioner() -> None:
    rng = random.Random(7)
    default = DefaultPartitioner()
    for _ in range(5000):
        key = rng.randbytes(rng.randrange(0, 70))
        partitions = list(range(rng.randrange(1, 13)))
        assert partition_for(key, partitions) == default(key, partitions, partitions)
