"""Drive claims through a running pipeline and time each one, submit to result.

The driver shares the machine's two cores with the broker and the services, so
it is written to cost as little as it can: confluent-kafka's producer and
consumer (librdkafka, the services' client family), the consumer in a thread
of its own so a result is stamped when it arrives, not when the producer loop
lets it.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    Consumer,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from claimscrub.bench.claims import make_claims
from claimscrub.core.codec import CONTENT_TYPE, encode_claim_json
from claimscrub.runtime import registry
from claimscrub.runtime.kafka_config import client_config, producer_config
from claimscrub.runtime.topics import (
    AGGREGATOR_BY_FINGERPRINT,
    CLAIMS_CHECKS,
    CLAIMS_SCRUBBED,
    CLAIMS_SUBMITTED,
    REDACTION_BY_CLAIM,
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

    :meth:`start` returns once the consumer is assigned every partition at
    its end offset, so no result of a claim sent after it can be missed.
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
            self._consume()
        except BaseException as exc:  # reported by start() or stop()
            self._error = exc
            self._positioned.set()

    def _consume(self) -> None:
        topic = CLAIMS_SCRUBBED.name
        consumer = Consumer(
            client_config(
                self._servers,
                # Assigned, never subscribed: the group only names the client.
                group_id="claimscrub-bench-collector",
                enable_auto_commit=False,
                fetch_wait_max_ms=50,
            )
        )
        try:
            partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
            # Each partition's end now, asked of the broker: an assignment at
            # OFFSET_END would be resolved later, after claims may have been sent.
            ends = [
                TopicPartition(
                    topic,
                    p,
                    consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1],
                )
                for p in sorted(partitions)
            ]
            consumer.assign(ends)
            self._positioned.set()
            expected, received = self._expected, self._run.received
            while not self._stop_flag.is_set():
                # poll() returns as soon as a result is there; consume() with a
                # timeout would wait until it has num_messages or the records
                # stop coming for that long (librdkafka's batch consume), and
                # every result of the batch would be stamped late.
                first = consumer.poll(0.1)
                if first is None:
                    continue
                # What else has already arrived, without waiting.
                messages = [first, *consumer.consume(num_messages=5000, timeout=0)]
                now = time.monotonic()
                for msg in messages:
                    key = msg.key()
                    if msg.error() is not None or key not in expected:
                        continue
                    if key in received:
                        self._run.duplicates += 1
                    else:
                        received[key] = now
        finally:
            consumer.close()

    def stop(self) -> None:
        self._stop_flag.set()
        self.join(10)


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
        _produce(bootstrap, records, run, rate, timeout_s, on_progress)
    finally:
        collector.stop()
    return run


def _produce(
    bootstrap: str,
    records: Sequence[Record],
    run: LoadRun,
    rate: float | None,
    timeout_s: float,
    on_progress: Callable[[int, int], None],
) -> None:
    producer = Producer(
        producer_config(bootstrap, None, **{"acks": 1, "linger.ms": 2, "batch.size": 256 * 1024})
    )
    failed: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    start = time.monotonic()
    for i, (key, value, headers) in enumerate(records):
        if rate:
            pause = start + i / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        run.sent[key] = time.monotonic()
        while True:
            try:
                producer.produce(
                    CLAIMS_SUBMITTED.name, value, key, headers=headers, on_delivery=delivered
                )
                break
            except BufferError:  # librdkafka's queue is full: let it send
                producer.poll(0.05)
        producer.poll(0)
        if i % 1000 == 0:
            on_progress(i, len(run.received))
    left = producer.flush(60)
    if failed or left:
        raise RuntimeError(
            f"{len(failed)} claims not delivered, {left} unsent: {failed[0] if failed else ''}"
        )
    deadline = time.monotonic() + timeout_s
    while len(run.received) < len(records) and time.monotonic() < deadline:
        on_progress(len(records), len(run.received))
        time.sleep(0.2)
    on_progress(len(records), len(run.received))


#: The aggregator's ticks (aggregator/clock.py) arrive on these topics every
#: second whatever the load, so a partition of theirs a few records behind
#: its end, committed within the last second or so, has caught up.
TICKED_TOPICS = frozenset({CLAIMS_CHECKS.name, AGGREGATOR_BY_FINGERPRINT.name})
TICK_SLACK = 3
#: Written in Kafka transactions (an exactly-once service's outputs and its
#: own repartition topic): a partition ends with the last transaction's commit
#: marker, an offset no reader is given, so a reader that has read every
#: record has committed one short of the end.
TRANSACTIONAL_TOPICS = frozenset(
    {REDACTION_BY_CLAIM.name}
    | {topic for s in registry.services() if s.exactly_once for topic in s.writes}
)
MARKER_SLACK = 1


def _lag(admin: AdminClient, groups: list[str]) -> int | None:
    """The records ``groups`` still have to read; None when it cannot be told yet."""
    committed: list[TopicPartition] = []
    for group in groups:
        # One group per request (confluent-kafka's AdminClient asks so).
        request = [ConsumerGroupTopicPartitions(group)]
        for future in admin.list_consumer_group_offsets(request).values():
            committed += [tp for tp in future.result().topic_partitions if tp.offset >= 0]
    if not committed:
        return 0
    asked = {TopicPartition(tp.topic, tp.partition): OffsetSpec.latest() for tp in committed}
    try:
        ends: dict[tuple[str, int], int] = {
            (tp.topic, tp.partition): int(future.result().offset)
            for tp, future in admin.list_offsets(asked).items()
        }
    except KafkaException:
        return None  # a partition without a leader for a moment: look again
    lag = 0
    for tp in committed:
        behind = max(0, ends[(tp.topic, tp.partition)] - int(tp.offset))
        ticks = tp.topic in TICKED_TOPICS and behind <= TICK_SLACK
        if ticks or (tp.topic in TRANSACTIONAL_TOPICS and behind <= MARKER_SLACK):
            behind = 0
        lag += behind
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
    admin = AdminClient(client_config(bootstrap))
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        # Only groups with members: an earlier run's group on the same
        # broker keeps its lag for ever.
        listed = admin.list_consumer_groups(states={ConsumerGroupState.STABLE}).result()
        groups = sorted(g.group_id for g in listed.valid if g.group_id.startswith(prefix))
        lag = _lag(admin, groups) if groups else None
        if lag is not None:
            on_progress(lag)
            if lag == 0:
                return time.monotonic() - start
        time.sleep(0.5)
    return None
