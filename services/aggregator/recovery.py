"""Read back what is really on claims.scrubbed, when a publishing partition is taken over.

The publishing step's marks and its results are separate Kafka records (see
claimscrub.aggregator.ledger), so after a crash or a rebalance the marks alone
cannot say whether a replayed version was published. This module works out
how far back a replay can reach and reads the results published since then:

1. For each publishing partition this instance now owns, the group's committed
   offset is where consumption resumes; the record there is the oldest input
   that can be processed a second time. Its timestamp, less a margin for clock
   skew between hosts, is ``trusted_before_ms``: a mark older than that was
   written while processing input the group had already committed, so its
   result had been flushed (the engine flushes the producer before it commits).
2. Every (claimId, version) published on claims.scrubbed since that time is
   read back: those are published, whatever the marks say.

It reads with runtime/kafka_io.py's consumers, blocking, on the engine's
thread before the partition's next record; it reads only keys and the small
ScrubResult of each record since the replay point (seconds of traffic after a crash or a rebalance).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from claimscrub.aggregator import ledger as ledger_rules
from claimscrub.runtime import logs
from claimscrub.runtime.kafka_io import TopicMissing, read_to_end, reader
from claimscrub.runtime.topics import AGGREGATOR_BY_FINGERPRINT, CLAIMS_SCRUBBED
from claimscrub.v1 import results_pb2

log = logs.get_logger(__name__)

#: Host clocks may disagree by this much (producer timestamps are CreateTime).
CLOCK_SKEW_MARGIN_MS = 30_000


class RecoveryError(RuntimeError):
    """The broker did not answer the read-back in time."""


@dataclass(frozen=True, slots=True)
class ReadBack:
    trusted_before_ms: int
    published: frozenset[tuple[str, str]]
    records_read: int


def replay_start_ms(
    bootstrap: str, group_id: str, topic: str, partitions: Iterable[int], *, timeout_s: float
) -> int | None:
    """Timestamp of the oldest input record that may be processed again, or None."""
    from confluent_kafka import TopicPartition

    parts = sorted(partitions)
    if not parts:
        return None
    # The group's committed offsets are read, never written: assign() only.
    consumer = reader(bootstrap, None, client_id=f"{group_id}-readback", group_id=group_id)
    try:
        committed = {
            tp.partition: tp.offset
            for tp in consumer.committed(
                [TopicPartition(topic, p) for p in parts], timeout=timeout_s
            )
        }
        starts: dict[int, int] = {}
        for p in parts:
            begin, end = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            # A partition the group never committed has a negative (logical) offset.
            start = max(committed.get(p, -1), 0, begin)
            if start < end:
                starts[p] = start
        if not starts:
            return None
        consumer.assign([TopicPartition(topic, p, offset) for p, offset in starts.items()])
        first: dict[int, int] = {}
        deadline = time.monotonic() + timeout_s
        while len(first) < len(starts):
            if time.monotonic() > deadline:
                raise RecoveryError("replay point not readable in time")
            for msg in consumer.consume(100, 0.2):
                if msg.error() is None and msg.partition() not in first:
                    first[msg.partition()] = int(msg.timestamp()[1])
                    consumer.pause([TopicPartition(topic, msg.partition())])
        return min(first.values())
    finally:
        consumer.close()


def published_since(
    bootstrap: str, topic: str, since_ms: int, *, timeout_s: float
) -> tuple[frozenset[tuple[str, str]], int]:
    """(claimId, name) of every result on ``topic`` since ``since_ms``
    (:func:`~claimscrub.aggregator.ledger.published_names`)."""
    out: set[tuple[str, str]] = set()
    count = 0
    records = read_to_end(
        bootstrap, topic, client_id="aggregator-readback", timeout_s=timeout_s, since_ms=since_ms
    )
    try:
        for rec in records:
            count += 1
            msg = results_pb2.ScrubResult()
            try:
                msg.ParseFromString(rec.value)
            except Exception:  # not ours to judge here; it cannot be a mark
                continue
            key = rec.key.decode("utf-8", "replace")
            incomplete = any(e.code == "CHECK_INCOMPLETE" for e in msg.edits)
            for name in ledger_rules.published_names(
                msg.claim_version, msg.revision, incomplete=incomplete
            ):
                out.add((msg.claim_id or key, name))
    except TopicMissing:
        return frozenset(), 0
    except TimeoutError:
        raise RecoveryError("claims.scrubbed not read back in time") from None
    return frozenset(out), count


def read_back(
    bootstrap: str,
    group_id: str,
    input_topic: str,
    partitions: Iterable[int],
    output_topic: str,
    *,
    timeout_s: float = 60.0,
) -> ReadBack:
    start = replay_start_ms(bootstrap, group_id, input_topic, partitions, timeout_s=timeout_s)
    if start is None:
        # Nothing left to replay: every mark on these partitions was written
        # for committed input.
        return ReadBack(2**62, frozenset(), 0)
    since = start - CLOCK_SKEW_MARGIN_MS
    published, count = published_since(bootstrap, output_topic, since, timeout_s=timeout_s)
    return ReadBack(since, published, count)


class PartitionTrust:
    """Per publishing partition, the marks the ledger step may take at their
    word and what was read back (the stream engine's publish step).

    The engine restores a store only as far as the input offsets it committed
    (a changelog record of an uncommitted checkpoint is skipped), and it
    flushes results before it commits: every mark in the store was followed by
    its result. What a replay can double is a result whose mark was never
    committed, so the results since the replay point are read back
    (:func:`read_back`) whenever a partition is assigned, before anything of
    it is published."""

    def __init__(self, incarnation: str, bootstrap: str, group_id: str) -> None:
        self._incarnation = incarnation
        self._bootstrap = bootstrap
        self._group_id = group_id
        self._trust: dict[int, ledger_rules.Trust] = {}

    def trust(self, partition: int) -> ledger_rules.Trust:
        return self._trust.get(partition) or ledger_rules.Trust(self._incarnation)

    def read_back(self, partition: int, *, attempts: int = 6, timeout_s: float = 15.0) -> None:
        """Read back for ``partition``; raises RecoveryError when the broker
        does not answer (the engine's Application is then restarted)."""
        from claimscrub.aggregator.metrics import aggregator_metrics

        last: Exception | None = None
        for _ in range(attempts):
            try:
                rb = read_back(
                    self._bootstrap,
                    self._group_id,
                    AGGREGATOR_BY_FINGERPRINT.name,
                    [partition],
                    CLAIMS_SCRUBBED.name,
                    timeout_s=timeout_s,
                )
            except Exception as exc:  # the broker may be restarting: try again
                last = exc
                log.warning("readback_failed", error=type(exc).__name__)
                time.sleep(2.0)
                continue
            aggregator_metrics().readbacks.inc(rb.records_read)
            log.info(
                "readback_done",
                partition=partition,
                records=rb.records_read,
                published=len(rb.published),
            )
            self._trust[partition] = ledger_rules.Trust(self._incarnation, 2**62, rb.published)
            return
        raise RecoveryError(f"read-back failed: {type(last).__name__}")
