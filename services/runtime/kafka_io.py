"""The project's Kafka reads and writes outside the stream engine, on confluent-kafka.

The operator tools, the test helpers and the audit query read a topic from a time,
or from its beginning, up to the end offsets it had when they started
(:func:`read_to_end`), follow topics from their end as it is now
(:class:`Tail`), or publish records and wait for every acknowledgement
(:func:`produce_all`). The consumers use ``assign()``: they join no group and
commit nothing, so they need READ on their topics only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from claimscrub.runtime.kafka_config import KafkaSecurity, client_config, producer_config

#: Records fetched per call to a consumer.
BATCH = 5000
#: How long one metadata or offsets request may take.
REQUEST_TIMEOUT_S = 30.0


#: Told (topic, partition, offset) of each record a reader hands out: the
#: consumer read audit (runtime.audit.TopicReads.observe).
OnRead = Callable[[str, int, int], None]


class TopicMissing(LookupError):
    """The topic does not exist, or this principal may not read it."""

    def __init__(self, topic: str) -> None:
        super().__init__(f"topic {topic} does not exist or is not readable")
        self.topic = topic


@dataclass(frozen=True, slots=True)
class Received:
    """One record as read (a missing key or a tombstone's value reads as ``b""``)."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    timestamp: int  # ms since the epoch


def received(msg: Any) -> Received:
    """A confluent-kafka Message as a :class:`Received`."""
    return Received(
        msg.topic(),
        msg.partition(),
        msg.offset(),
        msg.key() or b"",
        msg.value() or b"",
        list(msg.headers() or []),
        msg.timestamp()[1],
    )


def reader(
    bootstrap: str,
    security: KafkaSecurity | None,
    *,
    client_id: str,
    group_id: str | None = None,
    **extra: Any,
) -> Any:
    """A consumer for ``assign()`` only (``extra``: librdkafka properties, ``_``
    for ``.``); ``group_id`` names a group whose committed offsets it reads."""
    from confluent_kafka import Consumer

    return Consumer(
        client_config(
            bootstrap,
            security,
            # Required by librdkafka; never joined or committed to. A principal
            # without this group sees its coordinator refused (an error event
            # the readers pass over), nothing else.
            group_id=group_id or f"{client_id}-unused",
            client_id=client_id,
            enable_auto_commit=False,
            **extra,
        )
    )


def partitions(consumer: Any, topic: str, timeout_s: float = REQUEST_TIMEOUT_S) -> list[int]:
    """The topic's partitions; :class:`TopicMissing` when it does not exist or is not readable."""
    metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise TopicMissing(topic)
    return sorted(metadata.partitions)


def read_to_end(
    bootstrap: str,
    topic: str,
    *,
    client_id: str,
    timeout_s: float,
    since_ms: int | None = None,
    last: int | None = None,
    security: KafkaSecurity | None = None,
    on_read: OnRead | None = None,
    **extra: Any,
) -> Iterator[Received]:
    """Every record of ``topic`` from ``since_ms`` (record time; None: the
    beginning), or the ``last`` records of each partition, to the end offsets
    it has now, each partition in offset order. :class:`TopicMissing` when
    the topic does not exist or is not readable, ``TimeoutError`` when it is
    not read to that end within ``timeout_s``. ``on_read(topic, partition,
    offset)`` is told of each record yielded (runtime.audit.TopicReads)."""
    from confluent_kafka import TopicPartition

    consumer = reader(bootstrap, security, client_id=client_id, **extra)
    try:
        parts = partitions(consumer, topic, timeout_s)
        bounds = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            for p in parts
        }
        if last is not None:
            starts = {p: max(low, high - last) for p, (low, high) in bounds.items()}
        elif since_ms is None:
            starts = {p: low for p, (low, _) in bounds.items()}
        else:
            found = consumer.offsets_for_times(
                [TopicPartition(topic, p, max(0, since_ms)) for p in parts], timeout=timeout_s
            )
            # No record at or after since_ms: a negative (logical) offset.
            starts = {tp.partition: tp.offset for tp in found if tp.offset >= 0}
        ends = {p: high for p, (_, high) in bounds.items()}
        todo = {p: start for p, start in starts.items() if start < ends[p]}
        if not todo:
            return
        consumer.assign([TopicPartition(topic, p, offset) for p, offset in todo.items()])
        deadline = time.monotonic() + timeout_s
        while todo:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} not read to its end within {timeout_s:g}s")
            for msg in consumer.consume(BATCH, 0.2):
                if msg.error() is None and msg.offset() < ends[msg.partition()]:
                    if on_read is not None:
                        on_read(msg.topic(), msg.partition(), msg.offset())
                    yield received(msg)
            for tp in consumer.position([TopicPartition(topic, p) for p in todo]):
                if tp.offset >= ends[tp.partition]:
                    del todo[tp.partition]
                    consumer.pause([TopicPartition(topic, tp.partition)])
    finally:
        consumer.close()


@contextmanager
def read_failures(topic: str, timeout_s: float, error: type[Exception]) -> Iterator[None]:
    """Raises ``error`` with a one-line reason (a topic and a Kafka error name,
    never record content) for what :func:`read_to_end` raises on ``topic``."""
    from confluent_kafka import KafkaException

    try:
        yield
    except TopicMissing:
        raise error(f"topic {topic} does not exist") from None
    except TimeoutError:
        raise error(f"timed out after {timeout_s:g}s reading {topic}") from None
    except KafkaException as exc:
        raise error(f"cannot read {topic}: {exc.args[0].name()}") from None


class Tail:
    """Every partition of ``topics`` from the end offsets they have when it is
    made (taken then, so records produced afterwards are all read), or with
    ``from_beginning`` from their first records (``extra``: librdkafka
    properties, ``_`` for ``.``; ``on_read`` as :func:`read_to_end`'s).
    :class:`TopicMissing` names a topic that does not exist or is not readable."""

    def __init__(
        self,
        bootstrap: str,
        security: KafkaSecurity | None,
        topics: Sequence[str],
        *,
        client_id: str,
        timeout_s: float = REQUEST_TIMEOUT_S,
        from_beginning: bool = False,
        on_read: OnRead | None = None,
        **extra: Any,
    ) -> None:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        self._on_read = on_read
        self._consumer = reader(bootstrap, security, client_id=client_id, **extra)

        def start(topic: str, p: int) -> int:
            if from_beginning:
                return int(OFFSET_BEGINNING)
            _, high = self._consumer.get_watermark_offsets(
                TopicPartition(topic, p), timeout=timeout_s
            )
            return int(high)

        try:
            assignment = [
                TopicPartition(topic, p, start(topic, p))
                for topic in topics
                for p in partitions(self._consumer, topic, timeout_s)
            ]
            self._consumer.assign(assignment)
        except BaseException:
            self._consumer.close()
            raise

    def records(self, timeout_s: float = 0.5) -> list[Received]:
        """What arrived, waiting up to ``timeout_s`` for the first of it."""
        out = [received(m) for m in self._consumer.consume(BATCH, timeout_s) if not m.error()]
        if self._on_read is not None:
            for r in out:
                self._on_read(r.topic, r.partition, r.offset)
        return out

    def close(self) -> None:
        self._consumer.close()


def produce_all(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes | None, Sequence[tuple[str, bytes]]]],
    *,
    client_id: str,
    timeout_s: float = REQUEST_TIMEOUT_S,
    security: KafkaSecurity | None = None,
    **extra: Any,
) -> list[tuple[int, int]]:
    """Publish (key, value, headers) records, idempotently, and wait for
    every acknowledgement (a ``None`` value is a tombstone); the (partition,
    offset) of each, in the order they were acknowledged. ``KafkaException``
    with the first failure, or when some are not acknowledged within
    ``timeout_s``."""
    from confluent_kafka import KafkaError, KafkaException, Producer

    # Idempotent: librdkafka retries a send until it times out, and a retry
    # must not write a record twice.
    producer = Producer(
        producer_config(
            bootstrap,
            security,
            acks="all",
            enable_idempotence=True,
            client_id=client_id,
            **extra,
        )
    )
    failed: list[Any] = []
    placed: list[tuple[int, int]] = []

    def delivered(error: Any, msg: Any) -> None:
        if error is not None:
            failed.append(error)
        else:
            placed.append((msg.partition(), msg.offset()))

    for key, value, headers in records:
        while True:
            try:
                producer.produce(topic, value, key, headers=list(headers), on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.1)
    if producer.flush(timeout_s) and not failed:
        failed.append(KafkaError(KafkaError._MSG_TIMED_OUT))
    if failed:
        raise KafkaException(failed[0])
    return placed
