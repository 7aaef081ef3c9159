"""The aggregator's stream: one ScrubResult per claim version, whatever fails.

    claims.checks (key claimId; and the aggregator's ticks)
        -> collect: store of claims.checks (key claimId)   (undecodable -> claims.dlq)
           every required check answered, the timeout passed (CHECK_INCOMPLETE),
           or a late verdict completed a timed-out version (revision 2)
    aggregator.claims-by-fingerprint (key duplicate fingerprint, or claim:<claimId>)
        -> publish: store of aggregator.claims-by-fingerprint (the ledger):
           DUPLICATE_CLAIM, once per claim version and revision
    claims.scrubbed (key claimId)

Both steps run on the stream engine (runtime.engine.guarded_store) with
their state in RocksDB and the engine's changelog topics. The clock that
expires states when no claim arrives is the aggregator's ticks
(claimscrub.aggregator.clock). The pure rules are aggregator.state (collect,
expire) and aggregator.ledger (decide, prune); docs/aggregator.md gives the
reasoning behind each step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from confluent_kafka import KafkaException
from quixstreams import Application, State
from quixstreams.dataframe import StreamingDataFrame

from claimscrub.aggregator import ledger as ledger_rules
from claimscrub.aggregator.clock import (
    GAP_MS,
    INDEX_KEY,
    TICK_HEADER,
    DueIndex,
    PartitionClock,
    is_tick,
)
from claimscrub.aggregator.metrics import aggregator_metrics
from claimscrub.aggregator.recovery import PartitionTrust, RecoveryError
from claimscrub.aggregator.settings import AggregatorSettings
from claimscrub.aggregator.state import Completed, collect, due_at_ms, expire, is_due
from claimscrub.core.codec import (
    UndecodableEvent,
    decode_check_result,
    encode_scrub_result,
    scrub_result_from_pb,
)
from claimscrub.core.results import with_claim_edits
from claimscrub.runtime import logs
from claimscrub.runtime.engine import (
    EngineApplication,
    Record,
    consumer_group,
    guarded_store,
    raw_topic,
)
from claimscrub.runtime.guard import Outgoing, dlq_headers
from claimscrub.runtime.metrics import service_metrics
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import (
    AGGREGATOR_BY_FINGERPRINT,
    CLAIMS_CHECKS,
    CLAIMS_DLQ,
    CLAIMS_SCRUBBED,
)
from claimscrub.v1 import results_pb2

log = logs.get_logger(__name__)

SUBMITTED_MS_HEADER = "claimscrub-submitted-ms"
#: On a forwarded version after a key rotation: its fingerprint under the
#: current key, then under each earlier key, comma-separated (ledger.lookup).
FINGERPRINTS_HEADER = "claimscrub-fingerprints"
INCOMPLETE_CODE = "CHECK_INCOMPLETE"
STATE_TABLE = "claim-state"
LEDGER_TABLE = "ledger"
#: The state key, under each claimId or fingerprint, that holds its value.
VALUE = "v"

States = Callable[[bytes], State[Any, Any]]


def now_ms() -> int:
    return int(time.time() * 1000)


def forward_record(c: Completed) -> Outgoing:
    """A completed claim version on its way to the publish step, keyed by fingerprint."""
    am = aggregator_metrics()
    for check in c.missing:
        am.incomplete.labels(check, "stream").inc()
    headers = [(SUBMITTED_MS_HEADER, str(c.submitted_at_ms).encode())]
    if c.fingerprint and c.earlier_fingerprints:
        fps = ",".join([c.fingerprint, *c.earlier_fingerprints])
        headers.append((FINGERPRINTS_HEADER, fps.encode()))
    return Outgoing(
        AGGREGATOR_BY_FINGERPRINT.name,
        ledger_rules.routing_key(c.fingerprint, c.earlier_fingerprints, c.claim_id).encode(),
        encode_scrub_result(c.result, c.version),
        headers,
    )


def lookup_keys(rec: Record) -> list[bytes]:
    """The ledger keys of a forwarded version: the one its entry is written
    under (the current key's fingerprint), then the earlier keys' ones."""
    fps = rec.header(FINGERPRINTS_HEADER)
    if not fps:
        return [rec.key]
    return [fp for fp in fps.split(b",") if fp] or [rec.key]


class TableSizes:
    """The ``claimscrub_table_keys`` gauge: keys in the store partitions this
    process has processed within the last :data:`~claimscrub.aggregator.clock.GAP_MS`
    (each partition's count lives in its store, so it survives restarts)."""

    def __init__(self) -> None:
        self._m = service_metrics()
        self._seen: dict[tuple[str, int], tuple[int, int]] = {}

    def observe(self, table: str, partition: int, keys: int, now: int) -> None:
        self._seen[(table, partition)] = (keys, now)
        totals: dict[str, int] = {}
        for (name, _), (n, at) in self._seen.items():
            if now - at <= GAP_MS:
                totals[name] = totals.get(name, 0) + n
            else:
                totals.setdefault(name, 0)
        self._m.observe_tables(totals)


def topology(
    app: Application, settings: Settings, agg: AggregatorSettings, incarnation: str
) -> StreamingDataFrame:
    service = settings.service
    m = service_metrics()
    m.expect_results()
    am = aggregator_metrics()
    required = settings.required_checks
    timing = {
        "timeout_ms": int(agg.check_timeout_s * 1000),
        "grace_ms": int(agg.grace_s * 1000),
        "late_ms": int(agg.late_verdict_s * 1000),
    }
    retention_ms = int(agg.retention_s * 1000)
    checks_clock = PartitionClock()
    sizes = TableSizes()
    publisher = PartitionTrust(incarnation, settings.kafka_bootstrap, consumer_group(settings))

    def dead_letter(rec: Record, reason: str) -> Outgoing:
        m.dead_lettered(service, reason)
        log.warning("event_dead_lettered", reason=reason, topic=rec.topic, partition=rec.partition)
        return Outgoing(
            CLAIMS_DLQ.name,
            rec.key,
            rec.value or b"",
            dlq_headers(service, reason, rec.topic, rec.partition, rec.offset),
        )

    # --- collect: claims.checks -> claim state -> claims-by-fingerprint ----------

    def schedule(index: DueIndex, key: bytes, old: Any, new: Any, start: int, now: int) -> None:
        args = {**timing, "clock_start_ms": start}
        at = due_at_ms(new, **args)
        if at is not None and (not isinstance(old, dict) or at != due_at_ms(old, **args)):
            index.schedule(key, at, now)

    def expire_due(rec: Record, states: States, index: DueIndex, now: int) -> list[Outgoing]:
        start = checks_clock.start_ms(rec.partition)
        out: list[Outgoing] = []
        for key in index.pop_due(now):
            st = states(key)
            value = st.get(VALUE)
            if not isinstance(value, dict):
                continue
            if not is_due(value, now_ms=now, clock_start_ms=start, **timing):
                schedule(index, key, None, value, start, now)
                continue
            new, completed = expire(
                key.decode("utf-8", "replace"),
                value,
                required,
                now_ms=now,
                clock_start_ms=start,
                incarnation=incarnation,
                **timing,
            )
            out.extend(forward_record(c) for c in completed)
            if new is None:
                st.delete(VALUE)
                index.keys(-1)
                am.expired.labels(STATE_TABLE).inc()
            else:
                st.set(VALUE, new)
                schedule(index, key, None, new, start, now)
        return out

    def collect_step(rec: Record, states: States) -> list[Outgoing]:
        now = now_ms()
        checks_clock.seen(rec.partition, now)
        index = DueIndex(states(INDEX_KEY))
        if is_tick(rec.headers):
            tick = Outgoing(AGGREGATOR_BY_FINGERPRINT.name, rec.key, b"", [(TICK_HEADER, b"1")])
            out = [*expire_due(rec, states, index, now), tick]
            sizes.observe(STATE_TABLE, rec.partition, index.keys(), now)
            return out
        try:
            incoming = decode_check_result(rec.value or b"")
        except UndecodableEvent as exc:
            return [dead_letter(rec, str(exc))]
        key = rec.key or incoming.claim_id.encode()
        st = states(key)
        old = st.get(VALUE)
        step = collect(
            old,
            incoming,
            required,
            now_ms=now,
            partition=rec.partition,
            incarnation=incarnation,
            late_ms=timing["late_ms"],
        )
        if step.duplicate:
            m.redelivered.labels(incoming.check.value).inc()
        out = [forward_record(step.forward)] if step.forward is not None else []
        if step.state is not old:
            st.set(VALUE, step.state)
            if old is None:
                index.keys(1)
            schedule(index, key, old, step.state, checks_clock.start_ms(rec.partition), now)
        return out

    # --- publish: claims-by-fingerprint -> ledger -> claims.scrubbed -------------

    def prune_due(states: States, index: DueIndex, now: int) -> None:
        for key in index.pop_due(now):
            st = states(key)
            entry = st.get(VALUE)
            if not isinstance(entry, dict):
                continue
            oldest = ledger_rules.oldest_mark_ms(entry)
            if oldest + retention_ms > now:
                index.schedule(key, oldest + retention_ms, now)
                continue
            pruned = ledger_rules.prune(entry, now_ms=now, retention_ms=retention_ms)
            if pruned is None:
                st.delete(VALUE)
                index.keys(-1)
                am.expired.labels(LEDGER_TABLE).inc()
            else:
                st.set(VALUE, pruned)
                index.schedule(key, ledger_rules.oldest_mark_ms(pruned) + retention_ms, now)

    def publish_step(rec: Record, states: States) -> list[Outgoing]:
        now = now_ms()
        index = DueIndex(states(INDEX_KEY))
        if is_tick(rec.headers):
            prune_due(states, index, now)
            sizes.observe(LEDGER_TABLE, rec.partition, index.keys(), now)
            return []
        msg = results_pb2.ScrubResult()
        try:
            msg.ParseFromString(rec.value or b"")
            result = scrub_result_from_pb(msg)
        except Exception:
            return [dead_letter(rec, "invalid ScrubResult")]
        if not result.claim_id:
            return [dead_letter(rec, "ScrubResult without claimId")]
        key, *earlier_keys = lookup_keys(rec)
        st = states(key)
        old = st.get(VALUE)
        if old is None and earlier_keys:
            base = ledger_rules.lookup(None, [states(k).get(VALUE) for k in earlier_keys])
        else:
            base = old
        trust = publisher.trust(rec.partition)
        incomplete = any(e.code == INCOMPLETE_CODE for e in result.edits)
        revision = ledger_rules.publish_as(
            base,
            result.claim_id,
            msg.claim_version,
            revision=result.revision,
            incomplete=incomplete,
            trust=trust,
        )
        decision = ledger_rules.decide(
            base,
            result.claim_id,
            ledger_rules.published_version(msg.claim_version, revision),
            fingerprinted=not key.startswith(b"claim:"),
            now_ms=now,
            partition=rec.partition,
            trust=trust,
            incomplete_of=msg.claim_version if incomplete and revision <= 1 else "",
        )
        if decision.edits is None:
            am.republish_skipped.labels(decision.skipped_by).inc()
            return []
        value = rec.value or b""
        if decision.edits or revision != result.revision:
            result = with_claim_edits(replace(result, revision=revision), decision.edits)
            value = encode_scrub_result(result, msg.claim_version)
            am.duplicates.inc()
        submitted = int(rec.header(SUBMITTED_MS_HEADER) or b"0")
        out = [Outgoing(CLAIMS_SCRUBBED.name, result.claim_id.encode(), value)]
        st.set(VALUE, decision.entry)
        if not isinstance(old, dict):
            index.keys(1)
            index.schedule(key, ledger_rules.oldest_mark_ms(decision.entry) + retention_ms, now)
        m.result_published(result, submitted)
        return out

    # Publishing partitions taken over since their last read-back: a
    # rebalance, or the first assignment of this process.
    unread: set[int] = set()

    def assigned(topic: str, partition: int) -> None:
        if topic == AGGREGATOR_BY_FINGERPRINT.name:
            unread.add(partition)

    if not isinstance(app, EngineApplication):
        raise TypeError("the aggregator needs runtime.engine's Application (its assignments)")
    app.on_assigned.append(assigned)

    def before_publish(rec: Record) -> None:
        # Before the partition's first record since it was assigned, on the
        # consuming thread (not inside the rebalance). Outside the record
        # guard: a read-back that fails is no fault of the record, so the
        # Application is restarted (runtime.runner) rather than the record
        # dead-lettered.
        if rec.partition in unread:
            try:
                publisher.read_back(rec.partition)
            except RecoveryError as exc:
                raise KafkaException(str(exc)) from None
            unread.discard(rec.partition)

    checks = app.dataframe(raw_topic(app, CLAIMS_CHECKS))
    guarded_store(app, checks, settings, collect_step, (AGGREGATOR_BY_FINGERPRINT, CLAIMS_DLQ))
    forwarded = app.dataframe(raw_topic(app, AGGREGATOR_BY_FINGERPRINT))
    return guarded_store(
        app, forwarded, settings, publish_step, (CLAIMS_SCRUBBED, CLAIMS_DLQ), before=before_publish
    )
