"""The stream engine's memory bounds: RocksDB's memtables and block cache,
librdkafka's consumer queue.

Left at the libraries' defaults these grow with the state, not with the work:
Quix Streams opens one RocksDB per store partition with 64 MiB memtables (up
to three each) and a 1 GiB block cache, and librdkafka's consumer prefetches
up to 64 MiB (``queued.max.messages.kbytes``). Restoring a store from its
changelog writes every record through the memtables at full speed, so a
service with six store partitions filled them all at once; and the block
cache fills with the state read. Bounded here, for the whole process:

- CLAIMSCRUB_STATE_MEMTABLE_MB (default 32): all memtables of all stores and
  partitions together (RocksDB's write buffer manager, shared by every
  store partition of the process); a memtable is flushed to disk before
  it is full once the total reaches this.
- CLAIMSCRUB_STATE_WRITE_BUFFER_MB (default 4): one memtable's size, two per
  column family (one written, one flushing). Smaller memtables mean more
  and smaller files for compaction to merge: a restore costs some CPU more.
- CLAIMSCRUB_STATE_BLOCK_CACHE_MB (default 32): RocksDB's block cache, one
  for the process, which also holds the stores' index and bloom-filter blocks
  (else held beside it, growing with the keys). A read that misses it is a
  read of the operating system's page cache (memory the kernel takes back,
  not the process's).
- CLAIMSCRUB_CONSUMER_QUEUE_KB (default 2048): librdkafka's prefetched records
  per consumer (``queued.max.messages.kbytes``); a fetch request is cut to it
  too (librdkafka's own adjustment of ``fetch.max.bytes``; a record batch
  larger than that still comes whole). A small record costs librdkafka
  several times its size while queued (its message, the batch it was
  decompressed from), so this bounds more memory than its figure.

docs/configuration.md lists them; docs/operations.md says what they cost.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import rocksdict
from quixstreams.state.rocksdb import RocksDBOptions

from claimscrub.runtime.env import SettingsError, env_int

MB = 1024 * 1024

DEFAULT_MEMTABLE_MB = 32
DEFAULT_WRITE_BUFFER_MB = 4
DEFAULT_BLOCK_CACHE_MB = 32
DEFAULT_CONSUMER_QUEUE_KB = 2048
#: One memtable written to while the previous one is flushed.
WRITE_BUFFERS = 2


@dataclass(frozen=True, slots=True)
class EngineMemory:
    memtable_mb: int = DEFAULT_MEMTABLE_MB
    write_buffer_mb: int = DEFAULT_WRITE_BUFFER_MB
    block_cache_mb: int = DEFAULT_BLOCK_CACHE_MB
    consumer_queue_kb: int = DEFAULT_CONSUMER_QUEUE_KB

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EngineMemory:
        m = cls(
            memtable_mb=env_int(
                env, "CLAIMSCRUB_STATE_MEMTABLE_MB", DEFAULT_MEMTABLE_MB, minimum=1
            ),
            write_buffer_mb=env_int(
                env, "CLAIMSCRUB_STATE_WRITE_BUFFER_MB", DEFAULT_WRITE_BUFFER_MB, minimum=1
            ),
            block_cache_mb=env_int(
                env, "CLAIMSCRUB_STATE_BLOCK_CACHE_MB", DEFAULT_BLOCK_CACHE_MB, minimum=1
            ),
            consumer_queue_kb=env_int(
                env, "CLAIMSCRUB_CONSUMER_QUEUE_KB", DEFAULT_CONSUMER_QUEUE_KB, minimum=1
            ),
        )
        if m.write_buffer_mb > m.memtable_mb:
            raise SettingsError(
                "CLAIMSCRUB_STATE_WRITE_BUFFER_MB must be at most CLAIMSCRUB_STATE_MEMTABLE_MB"
            )
        return m

    def rocksdb_options(self) -> BoundedRocksDBOptions:
        return BoundedRocksDBOptions(
            write_buffer_size=self.write_buffer_mb * MB,
            max_write_buffer_number=WRITE_BUFFERS,
            block_cache_size=self.block_cache_mb * MB,
            memtable_budget=self.memtable_mb * MB,
        )

    def consumer_config(self) -> dict[str, Any]:
        return {"queued.max.messages.kbytes": self.consumer_queue_kb}


# One of each per process and size, shared by every store partition (RocksDB's
# guidance: one cache and one write buffer manager across databases).
_SHARED: dict[tuple[str, int], Any] = {}
_SHARED_LOCK = threading.Lock()


def _shared(kind: str, size: int) -> Any:
    # Partitions are opened concurrently during a rebalance.
    with _SHARED_LOCK:
        made = _SHARED.get((kind, size))
        if made is None:
            if kind == "cache":
                made = rocksdict.Cache(size)
            else:
                # No stall: past the budget RocksDB flushes the largest
                # memtables early instead of blocking the writer.
                made = rocksdict.WriteBufferManager(size, False)
            _SHARED[(kind, size)] = made
        return made


@dataclass(frozen=True)
class BoundedRocksDBOptions(RocksDBOptions):
    """Quix's options with every store partition's memtables under one budget
    and its index and filter blocks inside the block cache."""

    memtable_budget: int = DEFAULT_MEMTABLE_MB * MB

    def to_options(self) -> rocksdict.Options:
        opts = super().to_options()
        opts.set_write_buffer_manager(_shared("memtables", self.memtable_budget))
        table = rocksdict.BlockBasedOptions()
        table.set_block_cache(_shared("cache", self.block_cache_size))
        table.set_bloom_filter(self.bloom_filter_bits_per_key, True)
        table.set_cache_index_and_filter_blocks(True)
        # The top-level index and filter partitions of the newest files stay
        # in the cache, so a point read does not reload them after an eviction.
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        opts.set_block_based_table_factory(table)
        return opts
