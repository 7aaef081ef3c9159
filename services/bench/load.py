"""Drive claims through a running pipeline and time each one, submit to result.

The driver shares the machine's two cores with the broker and the services, so
it is written to cost as little as it can: aiokafka's producer and consumer
(about 18 and 5 µs of CPU per record here, against 111 and 98 µs for
kafka-python's; docs/performance.md), the consumer in a thread of its own so a
result is stamped when it arrives, not when the producer loop lets it.
"""

from __future__ import annotations

import asyncio
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from claimscrub.bench.claims import make_claims
from claimscrub.core.codec import CONTENT_TYPE, encode_claim_json
from claimscrub.runtime.kafka_config import kafka_client_kwargs
from claimscrub.runtime.topics import (
    AGGREGATOR_BY_FINGERPRINT,
    CLAIMS_CHECKS,
    CLAIMS_SCRUBBED,
    CLAIMS_SUBMITTED,
)

Record = tuple[bytes, bytes, list[tuple[str, bytes]]]


def claim_records(n: int, prefix: str) -> list[Record]:
    """``n`` generated claims (claimIds ``prefix``...) as claims.submitted records,
    encoded as a billing platform would publish them; each prefix its own claims."""
    out: list[Record] = []
    for claim in make_claims(n, prefix, seed=zlib.crc32(prefix.encode())):
        value, ctype = encode_claim_json(claim)
        out.append((claim["claimId"].encode(), value, [(CONTENT_TYPE, ctype)]))
    return out


@dataclass
class LoadRun:
    sent: dict[bytes, float] = field(default_factory=dict)
    received: dict[bytes, float] = field(default_factory=dict)
    duplicates: int = 0

    def latencies_ms(self) -> list[float]:
        return sorted(
            1000 * (self.received[k] - t) for k, t in self.sent.items() if k in self.received
        )

    def throughput(self) -> float:
        if not self.received or not self.sent:
            return 0.0
        span = max(self.received.values()) - min(self.sent.values())
        return len(self.received) / span if span > 0 else 0.0


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


class ResultCollector(threading.Thread):
    """Reads claims.scrubbed from its current end, stamping each key's arrival.

    :meth:`start` returns once the consumer sits at the topic's end, so no
    result of a claim sent after it can be missed.
    """

    def __init__(self, bootstrap: str, run: LoadRun, expected: set[bytes]) -> None:
        super().__init__(daemon=True)
        self._servers = bootstrap
        self._run = run
        # Only this phase's claims count: a service that replays older claims
        # must not make the phase look finished.
        self._expected = expected
        self._stop_flag = threading.Event()
        self._positioned = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        super().start()
        self._positioned.wait(60)
        if self._error is not None:
            raise self._error
        if not self._positioned.is_set():
            raise TimeoutError(f"could not read {CLAIMS_SCRUBBED.name} within 60 s")

    def run(self) -> None:
        try:
            asyncio.run(self._consume())
        except BaseException as exc:  # reported by start() or stop()
            self._error = exc
            self._positioned.set()

    async def _consume(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            **kafka_client_kwargs(self._servers),
            enable_auto_commit=False,
            max_poll_records=5000,
            fetch_max_wait_ms=50,
        )
        await consumer.start()
        try:
            tps = [TopicPartition(CLAIMS_SCRUBBED.name, p) for p in _partitions(self._servers)]
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)
            for tp in tps:
                await consumer.position(tp)
            self._positioned.set()
            expected, received = self._expected, self._run.received
            while not self._stop_flag.is_set():
                batches = await consumer.getmany(timeout_ms=100)
                now = time.monotonic()
                for records in batches.values():
                    for rec in records:
                        if rec.key not in expected:
                            continue
                        if rec.key in received:
                            self._run.duplicates += 1
                        else:
                            received[rec.key] = now
        finally:
            await consumer.stop()

    def stop(self) -> None:
        self._stop_flag.set()
        self.join(10)


def _partitions(bootstrap: str) -> set[int]:
    # aiokafka's consumer knows a topic's partitions only once subscribed to it;
    # a one-off metadata request is simpler than a subscription.
    from kafka import KafkaConsumer

    lookup = KafkaConsumer(**kafka_client_kwargs(bootstrap))
    try:
        return lookup.partitions_for_topic(CLAIMS_SCRUBBED.name) or set()
    finally:
        lookup.close()


def drive(
    bootstrap: str,
    records: Sequence[Record],
    *,
    rate: float | None,
    timeout_s: float,
    on_progress: Callable[[int, int], None] = lambda sent, got: None,
) -> LoadRun:
    """Publish ``records`` (as fast as possible, or at ``rate`` per second) and
    wait until every key has a result or ``timeout_s`` passed."""
    run = LoadRun()
    collector = ResultCollector(bootstrap, run, {r[0] for r in records})
    collector.start()
    try:
        asyncio.run(_produce(bootstrap, records, run, rate, timeout_s, on_progress))
    finally:
        collector.stop()
    return run


async def _produce(
    bootstrap: str,
    records: Sequence[Record],
    run: LoadRun,
    rate: float | None,
    timeout_s: float,
    on_progress: Callable[[int, int], None],
) -> None:
    from aiokafka import AIOKafkaProducer

    producer: Any = AIOKafkaProducer(
        **kafka_client_kwargs(bootstrap), acks=1, linger_ms=2, max_batch_size=256 * 1024
    )
    await producer.start()
    try:
        sent: list[asyncio.Future[Any]] = []
        start = time.monotonic()
        for i, (key, value, headers) in enumerate(records):
            if rate:
                pause = start + i / rate - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
            run.sent[key] = time.monotonic()
            sent.append(await producer.send(CLAIMS_SUBMITTED.name, value, key=key, headers=headers))
            if i % 1000 == 0:
                on_progress(i, len(run.received))
        await asyncio.gather(*sent)
        deadline = time.monotonic() + timeout_s
        while len(run.received) < len(records) and time.monotonic() < deadline:
            on_progress(len(records), len(run.received))
            await asyncio.sleep(0.2)
        on_progress(len(records), len(run.received))
    finally:
        await producer.stop()


#: The aggregator's ticks (aggregator/clock.py) arrive on these topics every
#: second whatever the load, so a partition of theirs a few records behind
#: its end, committed within the last second or so, has caught up.
TICKED_TOPICS = frozenset({CLAIMS_CHECKS.name, AGGREGATOR_BY_FINGERPRINT.name})
TICK_SLACK = 3


def _lag(admin: Any, ends_reader: Any, groups: list[str]) -> int | None:
    """The records ``groups`` still have to read; None when it cannot be told yet."""
    lag = 0
    for committed in admin.list_group_offsets({g: None for g in groups}).values():
        try:
            ends = ends_reader.end_offsets(list(committed))
            for tp, c in committed.items():
                behind = max(0, ends[tp] - c.offset)
                if tp.topic in TICKED_TOPICS and behind <= TICK_SLACK:
                    behind = 0
                lag += behind
        except KeyError:
            # kafka-python 3.0 can answer end_offsets without a partition it
            # was asked for (KeyError in its fetcher): look again.
            return None
    return lag


def wait_idle(
    bootstrap: str,
    timeout_s: float,
    *,
    prefix: str = "claimscrub-",
    on_progress: Callable[[int], None] = lambda lag: None,
) -> float | None:
    """Wait until every active consumer group named ``prefix...`` (the
    services') has committed up to the end of what it reads: no lag anywhere,
    so the services downstream of the results have finished their backlog
    too. ``on_progress`` is told the records still to read at every look.
    Returns the seconds waited, or None if there was still lag after
    ``timeout_s``."""
    from kafka import KafkaConsumer
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(**kafka_client_kwargs(bootstrap))
    ends_reader = KafkaConsumer(**kafka_client_kwargs(bootstrap))
    start = time.monotonic()
    try:
        while time.monotonic() - start < timeout_s:
            # Only groups with members: an earlier run's group on the same
            # broker keeps its lag for ever.
            groups = [
                g["group_id"]
                for g in admin.list_groups(states_filter=["Stable"])
                if g["group_id"].startswith(prefix)
            ]
            lag = _lag(admin, ends_reader, groups) if groups else None
            if lag is not None:
                on_progress(lag)
                if lag == 0:
                    return time.monotonic() - start
            time.sleep(0.5)
        return None
    finally:
        ends_reader.close()
        admin.close()
