"""The aggregator's topology: one ScrubResult per claim version, whatever fails.

    claims.checks (key claimId)
        -> collect: table claim-state (key claimId)      (undecodable -> claims.dlq)
           every required check answered, or the timeout passed (timer)
    aggregator.claims-by-fingerprint (key duplicate fingerprint)
        -> publish: table ledger (key fingerprint): DUPLICATE_CLAIM, once per version
    claims.scrubbed (key claimId)

Both tables are keyed like their input topic and use the producer's
partitioner for their changelogs, so the timers (which run on every instance,
outside any stream event) can write them too. Timers act only on entries of
partitions this instance owns: the in-memory store also holds standby
partitions and entries left over from partitions revoked in a rebalance.
See docs/aggregator.md for the reasoning behind each step.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import faust

from claimscrub.aggregator import ledger as ledger_rules
from claimscrub.aggregator.metrics import aggregator_metrics
from claimscrub.aggregator.recovery import PublishTrust
from claimscrub.aggregator.settings import AggregatorSettings
from claimscrub.aggregator.state import Completed, collect, expire, is_due
from claimscrub.core.codec import (
    UndecodableEvent,
    decode_check_result,
    encode_scrub_result,
    scrub_result_from_pb,
)
from claimscrub.core.results import with_claim_edits
from claimscrub.runtime import logs
from claimscrub.runtime.guard import Outgoing, RecordGuard, Source, dlq_headers
from claimscrub.runtime.metrics import service_metrics
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.streams import header, raw_topic
from claimscrub.runtime.topics import (
    AGGREGATOR_BY_FINGERPRINT,
    CLAIMS_CHECKS,
    CLAIMS_DLQ,
    CLAIMS_SCRUBBED,
)
from claimscrub.v1 import results_pb2

log = logs.get_logger(__name__)

SUBMITTED_MS_HEADER = "claimscrub-submitted-ms"
STATE_TABLE = "claim-state"
LEDGER_TABLE = "ledger"


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Aggregator:
    """Handles to what :func:`install_aggregator` declared (tests and main use them)."""

    app: faust.App
    state: Any
    ledger: Any
    incarnation: str
    #: The publish agent's trust in ledger marks, read back at every assignment.
    publish: PublishTrust
    #: Per claims.checks partition: when this instance took it over (ms).
    clock_start_ms: dict[int, int] = field(default_factory=dict)


def forward_record(c: Completed) -> Outgoing:
    """A completed claim version on its way to the publish step, keyed by fingerprint."""
    am = aggregator_metrics()
    for check in c.missing:
        am.incomplete.labels(check, "stream").inc()
    return Outgoing(
        AGGREGATOR_BY_FINGERPRINT.name,
        ledger_rules.ledger_key(c.fingerprint, c.claim_id).encode(),
        encode_scrub_result(c.result, c.version),
        [(SUBMITTED_MS_HEADER, str(c.submitted_at_ms).encode())],
    )


def _owned(app: faust.App, topic: str) -> set[int]:
    try:
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}
    except Exception:  # no assignment yet (the worker is still starting)
        return set()


def install_aggregator(app: faust.App, settings: Settings, agg: AggregatorSettings) -> Aggregator:
    checks_topic = raw_topic(app, CLAIMS_CHECKS)
    scrubbed = raw_topic(app, CLAIMS_SCRUBBED)
    dlq = raw_topic(app, CLAIMS_DLQ)
    by_fingerprint = app.topic(
        AGGREGATOR_BY_FINGERPRINT.name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
        internal=True,
    )
    # Values are the JSON-able dicts of aggregator.state / aggregator.ledger,
    # stored with the app's default JSON serializer.
    state_table = app.Table(
        STATE_TABLE,
        default=None,
        partitions=settings.topic_partitions,
        key_type=bytes,
        use_partitioner=True,
    )
    ledger_table = app.Table(
        LEDGER_TABLE,
        default=None,
        partitions=settings.topic_partitions,
        key_type=bytes,
        use_partitioner=True,
    )
    incarnation = uuid.uuid4().hex[:12]
    agg_state = Aggregator(
        app,
        state_table,
        ledger_table,
        incarnation,
        PublishTrust(incarnation, settings.kafka_bootstrap, app.conf.id),
    )
    m = service_metrics()
    m.expect_results()
    am = aggregator_metrics()
    required = settings.required_checks
    timeout_ms = int(agg.check_timeout_s * 1000)
    grace_ms = int(agg.grace_s * 1000)
    retention_ms = int(agg.retention_s * 1000)

    guard = RecordGuard(settings.service, settings.max_message_bytes)

    def source(event: Any) -> Source:
        msg = event.message
        return Source(msg.topic, msg.partition, msg.offset, event.key or b"", event.value)

    async def guarded(event: Any, handle: Any) -> None:
        """``handle(event)``; when it raises, the event goes to claims.dlq
        (runtime.guard) and the stream goes on."""
        try:
            await handle(event)
        except Exception as exc:
            out = guard.fit(
                guard.dead_letter(source(event), type(exc).__name__, kind="processing_error"),
                source(event),
            )
            await dlq.send(key=out.key, value=out.value, headers=out.headers)

    async def dead_letter(event: Any, reason: str) -> None:
        msg = event.message
        m.dead_lettered(settings.service, reason)
        log.warning("event_dead_lettered", reason=reason, topic=msg.topic, partition=msg.partition)
        await dlq.send(
            key=event.key or b"",
            value=event.value or b"",
            headers=dlq_headers(settings.service, reason, msg.topic, msg.partition, msg.offset),
        )

    async def forward(c: Completed) -> None:
        out = forward_record(c)
        await by_fingerprint.send(key=out.key, value=out.value, headers=out.headers)

    # --- collect: claims.checks -> claim-state -> claims-by-fingerprint ----------

    async def collect_checks(stream: Any) -> None:
        async for event in stream.events():
            await guarded(event, collect_one)

    async def collect_one(event: Any) -> None:
        try:
            incoming = decode_check_result(event.value or b"")
        except UndecodableEvent as exc:
            await dead_letter(event, str(exc))
            return
        key: bytes = event.key or incoming.claim_id.encode()
        old = state_table.get(key)
        step = collect(
            old,
            incoming,
            required,
            now_ms=now_ms(),
            partition=event.message.partition,
            incarnation=incarnation,
        )
        if step.duplicate:
            m.redelivered.labels(incoming.check.value).inc()
        # The forward goes out before the state that says it went out: a
        # crash in between forwards it again (the ledger skips it) rather
        # than never.
        if step.forward is not None:
            await forward(step.forward)
        if step.state is not old:
            state_table[key] = step.state

    async def expire_pending() -> None:
        try:
            await _expire_pending()
        except Exception as exc:  # a failed sweep is retried at the next tick
            log.error("expire_pending_failed", error=type(exc).__name__)

    async def _expire_pending() -> None:
        owned = _owned(app, CLAIMS_CHECKS.name)
        if not owned:
            return
        now = now_ms()
        for key, value in list(state_table.data.items()):
            if not isinstance(value, dict) or value.get("p") not in owned:
                continue
            start = agg_state.clock_start_ms.get(int(value["p"]), 0)
            if not is_due(
                value, now_ms=now, timeout_ms=timeout_ms, grace_ms=grace_ms, clock_start_ms=start
            ):
                continue
            new, completed = expire(
                key.decode("utf-8", "replace"),
                value,
                required,
                now_ms=now,
                timeout_ms=timeout_ms,
                grace_ms=grace_ms,
                clock_start_ms=start,
                incarnation=incarnation,
            )
            for c in completed:
                await forward(c)
            if new is None:
                del state_table[key]
                am.expired.labels(STATE_TABLE).inc()
            else:
                state_table[key] = new

    # --- publish: claims-by-fingerprint -> ledger -> claims.scrubbed -------------

    async def ensure_trust() -> None:
        # Normally done while the partitions are assigned (on_assigned); this
        # catches an assignment whose read-back failed.
        await agg_state.publish.ensure(lambda: _owned(app, AGGREGATOR_BY_FINGERPRINT.name))

    async def publish(stream: Any) -> None:
        async for event in stream.events():
            await ensure_trust()
            await guarded(event, publish_one)

    async def publish_one(event: Any) -> None:
        msg = results_pb2.ScrubResult()
        try:
            msg.ParseFromString(event.value or b"")
            result = scrub_result_from_pb(msg)
        except Exception:
            await dead_letter(event, "invalid ScrubResult")
            return
        if not result.claim_id:
            await dead_letter(event, "ScrubResult without claimId")
            return
        key: bytes = event.key or b""
        now = now_ms()
        decision = ledger_rules.decide(
            ledger_table.get(key),
            result.claim_id,
            msg.claim_version,
            fingerprinted=not key.startswith(b"claim:"),
            now_ms=now,
            partition=event.message.partition,
            trust=agg_state.publish.trust,
        )
        if decision.edits is None:
            am.republish_skipped.labels(decision.skipped_by).inc()
            return
        value = event.value or b""
        if decision.edits:
            result = with_claim_edits(result, decision.edits)
            value = encode_scrub_result(result, msg.claim_version)
            am.duplicates.inc()
        # Result first, then the mark (see ledger: a mark without its result
        # would lose the claim; a result without its mark is caught by the
        # read-back).
        out = guard.fit(
            Outgoing(CLAIMS_SCRUBBED.name, result.claim_id.encode(), value), source(event)
        )
        await (dlq if out.topic == CLAIMS_DLQ.name else scrubbed).send(
            key=out.key, value=out.value, headers=out.headers or None
        )
        ledger_table[key] = decision.entry
        submitted = int(header(event.headers, SUBMITTED_MS_HEADER) or b"0")
        m.result_published(result, submitted)

    async def expire_ledger() -> None:
        try:
            await _expire_ledger()
        except Exception as exc:  # a failed sweep is retried at the next tick
            log.error("expire_ledger_failed", error=type(exc).__name__)

    async def _expire_ledger() -> None:
        owned = _owned(app, AGGREGATOR_BY_FINGERPRINT.name)
        if not owned:
            return
        now = now_ms()
        for key, value in list(ledger_table.data.items()):
            if not isinstance(value, dict) or value.get("p") not in owned:
                continue
            if ledger_rules.oldest_mark_ms(value) > now - retention_ms:
                continue
            pruned = ledger_rules.prune(value, now_ms=now, retention_ms=retention_ms)
            if pruned is None:
                del ledger_table[key]
                am.expired.labels(LEDGER_TABLE).inc()
            else:
                ledger_table[key] = pruned

    async def on_assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
        assigned: set[Any] = args[0] if args else kwargs.get("assigned", set())
        now = now_ms()
        checks = {tp.partition for tp in assigned if tp.topic == CLAIMS_CHECKS.name}
        for p in checks - set(agg_state.clock_start_ms):
            agg_state.clock_start_ms[p] = now
        for p in set(agg_state.clock_start_ms) - checks:
            del agg_state.clock_start_ms[p]
        agg_state.publish.assignment += 1
        # Read back before the agents resume, so the publish agent never holds
        # an event (and its partition's progress) while this runs.
        publishing = {tp.partition for tp in assigned if tp.topic == AGGREGATOR_BY_FINGERPRINT.name}
        # Bounded: a rebalance callback must not hang on a broker that is away.
        await agg_state.publish.read_back(publishing, 15.0)

    app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]
    app.agent(checks_topic, name="aggregator.collect")(collect_checks)
    app.agent(by_fingerprint, name="aggregator.publish")(publish)
    expire_every = max(0.25, min(agg.check_timeout_s / 4, 5.0))
    app.timer(expire_every, name="aggregator.expire_pending")(expire_pending)
    app.timer(max(1.0, min(agg.retention_s / 10, 60.0)), name="aggregator.expire_ledger")(
        expire_ledger
    )
    return agg_state
