"""make bench-state writes services' state straight to their changelog topics:
its records must be the ones Quix Streams' own transaction writes, and read
back by Quix's recovery into the state a step sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quixstreams.state.rocksdb import RocksDBStorePartition

from claimscrub.bench.state import _HEADERS, changelog_record
from claimscrub.runtime.partitioner import murmur2_partition


class CapturedChangelog:
    """Stands in for Quix's ChangelogProducer: keeps what a transaction writes."""

    changelog_name = "changelog__test"
    partition = 0

    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes | None, dict[str, Any]]] = []

    def produce(
        self, key: bytes, value: bytes | None = None, headers: Any = None, **_: Any
    ) -> None:
        self.records.append((key, value, dict(headers or {})))


def _bytes(v: str | bytes) -> bytes:
    return v.encode() if isinstance(v, str) else v


HISTORY = {"v": 1, "claims": {"CLM-1": {"amounts": {"2026/PT": "12.50"}}}, "progress": {}}


def test_a_record_is_what_quix_writes_for_the_same_state(tmp_path: Path) -> None:
    captured = CapturedChangelog()
    # Any: Quix's partition is partly untyped (close) and types state keys as bytes.
    partition: Any = RocksDBStorePartition(str(tmp_path / "db"), changelog_producer=captured)  # type: ignore[arg-type]
    try:
        tx = partition.begin()
        tx.as_state(prefix=b"b-0123").set("history", HISTORY)
        tx.prepare(processed_offsets=None)
    finally:
        partition.close()
    [(key, value, headers)] = captured.records
    ours_key, ours_value, _ = changelog_record(b"b-0123", "history", HISTORY, 6)
    assert (ours_key, ours_value) == (key, value)
    assert {k: _bytes(v) for k, v in headers.items()} == dict(_HEADERS)


def test_quix_recovery_reads_the_record_back_as_the_keys_state(tmp_path: Path) -> None:
    key, value, _ = changelog_record(b"b-0123", "history", HISTORY, 6)
    partition: Any = RocksDBStorePartition(str(tmp_path / "db"))
    try:
        partition.recover_from_changelog_message(key=key, value=value, cf_name="default", offset=0)
        state = partition.begin().as_state(prefix=b"b-0123")
        assert state.get("history") == HISTORY
        assert partition.begin().as_state(prefix=b"b-0124").get("history") is None
    finally:
        partition.close()


def test_partition_is_kafkas_murmur2() -> None:
    # Kafka's UtilsTest.testMurmur2: Utils.murmur2 of these strings (Java ints).
    cases = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    for key, java in cases.items():
        expected = (java & 0x7FFFFFFF) % 6
        assert murmur2_partition(key, 6) == expected, key
