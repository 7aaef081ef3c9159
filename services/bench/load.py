"""Drive claims through a running pipeline and time each one, submit to result."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from claimscrub.runtime.kafka_config import kafka_client_kwargs
from claimscrub.runtime.topics import CLAIMS_SCRUBBED, CLAIMS_SUBMITTED

Record = tuple[bytes, bytes, list[tuple[str, bytes]]]


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
    """Reads claims.scrubbed from its current end, stamping each key's arrival."""

    def __init__(self, bootstrap: str, run: LoadRun, expected: set[bytes]) -> None:
        super().__init__(daemon=True)
        from kafka import KafkaConsumer, TopicPartition

        self._run = run
        # Only this phase's claims count: a service that replays older claims
        # must not make the phase look finished.
        self._expected = expected
        self._stop_flag = threading.Event()
        self._consumer = KafkaConsumer(
            **kafka_client_kwargs(
                bootstrap, enable_auto_commit=False, max_poll_records=5000, fetch_max_wait_ms=50
            )
        )
        parts = self._consumer.partitions_for_topic(CLAIMS_SCRUBBED.name) or set()
        tps = [TopicPartition(CLAIMS_SCRUBBED.name, p) for p in parts]
        self._consumer.assign(tps)
        self._consumer.seek_to_end(*tps)
        for tp in tps:
            self._consumer.position(tp)

    def run(self) -> None:
        try:
            while not self._stop_flag.is_set():
                batches = self._consumer.poll(timeout_ms=100)
                now = time.monotonic()
                for records in batches.values():
                    for rec in records:
                        if rec.key not in self._expected:
                            continue
                        if rec.key in self._run.received:
                            self._run.duplicates += 1
                        else:
                            self._run.received[rec.key] = now
        finally:
            self._consumer.close()

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
    from kafka import KafkaProducer

    run = LoadRun()
    collector = ResultCollector(bootstrap, run, {r[0] for r in records})
    collector.start()
    producer: Any = KafkaProducer(
        **kafka_client_kwargs(bootstrap),
        acks=1,
        linger_ms=2,
        batch_size=256 * 1024,
        max_in_flight_requests_per_connection=5,
    )
    start = time.monotonic()
    try:
        for i, (key, value, headers) in enumerate(records):
            if rate:
                due = start + i / rate
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            run.sent[key] = time.monotonic()
            producer.send(CLAIMS_SUBMITTED.name, key=key, value=value, headers=headers)
            if i % 1000 == 0:
                on_progress(i, len(run.received))
        producer.flush()
        deadline = time.monotonic() + timeout_s
        while len(run.received) < len(records) and time.monotonic() < deadline:
            on_progress(len(records), len(run.received))
            time.sleep(0.2)
        on_progress(len(records), len(run.received))
    finally:
        producer.close()
        collector.stop()
    return run
