"""Follows reference.payers and reference.tables in every service instance.

Like the enrollment table's follower, each instance reads every partition
from the beginning with no consumer group (each must hold every version), on
a confluent-kafka consumer in a background thread. :meth:`catch_up` returns
once everything the topics held at that moment is read and parsed; then the
thread applies each new version as soon as it is whole, handing the
:class:`ReferenceSet` to ``on_change``, which swaps what the check reads.
A version a service cannot parse is logged and skipped: the versions in force
stay.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from claimscrub.core.payers import PayerPolicies, ReferenceDataError
from claimscrub.core.versions import TABLE_KINDS, Dated, Version
from claimscrub.reference.kinds import read_payload
from claimscrub.reference.wire import Payload, TableAssembler, WireError, decode_payer
from claimscrub.runtime import logs
from claimscrub.runtime.kafka_config import KafkaSecurity
from claimscrub.runtime.memory import DEFAULT_CONSUMER_QUEUE_KB
from claimscrub.runtime.topics import REFERENCE_PAYERS, REFERENCE_TABLES

log = logs.get_logger(__name__)
_LIBRDKAFKA_LOG = logging.getLogger("claimscrub.reference.librdkafka")

_POLL_S = 0.2
_MISSING_TOPIC_RETRY_S = 1.0


@dataclass(frozen=True, slots=True)
class ReferenceSet:
    """What the topics hold: each table kind's versions (kinds with none are
    absent) and the payers with published policies (``None``: none)."""

    tables: Mapping[str, Dated[Any]] = field(default_factory=lambda: MappingProxyType({}))
    payers: PayerPolicies | None = None
    #: payer -> its version ids, for logs and metrics
    payer_versions: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def describe(self) -> dict[str, list[str]]:
        out = {k: [v.version_id for v in d.versions] for k, d in self.tables.items()}
        if self.payer_versions:
            out["payers"] = [i for ids in self.payer_versions.values() for i in ids]
        return out


class ReferenceState:
    """The versions read so far; :meth:`apply` one record, :meth:`snapshot` the result."""

    def __init__(self, kinds: Sequence[str]) -> None:
        self._kinds = frozenset(kinds)
        # Only the kinds this service uses are assembled; the others' chunks
        # are passed over on their keys.
        self._assembler = TableAssembler(k for k in kinds if k in TABLE_KINDS)
        #: kind -> version id -> (version, when published)
        self._tables: dict[str, dict[str, tuple[Version[Any], str]]] = {}
        self._payers: dict[str, PayerPolicies] = {}
        self.refused = 0

    def apply(self, topic: str, key: bytes | None, value: bytes | None) -> bool:
        """Apply one record; whether the versions in force changed."""
        try:
            if topic == REFERENCE_PAYERS.name:
                return self._payer(key, value)
            return self._table(key, value)
        except (WireError, ReferenceDataError) as exc:
            self.refused += 1
            log.warning("reference_record_refused", topic=topic, reason=str(exc))
            return False

    def _payer(self, key: bytes | None, value: bytes | None) -> bool:
        if value is None:
            payer = (key or b"").decode("utf-8", "replace").strip().upper()
            return self._payers.pop(payer, None) is not None
        payer, records = decode_payer(key, value)
        self._payers[payer] = PayerPolicies.from_records(records, f"reference.payers {payer}")
        return True

    def _table(self, key: bytes | None, value: bytes | None) -> bool:
        done = self._assembler.apply(key, value)
        if done is None:
            return False
        if isinstance(done, tuple):
            kind, version = done
            return self._tables.get(kind, {}).pop(version, None) is not None
        if done.kind not in self._kinds:
            return False
        return self._load(done)

    def _load(self, v: Payload) -> bool:
        started = time.perf_counter()
        version = read_payload(v)
        m = v.manifest
        self._tables.setdefault(m.kind, {})[m.version] = (version, m.published_at)
        log.info(
            "reference_version_read",
            kind=m.kind,
            version=m.version,
            effective=m.effective.isoformat() if m.effective else "",
            seconds=round(time.perf_counter() - started, 2),
        )
        return True

    def held_bytes(self) -> int:
        """Bytes of table chunks held for versions not yet whole."""
        return self._assembler.held_bytes()

    def snapshot(self) -> ReferenceSet:
        tables = {k: Dated.of(_in_force(vs.values())) for k, vs in self._tables.items() if vs}
        by_payer: dict[str, Any] = {}
        ids: dict[str, tuple[str, ...]] = {}
        for payer, policies in sorted(self._payers.items()):
            by_payer.update(policies.by_payer)
            ids[payer] = tuple(p.version_id for p in policies.by_payer.get(payer, ()))
        payers = (
            PayerPolicies(PayerPolicies.defaults().default, MappingProxyType(by_payer))
            if by_payer
            else None
        )
        return ReferenceSet(MappingProxyType(tables), payers, MappingProxyType(ids))


def end_offsets(consumer: Any, partitions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """Each non-empty partition's end offset now; retried while the broker has
    no leader for it yet (a broker or topic just started)."""
    from confluent_kafka import KafkaException, TopicPartition

    ends: dict[tuple[str, int], int] = {}
    for topic, partition in partitions:
        for attempt in range(60):
            try:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
                break
            except KafkaException:
                # NOT_LEADER_FOR_PARTITION, LEADER_NOT_AVAILABLE: not marked
                # retriable by librdkafka here, yet gone once leaders are elected.
                if attempt == 59:
                    raise
                time.sleep(_MISSING_TOPIC_RETRY_S)
        if high > low:
            ends[(topic, partition)] = high
    return ends


def _in_force(versions: Iterable[tuple[Version[Any], str]]) -> list[Version[Any]]:
    """Of versions with one effective date, the one published last (a correction)."""
    latest: dict[Any, tuple[Version[Any], str]] = {}
    for version, published in versions:
        seen = latest.get(version.effective)
        if seen is None or (published, version.version_id) > (seen[1], seen[0].version_id):
            latest[version.effective] = (version, published)
    return [v for v, _ in latest.values()]


def topics_for(kinds: Sequence[str]) -> list[str]:
    out = []
    if "payers" in kinds:
        out.append(REFERENCE_PAYERS.name)
    if any(k != "payers" for k in kinds):
        out.append(REFERENCE_TABLES.name)
    return out


class ReferenceFollower:
    def __init__(
        self,
        bootstrap: str,
        *,
        kinds: Sequence[str],
        on_change: Callable[[ReferenceSet], None],
        client_id: str = "claimscrub-reference",
        security: KafkaSecurity | None = None,
        queue_kb: int = DEFAULT_CONSUMER_QUEUE_KB,
    ) -> None:
        self.state = ReferenceState(kinds)
        self._queue_kb = queue_kb
        self.topics = topics_for(kinds)
        self._on_change = on_change
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._security = security
        self._consumer: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.ready = threading.Event()

    def _config(self) -> dict[str, Any]:
        security = self._security or KafkaSecurity.from_env()
        return {
            "bootstrap.servers": self._bootstrap,
            "client.id": self._client_id,
            # Never used to join a group or commit: assign() only, every partition.
            "group.id": f"{self._client_id}-reference-unused",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.message.max.bytes": 4 * 1024 * 1024,
            # Prefetched records held by librdkafka (runtime.memory): the
            # chunks of kinds this service passes over are fetched too.
            "queued.max.messages.kbytes": self._queue_kb,
            # librdkafka's own lines through the service's JSON log pipeline (with
            # its repeat suppression), not raw on stderr.
            "logger": _LIBRDKAFKA_LOG,
            **security.librdkafka_config(),
        }

    def catch_up(self) -> ReferenceSet:
        """Read the topics up to their end offsets at this moment, then hand the
        versions to ``on_change``; blocks until the topics exist."""
        from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

        consumer = Consumer(self._config())
        self._consumer = consumer
        warned = unreachable = False
        while True:
            try:
                metadata = consumer.list_topics(timeout=10)
            except KafkaException as exc:
                # A broker still starting (or down) is waited for, as a missing topic is.
                if not unreachable:
                    log.warning("reference_broker_unreachable", error=exc.args[0].name())
                    unreachable = True
                time.sleep(_MISSING_TOPIC_RETRY_S)
                continue
            missing = [t for t in self.topics if t not in metadata.topics]
            if not missing:
                break
            if not warned:
                # Never subscribe before it exists: a dev broker would auto-create
                # it without compaction (kafka.sh topics makes it).
                log.warning("reference_topic_missing", topics=",".join(missing))
                warned = True
            time.sleep(_MISSING_TOPIC_RETRY_S)
        assigned = [
            TopicPartition(t, p, OFFSET_BEGINNING)
            for t in self.topics
            for p in sorted(metadata.topics[t].partitions)
        ]
        ends = end_offsets(consumer, [(tp.topic, tp.partition) for tp in assigned])
        consumer.assign(assigned)
        while ends:
            for msg in consumer.consume(num_messages=500, timeout=_POLL_S):
                self._apply(msg)
                at = (msg.topic(), msg.partition())
                if at in ends and msg.offset() + 1 >= ends[at]:
                    del ends[at]
        snapshot = self.state.snapshot()
        self._on_change(snapshot)
        self.ready.set()
        return snapshot

    def _apply(self, msg: Any) -> bool:
        if (error := msg.error()) is not None:
            from confluent_kafka import KafkaError

            # assign() only: the group librdkafka looks up is never used, and a
            # secured broker need not grant it.
            if error.code() != KafkaError.GROUP_AUTHORIZATION_FAILED:
                log.warning("reference_consume_error", error=str(error.name()))
            return False
        return self.state.apply(msg.topic(), msg.key(), msg.value())

    def _run(self) -> None:
        consumer = self._consumer
        while not self._stop.is_set():
            try:
                changed = False
                for msg in consumer.consume(num_messages=500, timeout=_POLL_S):
                    changed = self._apply(msg) or changed
                if changed:
                    self._on_change(self.state.snapshot())
            except Exception as exc:  # the thread must outlive one bad batch
                log.error("reference_follow_failed", error=type(exc).__name__)
                time.sleep(_MISSING_TOPIC_RETRY_S)

    def start(self) -> None:
        """Follow in a background thread (after :meth:`catch_up`)."""
        assert self._consumer is not None, "catch_up() first"
        self._thread = threading.Thread(target=self._run, name="reference-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
