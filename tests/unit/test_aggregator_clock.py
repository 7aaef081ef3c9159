"""The aggregator's clock (aggregator.clock): tick keys land in their partition,
a partition's clock restarts after a gap, the due index hands each key back
once its second has passed. No broker: the index runs on a dict-backed State."""

from __future__ import annotations

from typing import Any

from quixstreams.models.topics import TopicAdmin, TopicManager

from claimscrub.aggregator.clock import DueIndex, PartitionClock, is_tick, tick_key
from claimscrub.runtime.partitioner import murmur2_partition
from claimscrub.runtime.topics import (
    AGGREGATOR_BY_FINGERPRINT,
    AGGREGATOR_LEDGER_CHANGELOG,
    AGGREGATOR_STATE_CHANGELOG,
    CLAIMS_CHECKS,
)


class DictState:
    """The part of Quix's State the index uses."""

    def __init__(self) -> None:
        self.d: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.d.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.d[key] = value

    def delete(self, key: str) -> None:
        self.d.pop(key, None)


def _index() -> tuple[DueIndex, DictState]:
    s = DictState()
    return DueIndex(s, bucket_ms=1_000), s  # type: ignore[arg-type]


def test_each_partition_has_a_tick_key_that_kafka_places_there() -> None:
    for count in (1, 3, 6, 12):
        for p in range(count):
            key = tick_key(p, count)
            assert murmur2_partition(key, count) == p
            assert key.startswith(b"\x00")  # no claimId or fingerprint looks like it


def test_a_tick_is_told_by_its_header() -> None:
    assert is_tick([("claimscrub-tick", b"1")])
    assert not is_tick([("claimscrub-submitted-ms", b"1")])


def test_a_key_comes_back_once_the_second_it_is_due_in_has_passed() -> None:
    index, _ = _index()
    index.schedule(b"A", due_ms=10_500, now_ms=1_000)
    assert index.pop_due(10_999) == []  # its second (10 s) is not over
    assert index.pop_due(11_000) == [b"A"]
    assert index.pop_due(12_000) == []  # once


def test_keys_due_before_the_last_look_come_back_at_the_next() -> None:
    index, _ = _index()
    index.schedule(b"A", due_ms=5_000, now_ms=1_000)
    assert index.pop_due(9_000) == [b"A"]
    # Scheduled in a second already looked at: the next second whole after the cursor.
    index.schedule(b"B", due_ms=2_000, now_ms=9_000)
    assert index.pop_due(9_999) == []
    assert index.pop_due(10_000) == [b"B"]


def test_popping_empties_what_it_handed_back() -> None:
    index, s = _index()
    for i in range(3):
        index.schedule(f"K{i}".encode(), due_ms=3_000 + i, now_ms=0)
    assert sorted(index.pop_due(4_000)) == [b"K0", b"K1", b"K2"]
    assert set(s.d) == {"cursor"}


def test_a_second_s_keys_are_one_value() -> None:
    # The engine writes a changelog record per value changed: one per second.
    index, s = _index()
    for i in range(50):
        index.schedule(f"K{i}".encode(), due_ms=7_000 + i, now_ms=0)
    assert [k for k in s.d if k != "cursor"] == ["b:7"]


def test_a_partition_s_clock_restarts_after_a_gap_longer_than_the_limit() -> None:
    clock = PartitionClock(gap_ms=5_000)
    assert clock.seen(0, 1_000)
    assert not clock.seen(0, 6_000)  # 5 s: no gap
    assert clock.start_ms(0) == 1_000
    assert clock.seen(0, 11_001)  # 5.001 s: it was not ours meanwhile
    assert clock.start_ms(0) == 11_001
    assert clock.start_ms(1) == 0


def test_the_stores_changelogs_are_named_as_the_engine_names_them() -> None:
    manager = TopicManager(TopicAdmin(broker_address="127.0.0.1:1"), "claimscrub-aggregator")
    for spec, source in (
        (AGGREGATOR_STATE_CHANGELOG, CLAIMS_CHECKS.name),
        (AGGREGATOR_LEDGER_CHANGELOG, AGGREGATOR_BY_FINGERPRINT.name),
    ):
        assert spec.name == manager._internal_name("changelog", source, "default")
        assert spec.config == {"cleanup.policy": "compact"}
