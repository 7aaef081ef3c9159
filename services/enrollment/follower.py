"""Follows the compacted topic providers.enrollment into the enrollment table.

Every instance reads every partition from the beginning without a consumer
group (the global-table pattern: the records are small reference data and a
claim may name any provider), on a thread of its own with a librdkafka
consumer configured like the stream engine's (runtime.engine.connection).

:attr:`TableFollower.ready` is set once the table holds everything the topic
held when the follower started; the service builds its stream and serves
gRPC only after that. From then on each update applies as soon as it is
read, so it takes effect for every claim processed after it. Partitions
added to the topic later are picked up within :data:`METADATA_REFRESH_S`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from claimscrub.enrollment.metrics import enrollment_metrics
from claimscrub.enrollment.table import EnrollmentTable, Outcome
from claimscrub.runtime import logs
from claimscrub.runtime.kafka_config import KafkaSecurity
from claimscrub.runtime.topics import PROVIDERS_ENROLLMENT

log = logs.get_logger(__name__)

_POLL_S = 0.2
_MISSING_TOPIC_RETRY_S = 1.0
_METADATA_TIMEOUT_S = 10.0
METADATA_REFRESH_S = 30.0


class TableFollower:
    def __init__(
        self,
        table: EnrollmentTable,
        bootstrap: str,
        *,
        client_id: str = "claimscrub-enrollment",
        group_id: str = "claimscrub-enrollment-table",
        topic: str = PROVIDERS_ENROLLMENT.name,
        security: KafkaSecurity | None = None,
    ) -> None:
        self.table = table
        self.topic = topic
        self.ready = threading.Event()
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            **(security or KafkaSecurity()).librdkafka_config(),
            # librdkafka wants a group id; without subscribe() or commits it
            # never joins or writes to the group. This one is under the
            # service's own prefix, which its ACLs grant.
            "group.id": group_id,
            "client.id": client_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            # The end of each partition is reported, so catching up ends there
            # even when the last offsets hold no record (control records).
            "enable.partition.eof": True,
        }
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed: BaseException | None = None
        self._metrics = enrollment_metrics()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="enrollment-table", daemon=True)
        self._thread.start()

    def wait_ready(self, stopping: threading.Event) -> bool:
        """Block until the table has caught up (True) or ``stopping`` is set."""
        while not self.ready.wait(0.2):
            if stopping.is_set():
                return False
            if self._failed is not None:
                raise RuntimeError("enrollment table follower failed") from self._failed
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        try:
            consumer = Consumer(self._config)
        except Exception as exc:
            self._failed = exc
            return
        try:
            self._follow(consumer)
        except Exception as exc:
            log.error("enrollment_follower_failed", error=type(exc).__name__)
            self._failed = exc
        finally:
            consumer.close()

    def _partitions(self, consumer: Consumer) -> list[int] | None:
        meta = consumer.list_topics(self.topic, timeout=_METADATA_TIMEOUT_S)
        topic = meta.topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            return None
        return sorted(topic.partitions)

    def _follow(self, consumer: Consumer) -> None:
        warned = False
        while (partitions := self._partitions(consumer)) is None:
            if not warned:
                # Never consume before it exists: a dev broker would
                # auto-create it without compaction (kafka.sh topics makes it).
                log.warning("enrollment_topic_missing", topic=self.topic)
                warned = True
            if self._stop.wait(_MISSING_TOPIC_RETRY_S):
                return
        consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])
        ends = {
            p: consumer.get_watermark_offsets(
                TopicPartition(self.topic, p), timeout=_METADATA_TIMEOUT_S
            )[1]
            for p in partitions
        }
        # Offsets read so far (next to read), per partition.
        read: dict[int, int] = dict.fromkeys(partitions, 0)
        at_end: set[int] = set()
        refreshed = time.monotonic()
        while not self._stop.is_set():
            for msg in consumer.consume(num_messages=500, timeout=_POLL_S):
                self._apply(msg, read, at_end)
            if not self.ready.is_set() and all(
                p in at_end or read[p] >= ends[p] for p in partitions
            ):
                self.ready.set()
                self._metrics.ready.set(1)
                log.info(
                    "enrollment_table_ready", records=len(self.table), partitions=len(partitions)
                )
            if time.monotonic() - refreshed > METADATA_REFRESH_S:
                refreshed = time.monotonic()
                now = self._partitions(consumer) or partitions
                if added := [p for p in now if p not in read]:
                    consumer.incremental_assign(
                        [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in added]
                    )
                    read.update(dict.fromkeys(added, 0))
                    ends.update(dict.fromkeys(added, 0))
                    partitions = sorted(read)

    def _apply(self, msg: Any, read: dict[int, int], at_end: set[int]) -> None:
        error = msg.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                at_end.add(msg.partition())
            else:
                log.warning("enrollment_consume_error", code=error.name())
            return
        read[msg.partition()] = msg.offset() + 1
        result = self.table.apply_event(msg.key(), msg.value())
        self._metrics.events.labels(result.outcome.value).inc()
        if result.outcome is Outcome.REJECTED:
            log.warning(
                "enrollment_record_rejected",
                reason=result.reason,
                partition=msg.partition(),
                offset=msg.offset(),
            )
        self._metrics.records.set(len(self.table))
