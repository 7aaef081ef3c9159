"""Follows the compacted topic providers.enrollment into the enrollment table.

Every instance reads every partition from the beginning without a consumer
group (the global-table pattern: the records are small reference data and a
claim may name any provider). Faust's own GlobalTable is not used: its
docstring warns that several app instances can loop forever in recovery
(faust/tables/globaltable.py; robinhood/faust#716, faust-streaming/faust#212).

:attr:`TableFollower.ready` is set once the table holds everything the topic
held when the follower started; until then claims wait and gRPC is not served.
After that, each update applies as soon as it is read, so it takes effect for
every claim processed after it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from mode import Service

from claimscrub.enrollment.metrics import enrollment_metrics
from claimscrub.enrollment.table import EnrollmentTable, Outcome
from claimscrub.runtime import logs
from claimscrub.runtime.kafka_config import KafkaSecurity, kafka_client_kwargs
from claimscrub.runtime.topics import PROVIDERS_ENROLLMENT

log = logs.get_logger(__name__)

_POLL_MS = 200
_MISSING_TOPIC_RETRY_S = 1.0


class TableFollower:
    def __init__(
        self,
        table: EnrollmentTable,
        bootstrap: str,
        *,
        client_id: str = "claimscrub-enrollment",
        topic: str = PROVIDERS_ENROLLMENT.name,
        security: KafkaSecurity | None = None,
    ) -> None:
        self.table = table
        self.topic = topic
        self.ready = asyncio.Event()
        self._bootstrap = bootstrap
        self._security = security
        self._client_id = client_id
        self._consumer: AIOKafkaConsumer | None = None
        self._metrics = enrollment_metrics()

    async def _wait_for_topic(self, consumer: AIOKafkaConsumer) -> None:
        warned = False
        while self.topic not in await consumer.topics():
            if not warned:
                # Never subscribe before it exists: a dev broker would
                # auto-create it without compaction (kafka.sh topics makes it).
                log.warning("enrollment_topic_missing", topic=self.topic)
                warned = True
            await asyncio.sleep(_MISSING_TOPIC_RETRY_S)

    async def catch_up(self) -> None:
        """Read the topic from the beginning up to its end offsets at this moment."""
        consumer = AIOKafkaConsumer(
            **kafka_client_kwargs(
                self._bootstrap,
                self._security,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                client_id=self._client_id,
            )
        )
        self._consumer = consumer
        await consumer.start()
        await self._wait_for_topic(consumer)
        # Without a group, aiokafka assigns every partition of a subscribed
        # topic to this consumer (NoGroupCoordinator), new partitions included.
        consumer.subscribe([self.topic])
        while not consumer.assignment():
            await self._apply(await consumer.getmany(timeout_ms=_POLL_MS))
        tps = sorted(consumer.assignment())
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        pending = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
        while pending:
            await self._apply(await consumer.getmany(timeout_ms=_POLL_MS))
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        self.ready.set()
        self._metrics.ready.set(1)
        log.info("enrollment_table_ready", records=len(self.table), partitions=len(tps))

    async def follow(self) -> None:
        """Apply updates as they arrive, until cancelled."""
        consumer = self._consumer
        assert consumer is not None, "catch_up() first"
        while True:
            await self._apply(await consumer.getmany(timeout_ms=_POLL_MS))

    async def _apply(self, batches: dict[TopicPartition, list[Any]]) -> None:
        for records in batches.values():
            for rec in records:
                result = self.table.apply_event(rec.key, rec.value)
                self._metrics.events.labels(result.outcome.value).inc()
                if result.outcome is Outcome.REJECTED:
                    log.warning(
                        "enrollment_record_rejected",
                        reason=result.reason,
                        partition=rec.partition,
                        offset=rec.offset,
                    )
        self._metrics.records.set(len(self.table))

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


def follower_service(follower: TableFollower) -> type[Service]:
    """The follower as a mode Service for ``app.service``: ``on_start`` returns
    only once the table has caught up, which holds back every app service
    registered after it (the gRPC server)."""

    class EnrollmentTableService(Service):
        async def on_start(self) -> None:
            await follower.catch_up()

        @Service.task
        async def _follow(self) -> None:
            await follower.follow()

        async def on_shutdown(self) -> None:
            # After mode has cancelled _follow: stopping the consumer under a
            # running getmany() would make the task fail on the way out.
            await follower.stop()

    return EnrollmentTableService
