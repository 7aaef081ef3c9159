"""State at scale for ``make bench-state``: services' stores written straight
to their changelog topics, as Quix Streams writes them.

Loading millions of beneficiaries through the pipeline would take hours; the
stream engine rebuilds a store from its changelog whenever its local state
is missing, so the bench writes the changelog records itself and starts the
services on an empty state directory. A record is what Quix 3.28's
transaction produces for ``state.set(key, value)`` under a message key
(quixstreams/state/base/transaction.py, ``_prepare``):

- key: the message key (the store's prefix), ``|``, then the state key as
  JSON (``_serialize_key``);
- value: the state value as JSON (orjson, ``quixstreams.utils.json.dumps``);
- headers: the column family (``__column_family__: default``) and the input
  offsets the change was made at (``__processed_tp_offsets__: null``, "apply
  on recovery whatever the committed offsets");
- partition: the source partition of the message key, Kafka's murmur2 of it
  (the producers' partitioner, runtime/engine.py).

tests/unit/test_bench_state.py holds these records to what Quix's own
recovery reads back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from confluent_kafka import Producer
from quixstreams.state.metadata import (
    CHANGELOG_CF_MESSAGE_HEADER,
    CHANGELOG_PROCESSED_OFFSETS_MESSAGE_HEADER,
    SEPARATOR,
)
from quixstreams.utils.json import dumps

from claimscrub.aggregator.topology import VALUE as LEDGER_VALUE_KEY
from claimscrub.necessity.topology import HISTORY_KEY
from claimscrub.runtime.kafka_config import producer_config
from claimscrub.runtime.partitioner import murmur2_partition

ChangelogRecord = tuple[bytes, bytes, int]  # key, value, partition

#: Quix's store of a stateful step (every service's state is in it).
DEFAULT_STORE = "default"
_HEADERS = [
    (CHANGELOG_CF_MESSAGE_HEADER, DEFAULT_STORE.encode()),
    (CHANGELOG_PROCESSED_OFFSETS_MESSAGE_HEADER, dumps(None)),
]


def state_key(prefix: bytes, key: str) -> bytes:
    """The store key of ``key`` in the state of message key ``prefix``."""
    return prefix + SEPARATOR + dumps(key)


def changelog_record(prefix: bytes, key: str, value: Any, partitions: int) -> ChangelogRecord:
    return state_key(prefix, key), dumps(value), murmur2_partition(prefix, partitions)


def synthetic_key(kind: str, i: int) -> str:
    """A unique key shaped like the services' keyed hashes (64 hex digits),
    for the state no bench claim reads."""
    return hashlib.sha256(f"claimscrub-bench-{kind}-{i}".encode()).hexdigest()


def produce_changelog(
    bootstrap: str,
    topic: str,
    records: Iterable[ChangelogRecord],
    *,
    on_progress: Callable[[int], None] = lambda n: None,
) -> int:
    """Write ``records`` to ``topic`` (each to its partition); returns how many."""
    producer = Producer(
        producer_config(
            bootstrap,
            acks="all",
            linger_ms=20,
            batch_size=1_000_000,
            compression_type="lz4",
            queue_buffering_max_messages=500_000,
        )
    )
    failed: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    n = 0
    for key, value, partition in records:
        while True:
            try:
                producer.produce(
                    topic, value, key, partition=partition, headers=_HEADERS, on_delivery=delivered
                )
                break
            except BufferError:
                producer.poll(0.05)
        n += 1
        if n % 10_000 == 0:
            producer.poll(0)
            on_progress(n)
    left = producer.flush(120)
    if failed or left:
        raise RuntimeError(f"{topic}: {len(failed)} records not written, {left} unsent")
    on_progress(n)
    return n


def spread(
    real: list[tuple[bytes, Any]],
    total: int,
    kind: str,
    key_of: Callable[[str], bytes],
    template: Callable[[int], Any],
) -> Iterator[tuple[bytes, Any]]:
    """``real`` (prefix, value) pairs, then synthetic prefixes up to ``total``
    with ``template(i)``'s value."""
    yield from real
    for i in range(max(0, total - len(real))):
        yield key_of(synthetic_key(kind, i)), template(i)


# --- the two stores make bench-state fills ------------------------------------

#: Templates: the histories of this many bench claims' beneficiaries are reused
#: for the synthetic ones.
TEMPLATES = 64


def necessity_records(
    claims: list[dict[str, Any]], total: int, key: bytes, partitions: int
) -> Iterator[ChangelogRecord]:
    """``total`` beneficiaries' histories: first those of ``claims``' own
    beneficiaries (an earlier claim of each, recorded and sealed as necessity
    does, so every bench claim reads a history), then synthetic tokens."""
    from claimscrub.core.claim import parse_claim
    from claimscrub.necessity.beneficiary import beneficiary_token
    from claimscrub.necessity.check import load_reference
    from claimscrub.necessity.history import date_shift, record_claim, seal
    from claimscrub.runtime.testing import REPO_ROOT

    ref = load_reference(payers_file=REPO_ROOT / "examples" / "payers.json")
    real: list[tuple[bytes, Any]] = []
    for raw in claims:
        earlier = parse_claim({**raw, "claimId": f"H{raw['claimId']}"}).claim
        assert earlier is not None, "a bench claim that does not parse"
        token = beneficiary_token(earlier, key)
        real.append(
            (token.encode(), seal(record_claim(None, earlier, ref), date_shift(token, key)))
        )
    for prefix, value in real:
        yield changelog_record(prefix, HISTORY_KEY, value, partitions)
    templates = [dumps(value) for _, value in real[:TEMPLATES]]
    for i in range(max(0, total - len(real))):
        prefix = f"b-{synthetic_key('beneficiary', i)}".encode()
        yield (
            state_key(prefix, HISTORY_KEY),
            templates[i % len(templates)],
            murmur2_partition(prefix, partitions),
        )


def ledger_records(total: int, partitions: int, now_ms: int) -> Iterator[ChangelogRecord]:
    """``total`` fingerprints, each owned by one published claim version, as
    the aggregator's ledger.decide writes them; no bench claim shares one."""
    from claimscrub.aggregator.ledger import Trust, decide

    # One entry written by the aggregator's own rule per partition, its
    # claimId then replaced: the rule's cost per fingerprint is not the bench's.
    placeholder = "BENCH-STATE-OWNER"
    templates = [
        dumps(
            decide(
                None,
                placeholder,
                "1",
                fingerprinted=True,
                now_ms=now_ms,
                partition=p,
                trust=Trust("bench-state"),
            ).entry
        )
        for p in range(partitions)
    ]
    marker = placeholder.encode()
    for i in range(total):
        fingerprint = synthetic_key("fingerprint", i).encode()
        partition = murmur2_partition(fingerprint, partitions)
        value = templates[partition].replace(marker, f"BENCH-STATE-{i}".encode())
        yield state_key(fingerprint, LEDGER_VALUE_KEY), value, partition
