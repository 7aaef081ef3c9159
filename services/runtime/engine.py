"""The stream engine: a Quix Streams Application built from :class:`Settings`.

Every service's Kafka side is a ``topology(app, ...)`` function that builds
its dataframes on the Application made here, and :func:`claimscrub.runtime.
runner.run` runs it beside the gRPC server and /metrics. What this module
fixes for all of them:

- connection: ``KAFKA_BOOTSTRAP_SERVERS`` and the security of
  :class:`~claimscrub.runtime.kafka_config.KafkaSecurity` as librdkafka
  properties (PLAINTEXT, SASL_SSL with SCRAM, SSL with a client certificate);
- the consumer group ``claimscrub-<service>`` (the offsets, dashboards and
  KEDA's lag trigger of every transport before it), its session timeout and
  static membership (:mod:`claimscrub.runtime.membership`);
- at-least-once: Quix flushes its producer (results and changelogs) before it
  commits the input's offsets, every ``CLAIMSCRUB_COMMIT_INTERVAL_SECONDS``
  (with the fetch and send timings: :mod:`claimscrub.runtime.engine_timing`);
  the aggregator ignores a verdict it has already counted;
- state (RocksDB) under ``CLAIMSCRUB_STATE_DIR``, backed by changelog topics,
  its memory and the consumer's prefetch bounded (:mod:`claimscrub.runtime.memory`);
- no topic creation: every topic, the changelog and repartition topics Quix
  derives included, is declared in :mod:`claimscrub.runtime.topics` and made
  by ``python -m claimscrub.runtime.topics create`` (``kafka.sh topics``, the
  chart's topics Job). A missing topic stops the topology's build with
  ``TopicNotFoundError`` (the runner waits and retries);
- the record guard (:mod:`claimscrub.runtime.guard`): :func:`guarded` runs
  each record's step and sends what it returns, or the record to claims.dlq.

Records travel as raw bytes: the codecs are claimscrub.core.codec's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from quixstreams import Application, State
from quixstreams.context import message_context
from quixstreams.dataframe import StreamingDataFrame
from quixstreams.kafka import ConnectionConfig
from quixstreams.models import Topic
from quixstreams.models.serializers import SerializationContext, Serializer

from claimscrub.runtime import logs
from claimscrub.runtime.guard import Outgoing, RecordGuard, Source
from claimscrub.runtime.kafka_config import JAVA_PARTITIONER
from claimscrub.runtime.metrics import ServiceMetrics, service_metrics
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import CLAIMS_DLQ, TopicSpec

log = logs.get_logger(__name__)

#: How often librdkafka reports its statistics (consumer lag per partition).
STATS_INTERVAL_MS = 5000


def consumer_group(settings: Settings) -> str:
    return f"claimscrub-{settings.service}"


def connection(settings: Settings) -> ConnectionConfig:
    return ConnectionConfig.from_librdkafka_dict(
        {"bootstrap.servers": settings.kafka_bootstrap, **settings.kafka.librdkafka_config()}
    )


class EngineApplication(Application):
    """Leaves SIGTERM/SIGINT to the runner (runtime.runner), which drains gRPC
    before it stops the Application; Quix's own handlers would stop
    processing at once. Tells :attr:`on_assigned` listeners which partitions
    a rebalance gave it, after Quix has taken them over (their state
    restored when processing starts). (Overrides private hooks of Quix
    Streams 3.28.)"""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Called with (topic, partition) for each partition assigned; on the
        #: consuming thread, inside the rebalance: keep it short.
        self.on_assigned: list[Callable[[str, int], None]] = []

    def _setup_signal_handlers(self) -> None:
        return None

    def _on_assign(self, consumer: Any, topic_partitions: Any) -> None:
        super()._on_assign(consumer, topic_partitions)
        for tp in topic_partitions or ():
            for listener in self.on_assigned:
                listener(tp.topic, tp.partition)


def make_application(settings: Settings, **overrides: Any) -> Application:
    """The service's Application; nothing connects until a topic is declared."""
    sampler = LagSampler(service_metrics())
    options: dict[str, Any] = {
        "consumer_group": consumer_group(settings),
        "auto_offset_reset": "earliest",
        # Checkpoint, fetch and send timings (runtime.engine_timing).
        **settings.timing.application_options(),
        "state_dir": settings.state_dir,
        # Memtables, block cache and prefetch bounded per process (runtime.memory).
        "rocksdb_options": settings.memory.rocksdb_options(),
        "auto_create_topics": False,
        "processing_guarantee": "at-least-once",
        # Logging is the service's (runtime.logs): Quix's records go through it.
        "loglevel": None,
        # A broker that is away is waited for (librdkafka reconnects by
        # itself) rather than ending the process after two minutes.
        "broker_availability_timeout": 0,
        "consumer_extra_config": {
            "statistics.interval.ms": STATS_INTERVAL_MS,
            "stats_cb": sampler,
            # Records up to the topics' message size (CLAIMSCRUB_MAX_MESSAGE_BYTES).
            "max.partition.fetch.bytes": max(1_048_576, settings.max_message_bytes),
            "client.id": settings.instance,
            **settings.timing.consumer_config(),
            # Failover timings and static membership (runtime.membership).
            **settings.membership.librdkafka_config(settings.instance),
            **settings.memory.consumer_config(),
        },
        "producer_extra_config": {
            # Kafka's Java partitioner, as every producer of the project
            # (runtime/kafka_config.py): every producer of claims.checks places
            # a key in the same partition, which keeps the verdicts
            # co-partitioned with the aggregator's state whoever wrote them.
            "partitioner": JAVA_PARTITIONER,
            # A few milliseconds let librdkafka batch a claim's records with
            # the others' (one produce request per partition, not per record).
            **settings.timing.producer_config(),
            "message.max.bytes": max(1_000_000, settings.max_message_bytes + 65_536),
            "client.id": settings.instance,
        },
    }
    options.update(overrides)
    if options["processing_guarantee"] == "exactly-once":
        # Outside Quix Cloud, Quix names the transactional producer by a bare
        # UUID; under the group's prefix the ACL table can grant it
        # (kafka_acls.json transactionalIdPrefix).
        options["producer_extra_config"] = {
            **options["producer_extra_config"],
            "transactional.id": f"{options['consumer_group']}-{uuid.uuid4()}",
        }
    return EngineApplication(broker_address=connection(settings), **options)


def raw_topic(app: Application, spec: TopicSpec) -> Topic:
    """A declared topic, read and written as bytes (key and value)."""
    return app.topic(
        spec.name,
        key_deserializer="bytes",
        value_deserializer="bytes",
        key_serializer="bytes",
        value_serializer=OutgoingValue(),
    )


class OutgoingValue(Serializer):
    """Writes an :class:`Outgoing`'s value (what :func:`guarded` passes on)."""

    def __call__(self, value: Outgoing, ctx: SerializationContext) -> bytes:
        return value.value


@dataclass(frozen=True, slots=True)
class Record:
    """One input record as a step sees it."""

    key: bytes
    value: bytes | None
    headers: list[tuple[str, bytes]]
    topic: str
    partition: int
    offset: int
    timestamp_ms: int

    def header(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


StatelessStep = Callable[[Record], Iterable[Outgoing]]
StatefulStep = Callable[[Record, State[Any, Any]], Iterable[Outgoing]]
#: The State of any key of the record's partition (the store's own keys included).
KeyedStates = Callable[[bytes], State[Any, Any]]
StoreStep = Callable[[Record, KeyedStates], Iterable[Outgoing]]


def guarded(
    app: Application,
    sdf: StreamingDataFrame,
    settings: Settings,
    step: StatelessStep,
    outputs: Iterable[TopicSpec],
) -> StreamingDataFrame:
    """Run ``step`` on every record of ``sdf`` under the record guard, and send
    its outputs (each to its own topic, with its own key and headers) to
    ``outputs``' topics. A step that raises sends the record to claims.dlq
    with the exception's class as its reason; an output larger than the
    topics' message size is answered in a size that fits (RecordGuard.fit).

    Outputs carry the input record's timestamp (Kafka Streams' convention)."""
    return send(app, guard_steps(sdf, settings, step), outputs)


def guarded_stateful(
    app: Application,
    sdf: StreamingDataFrame,
    settings: Settings,
    step: StatefulStep,
    outputs: Iterable[TopicSpec],
) -> StreamingDataFrame:
    """:func:`guarded` for a step that reads and writes the key's state.

    A failing step's state writes of that record stay (Quix's transaction is
    the checkpoint, not the record): write state last, after what can fail."""
    return send(app, guard_stateful_steps(sdf, settings, step), outputs)


def guard_steps(
    sdf: StreamingDataFrame, settings: Settings, step: StatelessStep
) -> StreamingDataFrame:
    """The :class:`Outgoing` records ``step`` returns for each record of
    ``sdf`` (one row each), under the record guard, not yet sent: for a
    topology that routes some of them on (e.g. into a ``group_by``)."""
    guard = RecordGuard(settings.service, settings.max_message_bytes)

    def run(value: bytes | None, key: bytes | None, timestamp: int, headers: Any) -> list[Outgoing]:
        rec = _record(value, key, timestamp, headers)
        src = Source(rec.topic, rec.partition, rec.offset, rec.key, rec.value)
        return guard.run_sync(src, lambda: step(rec))

    return sdf.apply(run, metadata=True, expand=True)


def rekeyed(
    app: Application,
    sdf: StreamingDataFrame,
    settings: Settings,
    step: StatelessStep,
    *,
    through: TopicSpec,
    group_by: str,
) -> StreamingDataFrame:
    """``step``'s records for ``through`` (each keyed by ``step``) read back
    from the engine's repartition topic ``group_by`` names, so the next step
    sees every record of a key on one partition. What the guard dead-letters
    (an undecodable record has no key to re-key by) goes to claims.dlq first."""
    routed = guard_steps(sdf, settings, step)
    # One chain, not a branch per topic: where a dataframe branches, Quix
    # pickles every row and unpickles a copy for each further branch
    # (quixstreams/core/stream/functions/base.py, _resolve_branching), a cost
    # paid for every claim to spare the rare dead letter.
    producer = sdf.processing_context.producer
    # Declared all the same: the Application checks at start that it exists.
    raw_topic(app, CLAIMS_DLQ)

    def dead_letter(out: Outgoing, _key: Any, timestamp: int, _headers: Any) -> None:
        if out.topic == CLAIMS_DLQ.name:
            # Quix's own producer: the record joins the checkpoint (its
            # delivery checked before the input offsets commit, and its
            # transaction under exactly-once), as to_topic's would.
            producer.produce(
                topic=CLAIMS_DLQ.name,
                key=out.key,
                value=out.value,
                headers=out.headers,
                timestamp=timestamp,
            )

    return (
        routed.update(dead_letter, metadata=True)
        .filter(lambda out: out.topic == through.name)
        .set_headers(lambda out, *_: out.headers)
        .group_by(
            lambda out: out.key,
            name=group_by,
            key_serializer="bytes",
            value_serializer=OutgoingValue(),
            key_deserializer="bytes",
            value_deserializer="bytes",
        )
    )


def guard_stateful_steps(
    sdf: StreamingDataFrame, settings: Settings, step: StatefulStep
) -> StreamingDataFrame:
    """:func:`guard_steps` for a step that reads and writes the key's state."""
    guard = RecordGuard(settings.service, settings.max_message_bytes)

    def run(
        value: bytes | None, key: bytes | None, timestamp: int, headers: Any, state: State[Any, Any]
    ) -> list[Outgoing]:
        rec = _record(value, key, timestamp, headers)
        src = Source(rec.topic, rec.partition, rec.offset, rec.key, rec.value)
        return guard.run_sync(src, lambda: step(rec, state))

    return sdf.apply(run, metadata=True, expand=True, stateful=True)


def guarded_store(
    app: Application,
    sdf: StreamingDataFrame,
    settings: Settings,
    step: StoreStep,
    outputs: Iterable[TopicSpec],
    *,
    before: Callable[[Record], None] | None = None,
) -> StreamingDataFrame:
    """:func:`guarded_stateful` for a step that reads and writes the state of
    other keys of the record's partition too (an index kept under a fixed key,
    entries a timer expires). ``before(record)`` runs outside the guard: what
    it raises stops the Application instead of dead-lettering the record.

    The keys must be of this partition: the store of a partition holds only
    the keys Kafka put in it."""
    guard = RecordGuard(settings.service, settings.max_message_bytes)
    stream_id = sdf.stream_id

    def run(
        value: bytes | None, key: bytes | None, timestamp: int, headers: Any, _: State[Any, Any]
    ) -> list[Outgoing]:
        rec = _record(value, key, timestamp, headers)
        if before is not None:
            before(rec)
        tx = sdf.processing_context.checkpoint.get_store_transaction(
            stream_id=stream_id, partition=rec.partition
        )

        def states(k: bytes) -> State[Any, Any]:
            return tx.as_state(prefix=k, timestamp=timestamp)

        src = Source(rec.topic, rec.partition, rec.offset, rec.key, rec.value)
        return guard.run_sync(src, lambda: step(rec, states))

    stepped = sdf.apply(run, metadata=True, expand=True, stateful=True)
    return send(app, stepped, outputs)


#: Told (topic, partition, offset) of every record a step is given: the PHI
#: read audit (runtime.audit.TopicReads), set by the runner when it is on.
_read_audit: Callable[[str, int, int], None] | None = None


def set_read_audit(observe: Callable[[str, int, int], None] | None) -> None:
    global _read_audit
    _read_audit = observe


def _record(value: bytes | None, key: bytes | None, timestamp: int, headers: Any) -> Record:
    ctx = message_context()
    if _read_audit is not None:
        _read_audit(ctx.topic, ctx.partition, ctx.offset)
    return Record(
        key=key or b"",
        value=value,
        headers=list(headers or ()),
        topic=ctx.topic,
        partition=ctx.partition,
        offset=ctx.offset,
        timestamp_ms=timestamp,
    )


def send(
    app: Application, sdf: StreamingDataFrame, outputs: Iterable[TopicSpec]
) -> StreamingDataFrame:
    """Send each :class:`Outgoing` row of ``sdf`` to its topic (one of
    ``outputs``) with its own key and headers."""
    topics = {spec.name: raw_topic(app, spec) for spec in outputs}

    def topic_of(out: Outgoing, *_: Any) -> Topic:
        return topics[out.topic]

    def headers_of(out: Outgoing, *_: Any) -> list[tuple[str, bytes]]:
        return out.headers

    def key_of(out: Outgoing) -> bytes:
        return out.key

    return sdf.set_headers(headers_of).to_topic(topic_of, key=key_of)


class LagSampler:
    """librdkafka's statistics (``stats_cb``) into the consumer gauges.

    Called on the consuming thread during ``poll``, every
    :data:`STATS_INTERVAL_MS`. A partition counts while it is assigned
    (``fetch_state`` other than ``none``); its end is the broker's high
    watermark and its committed offset the group's (before the first commit
    of this process, the position the consumer has reached). Changelog
    partitions, read only to restore state, are left out.
    """

    def __init__(self, metrics: ServiceMetrics) -> None:
        self._m = metrics

    def __call__(self, stats_json: str) -> None:
        try:
            rows, assigned = partition_offsets(json.loads(stats_json))
            self._m.observe_partitions(rows, assigned)
        except Exception as exc:  # a malformed report must not reach the poll loop
            log.debug("consumer_lag_not_sampled", error=type(exc).__name__)


def partition_offsets(
    stats: dict[str, Any],
) -> tuple[list[tuple[str, int, int, int]], dict[str, int]]:
    """(topic, partition, end, committed) of each assigned source partition in
    one librdkafka statistics report, and the number assigned per topic."""
    rows: list[tuple[str, int, int, int]] = []
    assigned: dict[str, int] = {}
    for topic, t in sorted(stats.get("topics", {}).items()):
        if topic.startswith("changelog__"):
            continue
        for key, p in sorted(t.get("partitions", {}).items(), key=lambda kv: int(kv[0])):
            partition = int(key)
            if partition < 0 or p.get("fetch_state", "none") == "none":
                continue
            assigned[topic] = assigned.get(topic, 0) + 1
            end = int(p.get("hi_offset", -1))
            committed = int(p.get("committed_offset", -1))
            if committed < 0:
                committed = int(p.get("app_offset", -1))
            if end >= 0 and committed >= 0:
                rows.append((topic, partition, end, committed))
    return rows, assigned
