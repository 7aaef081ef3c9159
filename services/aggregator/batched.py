"""The aggregator on the batched transport (CLAIMSCRUB_TRANSPORT=batch, default).

The same topology and pure steps as :mod:`claimscrub.aggregator.agent` (the
Faust transport), run by two :class:`~claimscrub.runtime.batch_table.BatchTableAgent`:

    claims.checks  -- collect (group claimscrub-aggregator) --  state: claim-state
        -> aggregator.claims-by-fingerprint
    aggregator.claims-by-fingerprint  -- publish (group claimscrub-aggregator-publish) --
        state: ledger  -> claims.scrubbed

Each batch sends its outputs, waits for them, then writes the changed state
(one changelog record per key per batch) and waits again before committing:
a forward goes out before the state that says it went out, and a result
before the ledger mark that says it was published (docs/aggregator.md). The
changelogs are the Faust tables', so the two transports read each other's
state. Timers run between batches on the partitions the agent owns: the
CHECK_INCOMPLETE sweep on the collector, ledger pruning on the publisher.
On every assignment the publisher reads claims.scrubbed back before
publishing anything (aggregator.recovery), as the Faust transport does.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterable
from typing import Any

from claimscrub.aggregator import ledger as ledger_rules
from claimscrub.aggregator.agent import (
    LEDGER_TABLE,
    STATE_TABLE,
    SUBMITTED_MS_HEADER,
    forward_record,
    now_ms,
)
from claimscrub.aggregator.metrics import aggregator_metrics
from claimscrub.aggregator.recovery import PublishTrust
from claimscrub.aggregator.settings import AggregatorSettings
from claimscrub.aggregator.state import collect, due_at_ms, expire, is_due
from claimscrub.core.codec import (
    UndecodableEvent,
    decode_check_result,
    encode_scrub_result,
    scrub_result_from_pb,
)
from claimscrub.core.results import with_claim_edits
from claimscrub.runtime import logs
from claimscrub.runtime.batch_table import InRecord, PartitionState, attach_batch_table
from claimscrub.runtime.guard import Outgoing, dlq_headers
from claimscrub.runtime.metrics import service_metrics
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.streams import header
from claimscrub.runtime.topics import (
    AGGREGATOR_BY_FINGERPRINT,
    AGGREGATOR_LEDGER_CHANGELOG,
    AGGREGATOR_STATE_CHANGELOG,
    CLAIMS_CHECKS,
    CLAIMS_DLQ,
    CLAIMS_SCRUBBED,
)
from claimscrub.v1 import results_pb2

log = logs.get_logger(__name__)


class _Publisher(PublishTrust):
    """The read-back's trust, and the publishing partitions it was taken for."""

    def __init__(self, incarnation: str, bootstrap: str, group_id: str) -> None:
        super().__init__(incarnation, bootstrap, group_id)
        self.partitions: set[int] = set()


def attach_batched_aggregator(app: Any, settings: Settings, agg: AggregatorSettings) -> None:
    service = settings.service
    m = service_metrics()
    m.expect_results()
    am = aggregator_metrics()
    required = settings.required_checks
    timeout_ms = int(agg.check_timeout_s * 1000)
    grace_ms = int(agg.grace_s * 1000)
    retention_ms = int(agg.retention_s * 1000)
    incarnation = uuid.uuid4().hex[:12]
    clock_start_ms: dict[int, int] = {}
    # Per owned partition, (due time, claim key) of every state written: the
    # sweep pops what is due instead of asking each state (there are as many
    # as claims within the grace period). Entries of states written again
    # since are stale: popped, found not due, dropped.
    due: dict[int, list[tuple[int, bytes]]] = {}
    collector_tables: dict[int, PartitionState] = {}
    # Per owned publishing partition: no ledger mark is older than this (ms);
    # unknown (0) after an assignment, so the first prune looks.
    mark_floor: dict[int, int] = {}
    publish_group = f"claimscrub-{service}-publish"
    publisher = _Publisher(incarnation, settings.kafka_bootstrap, publish_group)

    def dead_letter(rec: InRecord, reason: str) -> Outgoing:
        m.dead_lettered(service, reason)
        log.warning("event_dead_lettered", reason=reason, topic=rec.topic, partition=rec.partition)
        return Outgoing(
            CLAIMS_DLQ.name,
            rec.key,
            rec.value or b"",
            dlq_headers(service, reason, rec.topic, rec.partition, rec.offset),
        )

    forward = forward_record

    # --- collect: claims.checks -> claim-state -> claims-by-fingerprint ----------

    async def collect_one(rec: InRecord, table: PartitionState) -> list[Outgoing]:
        try:
            incoming = decode_check_result(rec.value or b"")
        except UndecodableEvent as exc:
            return [dead_letter(rec, str(exc))]
        key = rec.key or incoming.claim_id.encode()
        old = table.get(key)
        step = collect(
            old,
            incoming,
            required,
            now_ms=now_ms(),
            partition=rec.partition,
            incarnation=incarnation,
        )
        if step.duplicate:
            m.redelivered.labels(incoming.check.value).inc()
        if step.state is not old:
            table[key] = step.state
            schedule(rec.partition, key, step.state)
        return [forward(step.forward)] if step.forward is not None else []

    def schedule(partition: int, key: bytes, state: Any) -> None:
        at = due_at_ms(
            state,
            timeout_ms=timeout_ms,
            grace_ms=grace_ms,
            clock_start_ms=clock_start_ms.get(partition, 0),
        )
        if at is not None:
            heapq.heappush(due.setdefault(partition, []), (at, key))

    async def expire_pending(tables: dict[int, PartitionState]) -> Iterable[Outgoing]:
        now = now_ms()
        out: list[Outgoing] = []
        for p, table in tables.items():
            start = clock_start_ms.get(p, 0)
            heap = due.setdefault(p, [])
            while heap and heap[0][0] <= now:
                _, key = heapq.heappop(heap)
                value = table.get(key)
                if not isinstance(value, dict):
                    continue
                timing = {"timeout_ms": timeout_ms, "grace_ms": grace_ms, "clock_start_ms": start}
                if not is_due(value, now_ms=now, **timing):
                    continue  # written again since: its own entry is further on
                new, completed = expire(
                    key.decode("utf-8", "replace"),
                    value,
                    required,
                    now_ms=now,
                    incarnation=incarnation,
                    **timing,
                )
                out.extend(forward(c) for c in completed)
                if new is None:
                    del table[key]
                    am.expired.labels(STATE_TABLE).inc()
                else:
                    table[key] = new
                    schedule(p, key, new)
        return out

    async def checks_assigned(partitions: set[int]) -> None:
        # A claim's timeout counts from when this instance took its partition
        # over at the earliest (aggregator.state.is_due).
        now = now_ms()
        for p in partitions - set(clock_start_ms):
            clock_start_ms[p] = now
            # Its states were just read back from the changelog: one pass
            # orders them (the only full scan).
            due[p] = []
            table = collector_tables.get(p, PartitionState(p))
            for key in table.snapshot_keys():
                value = table.get(key)
                if isinstance(value, dict):
                    schedule(p, key, value)
        for p in set(clock_start_ms) - partitions:
            del clock_start_ms[p]
            due.pop(p, None)

    # --- publish: claims-by-fingerprint -> ledger -> claims.scrubbed -------------

    async def publish_assigned(partitions: set[int]) -> None:
        for p in set(mark_floor) - partitions:
            del mark_floor[p]
        publisher.assignment += 1
        publisher.partitions = partitions
        # Bounded: a rebalance callback must not hang on a broker that is away;
        # ensure_trust retries before the next batch.
        await publisher.read_back(partitions, 15.0)

    async def ensure_trust() -> None:
        await publisher.ensure(lambda: publisher.partitions)

    async def publish_one(rec: InRecord, table: PartitionState) -> list[Outgoing]:
        msg = results_pb2.ScrubResult()
        try:
            msg.ParseFromString(rec.value or b"")
            result = scrub_result_from_pb(msg)
        except Exception:
            return [dead_letter(rec, "invalid ScrubResult")]
        if not result.claim_id:
            return [dead_letter(rec, "ScrubResult without claimId")]
        decision = ledger_rules.decide(
            table.get(rec.key),
            result.claim_id,
            msg.claim_version,
            fingerprinted=not rec.key.startswith(b"claim:"),
            now_ms=now_ms(),
            partition=rec.partition,
            trust=publisher.trust,
        )
        if decision.edits is None:
            am.republish_skipped.labels(decision.skipped_by).inc()
            return []
        value = rec.value or b""
        if decision.edits:
            result = with_claim_edits(result, decision.edits)
            value = encode_scrub_result(result, msg.claim_version)
            am.duplicates.inc()
        table[rec.key] = decision.entry
        submitted = int(header(rec.headers, SUBMITTED_MS_HEADER) or b"0")
        m.result_published(result, submitted)
        return [Outgoing(CLAIMS_SCRUBBED.name, result.claim_id.encode(), value)]

    async def expire_ledger(tables: dict[int, PartitionState]) -> Iterable[Outgoing]:
        now = now_ms()
        for p, table in tables.items():
            # Marks are written at the time of publishing, so no entry of this
            # partition can expire before its oldest mark at the last look:
            # the scan (a pass over every fingerprint) runs only when one may.
            if mark_floor.get(p, 0) > now - retention_ms:
                continue
            floor = now
            for key in table.snapshot_keys():
                value = table.get(key)
                if not isinstance(value, dict):
                    continue
                oldest = ledger_rules.oldest_mark_ms(value)
                if oldest > now - retention_ms:
                    floor = min(floor, oldest)
                    continue
                pruned = ledger_rules.prune(value, now_ms=now, retention_ms=retention_ms)
                if pruned is None:
                    del table[key]
                    am.expired.labels(LEDGER_TABLE).inc()
                else:
                    table[key] = pruned
                    floor = min(floor, ledger_rules.oldest_mark_ms(pruned))
            mark_floor[p] = floor
        return ()

    attach_batch_table(
        app,
        settings,
        group_id=f"claimscrub-{service}",
        topics=[CLAIMS_CHECKS.name],
        changelog=AGGREGATOR_STATE_CHANGELOG.name,
        table_name=STATE_TABLE,
        tables=collector_tables,
        handler=collect_one,
        on_assigned=checks_assigned,
        # Every second: with the states kept in order of due time a sweep costs
        # what is due, so small frequent sweeps hold a batch up least.
        tick=(max(0.25, min(agg.check_timeout_s / 4, 1.0)), expire_pending),
    )
    attach_batch_table(
        app,
        settings,
        group_id=publish_group,
        topics=[AGGREGATOR_BY_FINGERPRINT.name],
        changelog=AGGREGATOR_LEDGER_CHANGELOG.name,
        table_name=LEDGER_TABLE,
        handler=publish_one,
        on_assigned=publish_assigned,
        before_batch=ensure_trust,
        tick=(max(1.0, min(agg.retention_s / 10, 60.0)), expire_ledger),
    )
