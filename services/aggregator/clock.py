"""The aggregator's clock: ticks on its own input, and an index of due states.

The stream engine has no punctuators: a step runs only when a record of its
partition arrives. The CHECK_INCOMPLETE timeout, the grace period of done
versions, the late-verdict window and the ledger's retention must advance
when no claim arrives, so the aggregator sends itself records:

- :class:`TickSource` (a thread of the aggregator process) produces a *tick*
  to every partition of claims.checks every :data:`TICK_S`: an empty value
  with the header ``claimscrub-tick`` and a key (:func:`tick_key`) that
  murmur2 places in that partition. Every aggregator instance ticks every
  partition, so a partition keeps ticking whoever owns it; the step reads its
  own wall clock, so a tick only says "look now" and extra ticks cost a look.
- The collect step answers a tick by expiring what is due in that partition,
  and forwards the tick, with its key, to aggregator.claims-by-fingerprint,
  whose partition of the same number then ticks the ledger step. Both topics
  have the same partition count (``topics create``), so the key lands there.

Quix state is keyed by the record's key, so a tick cannot walk the other
keys. Each store therefore keeps, beside the states, a :class:`DueIndex`
under a fixed key of its partition: per second of due time a count and the
keys due then. Writing a state appends its key to the second it is next due
(one count and one key, O(1)); a tick pops the seconds that have passed since
the last look and hands their keys back. A popped key whose state is not due
(written again since, or its clock restarted) is looked at again when due.

:class:`PartitionClock` tells, per partition, since when this process has
seen the partition without a gap: a gap of more than :data:`GAP_MS` (ticks
come every second) means the process did not own it meanwhile (a restart, a
rebalance, a broker away). Timeouts count from then at the earliest.
"""

from __future__ import annotations

import threading
from typing import Any

from quixstreams import State

from claimscrub.runtime import logs
from claimscrub.runtime.kafka_config import producer_config
from claimscrub.runtime.partitioner import murmur2_partition
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import CLAIMS_CHECKS

log = logs.get_logger(__name__)

TICK_HEADER = "claimscrub-tick"
TICK_S = 1.0
#: No record of a partition for this long: this process did not own it meanwhile.
GAP_MS = 5_000
#: The key, in each partition's store, under which the due index lives (no
#: claimId or fingerprint starts with a NUL byte).
INDEX_KEY = b"\x00due-index"
BUCKET_MS = 1_000


def tick_key(partition: int, partitions: int) -> bytes:
    """A key that Kafka's default partitioner (murmur2) puts in ``partition``."""
    i = 0
    while True:
        key = f"\x00tick:{partition}:{i}".encode()
        if murmur2_partition(key, partitions) == partition:
            return key
        i += 1


def is_tick(headers: list[tuple[str, bytes]]) -> bool:
    return any(k == TICK_HEADER for k, _ in headers)


class TickSource:
    """Produces a tick to every partition of claims.checks every :data:`TICK_S`."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ticks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        from confluent_kafka import Producer

        s = self._settings
        producer = Producer(
            producer_config(
                s.kafka_bootstrap,
                s.kafka,
                client_id=f"{s.instance}-ticks",
                linger_ms=5,
                # A tick that cannot be sent soon is useless: the next one follows.
                message_timeout_ms=10_000,
            )
        )
        keys: list[bytes] = []
        warned = False
        while not self._stop.wait(TICK_S):
            try:
                if not keys:
                    meta = producer.list_topics(CLAIMS_CHECKS.name, timeout=5)
                    count = len(meta.topics[CLAIMS_CHECKS.name].partitions)
                    keys = [tick_key(p, count) for p in range(count)]
                for p, key in enumerate(keys):
                    producer.produce(
                        CLAIMS_CHECKS.name, b"", key, partition=p, headers=[(TICK_HEADER, b"1")]
                    )
                producer.poll(0)
                warned = False
            except Exception as exc:  # the broker may be away: the next tick tries again
                if not warned:
                    log.warning("tick_not_sent", error=type(exc).__name__)
                    warned = True
                keys = []
        producer.flush(2)


class PartitionClock:
    """Per partition, since when this process has seen it without a gap."""

    def __init__(self, gap_ms: int = GAP_MS) -> None:
        self._gap_ms = gap_ms
        self._last: dict[int, int] = {}
        self._start: dict[int, int] = {}

    def seen(self, partition: int, now_ms: int) -> bool:
        """Record a record of ``partition``; True when its clock (re)starts."""
        last = self._last.get(partition)
        self._last[partition] = now_ms
        if last is None or now_ms - last > self._gap_ms:
            self._start[partition] = now_ms
            return True
        return False

    def start_ms(self, partition: int) -> int:
        return self._start.get(partition, 0)


class DueIndex:
    """Keys of one store partition by the second they are next due.

    ``index`` is the partition's State under :data:`INDEX_KEY`. Entries:
    ``cursor`` (every second up to it has been popped) and ``b:<second>``
    (the keys due then, hex). One value per second, not per key: the engine
    writes a changelog record per value changed in a checkpoint, so a
    second's keys cost one record, however many claims fell in it."""

    def __init__(self, index: State[Any, Any], bucket_ms: int = BUCKET_MS) -> None:
        self._s = index
        self._bucket_ms = bucket_ms

    def schedule(self, key: bytes, due_ms: int, now_ms: int) -> None:
        cursor = self._s.get("cursor")
        if cursor is None:
            cursor = now_ms // self._bucket_ms - 1
            self._s.set("cursor", cursor)
        bucket = max(due_ms // self._bucket_ms, int(cursor) + 1)
        keys: list[str] = self._s.get(f"b:{bucket}") or []
        keys.append(key.hex())
        self._s.set(f"b:{bucket}", keys)

    def keys(self, added: int = 0) -> int:
        """How many keys the store partition holds besides the index (what
        the ``claimscrub_table_keys`` gauge shows), after ``added`` more."""
        n = int(self._s.get("keys", 0))
        if added:
            n = max(0, n + added)
            self._s.set("keys", n)
        return n

    def pop_due(self, now_ms: int) -> list[bytes]:
        """Keys of every second wholly past (all of them due by ``now_ms``), once.

        The cursor moves first, so keys scheduled again meanwhile go after it."""
        cursor = self._s.get("cursor")
        last = now_ms // self._bucket_ms - 1
        if cursor is None or int(cursor) >= last:
            return []
        self._s.set("cursor", last)
        out: list[bytes] = []
        for bucket in range(int(cursor) + 1, last + 1):
            keys = self._s.get(f"b:{bucket}")
            if keys:
                out.extend(bytes.fromhex(k) for k in keys)
                self._s.delete(f"b:{bucket}")
        return out
