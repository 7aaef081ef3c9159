"""The batched hot path of a stateless check: claims.submitted -> claims.checks
through aiokafka directly, a batch at a time.

Faust's per-event path costs about half a millisecond of CPU per event
(docs/performance.md); a check whose rules take a tenth of that spends most
of its time in the transport. This agent reads up to ``max_records`` claims
with one ``getmany``, judges each with the same :class:`ClaimJudge` as the
Faust agent, sends every verdict, waits for all acknowledgements, then
commits the batch's offsets: at-least-once, like the Faust path (a crash
between the sends and the commit redelivers the batch, and the aggregator
ignores verdicts it already counted).

It runs inside the service's Faust worker as a mode Service, so start-up,
SIGTERM, gRPC and /metrics stay as for every other service. Its consumer
group is the service's usual ``claimscrub-<service>`` (so offsets, dashboards
and KEDA's lag trigger carry over); the Faust app of a batched service takes
another id (``claimscrub-<service>-runtime``) so the two never share a group.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import CommitFailedError, KafkaError
from mode import Service

from claimscrub.core.checks import Check
from claimscrub.core.codec import CONTENT_TYPE
from claimscrub.runtime import logs
from claimscrub.runtime.check_agent import ClaimEvent, ClaimJudge
from claimscrub.runtime.kafka_config import kafka_client_kwargs
from claimscrub.runtime.metrics import service_metrics
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import CLAIMS_SUBMITTED

log = logs.get_logger(__name__)

LAG_SAMPLE_INTERVAL_S = 5.0
# aiokafka keeps one fetch in flight per broker; a partition drained while a
# long poll for the others is pending waits for it. Kafka's 500 ms default
# then becomes a stage's latency; 50 ms costs a few idle fetches a second.
FETCH_MAX_WAIT_MS = 50


async def sample_lag(consumer: Any, source: str) -> None:
    """One sample of committed and end offsets of a consumer's partitions (metrics);
    ``source`` tells this consumer's partitions from the other consumers' of the process."""
    tps = sorted(consumer.assignment(), key=lambda tp: (tp.topic, tp.partition))
    if not tps:
        return
    try:
        ends = await consumer.end_offsets(tps)
    except KafkaError:
        return
    rows = []
    committed_all = await asyncio.gather(*(consumer.committed(tp) for tp in tps))
    for tp, committed in zip(tps, committed_all, strict=True):
        if committed is None:
            committed = await consumer.position(tp)
        rows.append((tp.topic, tp.partition, int(ends[tp]), int(committed)))
    service_metrics().observe_partitions(
        rows, dict(collections.Counter(tp.topic for tp in tps)), source=source
    )


async def sample_forever(
    consumer: Any, source: str, also: Callable[[], None] | None = None
) -> None:
    """Sample lag every LAG_SAMPLE_INTERVAL_S beside the processing loop (a task
    of its own: the broker round trips never hold a batch up)."""
    while True:
        await asyncio.sleep(LAG_SAMPLE_INTERVAL_S)
        try:
            await sample_lag(consumer, source)
            if also is not None:
                also()
        except Exception as exc:  # a missed sample is taken again next time
            log.warning("lag_sample_failed", error=type(exc).__name__)


def _content_type(headers: Any) -> bytes | None:
    for name, value in headers or ():
        if name.lower() == CONTENT_TYPE:
            return bytes(value)
    return None


class BatchCheckAgent(Service):
    """One consumer, one producer, a loop of batches."""

    def __init__(
        self,
        settings: Settings,
        check: Check,
        *,
        ready: Callable[[], Awaitable[object]] | None = None,
        max_records: int = 500,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._settings = settings
        self._judge = ClaimJudge(settings, check)
        self._ready = ready
        self._max_records = max_records
        self._consumer: Any = None
        self._producer: Any = None
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def group_id(self) -> str:
        return f"claimscrub-{self._settings.service}"

    async def on_start(self) -> None:
        bootstrap, security = self._settings.kafka_bootstrap, self._settings.kafka
        self._producer = AIOKafkaProducer(
            **kafka_client_kwargs(
                bootstrap, security, acks="all", linger_ms=5, client_id=self._settings.instance
            )
        )
        self._consumer = AIOKafkaConsumer(
            CLAIMS_SUBMITTED.name,
            **kafka_client_kwargs(bootstrap, security),
            group_id=self.group_id,
            client_id=self._settings.instance,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._max_records,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )
        await self._producer.start()
        await self._consumer.start()
        self._loop_task = asyncio.create_task(self._run())
        log.info("batch_agent_started", group=self.group_id, max_records=self._max_records)

    async def _run(self) -> None:
        try:
            await self._consume()
        except Exception as exc:
            # Health must not say SERVING over a dead loop: stop the worker,
            # and let the orchestrator restart the process.
            await self.crash(exc)

    async def _consume(self) -> None:
        if self._ready is not None:
            await self._ready()
        sampler = asyncio.create_task(sample_forever(self._consumer, self.group_id))
        try:
            while not self._stopping.is_set():
                batches = await self._consumer.getmany(
                    timeout_ms=200, max_records=self._max_records
                )
                if batches:
                    await self._process(batches)
        finally:
            sampler.cancel()

    async def _process(self, batches: dict[Any, list[Any]]) -> None:
        today = dt.date.today()
        pending = []
        for records in batches.values():
            for rec in records:
                out = self._judge.judge(
                    ClaimEvent(
                        key=rec.key or b"",
                        value=rec.value,
                        content_type=_content_type(rec.headers),
                        topic=rec.topic,
                        partition=rec.partition,
                        offset=rec.offset,
                        timestamp_ms=int(rec.timestamp),
                    ),
                    today,
                )
                pending.append(
                    await self._producer.send(
                        out.topic, out.value, key=out.key, headers=out.headers or None
                    )
                )
        # Every verdict acknowledged before the claims are marked done.
        await asyncio.gather(*pending)
        try:
            await self._consumer.commit()
        except CommitFailedError:
            # A rebalance took the partitions away mid-batch: their new owner
            # re-reads them, and the aggregator ignores the repeated verdicts.
            log.warning("batch_commit_failed_after_rebalance")

    async def on_stop(self) -> None:
        """Finish the batch in hand, commit it, then close the clients."""
        self._stopping.set()
        if self._loop_task is not None:
            try:
                await asyncio.wait_for(self._loop_task, self._settings.shutdown_grace_s)
            except (TimeoutError, asyncio.CancelledError):
                self._loop_task.cancel()
            except Exception as exc:  # the loop's own failure: still close the clients
                log.error("batch_agent_failed", error=type(exc).__name__)
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
        log.info("batch_agent_stopped")


def attach_batch_agent(
    app: Any,
    settings: Settings,
    check: Check,
    *,
    ready: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Run ``check`` on the batched path inside ``app``'s worker."""

    class _Agent(BatchCheckAgent):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(settings, check, ready=ready, **kwargs)

    app.service(_Agent)


def stateless_check_app(
    settings: Settings,
    check: Check,
    *,
    ready: Callable[[], Awaitable[object]] | None = None,
    before: Callable[[Any], None] | None = None,
) -> Any:
    """The Faust app of a stateless check service, on the configured transport.

    ``before`` registers services that must start ahead of the check (e.g. a
    reference table that streams in), in the order the app starts them.
    """
    from claimscrub.runtime.check_agent import install_check_agent
    from claimscrub.runtime.streams import make_app

    if settings.transport == "batch":
        app = make_app(settings, app_id=f"claimscrub-{settings.service}-runtime")
        if before is not None:
            before(app)
        attach_batch_agent(app, settings, check, ready=ready)
    else:
        app = make_app(settings)
        if before is not None:
            before(app)
        install_check_agent(app, settings, check, ready=ready)
    return app
