"""The necessity service's topology: repartition by beneficiary, then check.

    claims.submitted (key claimId)
        -> route: decode, beneficiary token       (undecodable -> claims.dlq)
    necessity.claims-by-beneficiary (key token)
        -> check: role lookup, history from the table, rules, record
    claims.checks (key claimId)

The table ``beneficiary-history`` is keyed by the token and partitioned like
the intermediate topic, so each instance holds the histories of exactly the
beneficiaries it checks, and Faust restores it from its changelog topic
(``claimscrub-necessity-beneficiary-history-changelog``, created with the
other topics: runtime/topics.py) after a restart.
Within a partition claims are checked one at a time, in order, so a
beneficiary's claims accumulate as they were submitted.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import faust

from claimscrub.core.checks import Check
from claimscrub.core.claim import ParsedClaim
from claimscrub.core.codec import CONTENT_TYPE, UndecodableEvent, decode_claim, encode_check_result
from claimscrub.core.edits import CheckName, edit
from claimscrub.core.fingerprint import key_from_env, stamp
from claimscrub.core.not_checked_seal import SEAL_HEADER, honoured
from claimscrub.core.results import CheckResult
from claimscrub.necessity.beneficiary import beneficiary_token, unlinked_token
from claimscrub.necessity.check import bound_rules
from claimscrub.necessity.history import date_shift, record_claim, seal, unseal
from claimscrub.necessity.reference import NecessityReference
from claimscrub.necessity.roles import RoleLookup, resolve_role
from claimscrub.runtime import logs
from claimscrub.runtime.batch_table import InRecord, PartitionState, attach_batch_table
from claimscrub.runtime.guard import Outgoing, RecordGuard, Source, dlq_headers
from claimscrub.runtime.metrics import service_metrics
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.streams import Headers, header, make_app, raw_topic
from claimscrub.runtime.topics import (
    CLAIMS_CHECKS,
    CLAIMS_DLQ,
    CLAIMS_SUBMITTED,
    NECESSITY_BY_BENEFICIARY,
    NECESSITY_HISTORY_CHANGELOG,
)

log = logs.get_logger(__name__)

CLAIM_KEY_HEADER = "claimscrub-claim-key"
SUBMITTED_MS_HEADER = "claimscrub-submitted-ms"
TABLE_NAME = "beneficiary-history"


class HistoryStore(Protocol):
    """Where the sealed histories live: a Faust table or a batched partition state."""

    def get(self, key: bytes, /) -> Any: ...

    def __setitem__(self, key: bytes, value: Any) -> None: ...


def token_for(parsed: ParsedClaim, key: bytes) -> str:
    if parsed.ok and parsed.claim is not None:
        return beneficiary_token(parsed.claim, key)
    # A malformed claim is answered alone (MALFORMED_CLAIM); it joins no history.
    return unlinked_token(parsed.claim_id, key)


def _failed(claim_id: str, submitted_at_ms: int, producer: str) -> CheckResult:
    return CheckResult(
        claim_id=claim_id,
        check=CheckName.NECESSITY,
        edits=(edit("CHECK_INCOMPLETE", 0, "NECESSITY failed on this claim (internal error)"),),
        submitted_at_ms=submitted_at_ms,
        producer=producer,
    )


class NecessityFlow:
    """The two steps of the topology, shared by the Faust agents and the
    batched transport (runtime.batch_table), so both answer a claim alike."""

    def __init__(
        self,
        settings: Settings,
        *,
        check: Check,
        ref: NecessityReference,
        hmac_key: bytes,
        lookup: RoleLookup | None,
    ) -> None:
        self._settings = settings
        self._check = check
        self._ref = ref
        self._hmac_key = hmac_key
        self._lookup = lookup
        self._m = service_metrics()
        # Claim version and duplicate fingerprint for the aggregator (core.fingerprint).
        self._fingerprint_key = key_from_env()

    def _dead_letter(
        self, key: bytes, value: bytes | None, reason: str, topic: str, partition: int, offset: int
    ) -> Outgoing:
        service = self._settings.service
        return Outgoing(
            CLAIMS_DLQ.name,
            key,
            value or b"",
            dlq_headers(service, reason, topic, partition, offset),
        )

    def route(
        self,
        key: bytes,
        value: bytes | None,
        content_type: bytes | None,
        *,
        topic: str,
        partition: int,
        offset: int,
        timestamp_ms: int,
        seal: bytes | None = None,
    ) -> Outgoing:
        """claims.submitted -> necessity.claims-by-beneficiary (or claims.dlq);
        ``seal``: the intake's seal of the claim's notChecked, passed on."""
        service = self._settings.service
        self._m.claims_consumed.labels(service).inc()
        try:
            parsed = decode_claim(
                value,
                content_type=content_type,
                key=key.decode("utf-8", "replace"),
                today=dt.date.today(),
            )
        except UndecodableEvent as exc:
            reason = str(exc)
            self._m.dead_lettered(service, reason)
            log.warning("claim_dead_lettered", reason=reason, partition=partition, offset=offset)
            return self._dead_letter(key, value, reason, topic, partition, offset)
        headers = [
            (CLAIM_KEY_HEADER, key),
            (SUBMITTED_MS_HEADER, str(timestamp_ms).encode()),
        ]
        if content_type is not None:
            headers.append((CONTENT_TYPE, content_type))
        if seal:
            headers.append((SEAL_HEADER, seal))
        return Outgoing(
            NECESSITY_BY_BENEFICIARY.name,
            token_for(parsed, self._hmac_key).encode(),
            value or b"",
            headers,
        )

    async def check(
        self,
        token: bytes,
        value: bytes | None,
        headers: Headers,
        history: HistoryStore,
        *,
        topic: str,
        partition: int,
        offset: int,
    ) -> Outgoing:
        """necessity.claims-by-beneficiary -> claims.checks, reading and
        recording the beneficiary's history in ``history``."""
        service = self._settings.service
        # The check in force and the reference it reads, as one pair for the claim.
        check = self._check.current()
        ref = check.reference if isinstance(check.reference, NecessityReference) else self._ref
        claim_key = header(headers, CLAIM_KEY_HEADER) or b""
        submitted_ms = int(header(headers, SUBMITTED_MS_HEADER) or b"0")
        try:
            parsed = decode_claim(
                value,
                content_type=header(headers, CONTENT_TYPE),
                key=claim_key.decode("utf-8", "replace"),
                today=dt.date.today(),
            )
        except UndecodableEvent as exc:  # the router only forwards what it decoded
            return self._dead_letter(claim_key, value, str(exc), topic, partition, offset)
        parsed = honoured(parsed, header(headers, SEAL_HEADER), self._fingerprint_key)
        started = time.perf_counter()
        today = dt.date.today()
        try:
            rules = None
            claim = parsed.claim if parsed.ok else None
            if claim is not None:
                role = await resolve_role(claim, ref, self._lookup)
                # No await from here to the write: the read-check-record step is atomic.
                shift = date_shift(token.decode(), self._hmac_key)
                past = unseal(history.get(token), shift)
                rules = bound_rules(ref, past, role)
            result = check.run(
                parsed,
                today,
                submitted_at_ms=submitted_ms,
                producer=self._settings.instance,
                rules=rules,
            )
            if claim is not None:
                history[token] = seal(record_claim(past, claim, ref), shift)
        except Exception as exc:  # a rule bug must not stop the partition or lose the claim
            log.error("necessity_check_failed", error=type(exc).__name__)
            result = _failed(parsed.claim_id, submitted_ms, self._settings.instance)
        result = stamp(result, parsed, value, self._fingerprint_key)
        m, check_name = self._m, check.name.value
        m.check_latency.labels(service, check_name).observe(time.perf_counter() - started)
        m.checks.labels(service, check_name).inc()
        for e in result.edits:
            m.edits.labels(service, e.check.value, e.code, e.severity.value).inc()
        return Outgoing(CLAIMS_CHECKS.name, result.claim_id.encode(), encode_check_result(result))


def install_necessity(
    app: faust.App,
    settings: Settings,
    *,
    check: Check,
    ref: NecessityReference,
    hmac_key: bytes,
    lookup: RoleLookup | None,
) -> Any:
    """The Faust transport (CLAIMSCRUB_TRANSPORT=faust): declare the topics,
    the table and both agents; returns the table (the servicer reads it)."""
    submitted = raw_topic(app, CLAIMS_SUBMITTED)
    topics = {
        CLAIMS_CHECKS.name: raw_topic(app, CLAIMS_CHECKS),
        CLAIMS_DLQ.name: raw_topic(app, CLAIMS_DLQ),
    }
    by_beneficiary = app.topic(
        NECESSITY_BY_BENEFICIARY.name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
        internal=True,
    )
    topics[NECESSITY_BY_BENEFICIARY.name] = by_beneficiary
    table = app.Table(
        TABLE_NAME,
        default=None,
        partitions=settings.topic_partitions,
        key_type=bytes,
        # Values: the JSON-able histories of necessity.history (app's JSON serializer).
    )
    flow = NecessityFlow(settings, check=check, ref=ref, hmac_key=hmac_key, lookup=lookup)
    guard = RecordGuard(settings.service, settings.max_message_bytes)

    async def send_guarded(event: Any, step: Callable[[], Awaitable[list[Outgoing]]]) -> None:
        msg = event.message
        src = Source(msg.topic, msg.partition, msg.offset, event.key or b"", event.value)
        for out in await guard.run(src, step):
            await topics[out.topic].send(key=out.key, value=out.value, headers=out.headers or None)

    async def route(stream: Any) -> None:
        async for event in stream.events():

            async def step(event: Any = event) -> list[Outgoing]:
                msg = event.message
                return [
                    flow.route(
                        event.key or b"",
                        event.value,
                        header(event.headers, CONTENT_TYPE),
                        topic=msg.topic,
                        partition=msg.partition,
                        offset=msg.offset,
                        timestamp_ms=int((msg.timestamp or time.time()) * 1000),
                        seal=header(event.headers, SEAL_HEADER),
                    )
                ]

            await send_guarded(event, step)

    async def check_claims(stream: Any) -> None:
        async for event in stream.events():

            async def step(event: Any = event) -> list[Outgoing]:
                msg = event.message
                return [
                    await flow.check(
                        event.key or b"",
                        event.value,
                        event.headers,
                        table,
                        topic=msg.topic,
                        partition=msg.partition,
                        offset=msg.offset,
                    )
                ]

            await send_guarded(event, step)

    app.agent(submitted, name=f"{settings.service}.route")(route)
    app.agent(by_beneficiary, name=f"{settings.service}.check")(check_claims)
    return table


def necessity_app(
    settings: Settings,
    *,
    check: Check,
    ref: NecessityReference,
    hmac_key: bytes,
    lookup: RoleLookup | None,
) -> tuple[faust.App, Callable[[bytes], Any]]:
    """The service's app on the configured transport (CLAIMSCRUB_TRANSPORT), and
    how to read a beneficiary's stored (sealed) history for the servicer."""
    if settings.transport == "faust":
        app = make_app(settings)
        table = install_necessity(
            app, settings, check=check, ref=ref, hmac_key=hmac_key, lookup=lookup
        )
        return app, table.get
    # Two batched agents: the router keeps the service's group on
    # claims.submitted (lag, KEDA), the check its own on the intermediate
    # topic; the histories keep the Faust table's changelog. The Faust app
    # (worker, gRPC, metrics) takes another id.
    app = make_app(settings, app_id=f"claimscrub-{settings.service}-runtime")
    flow = NecessityFlow(settings, check=check, ref=ref, hmac_key=hmac_key, lookup=lookup)
    tables: dict[int, PartitionState] = {}

    async def route(rec: InRecord, _state: PartitionState) -> list[Outgoing]:
        return [
            flow.route(
                rec.key,
                rec.value,
                header(rec.headers, CONTENT_TYPE),
                topic=rec.topic,
                partition=rec.partition,
                offset=rec.offset,
                timestamp_ms=rec.timestamp_ms,
                seal=header(rec.headers, SEAL_HEADER),
            )
        ]

    async def check_claim(rec: InRecord, state: PartitionState) -> list[Outgoing]:
        out = await flow.check(
            rec.key,
            rec.value,
            rec.headers,
            state,
            topic=rec.topic,
            partition=rec.partition,
            offset=rec.offset,
        )
        return [out]

    attach_batch_table(
        app,
        settings,
        group_id=f"claimscrub-{settings.service}",
        topics=[CLAIMS_SUBMITTED.name],
        changelog=None,
        handler=route,
    )
    attach_batch_table(
        app,
        settings,
        group_id=f"claimscrub-{settings.service}-check",
        topics=[NECESSITY_BY_BENEFICIARY.name],
        changelog=NECESSITY_HISTORY_CHANGELOG.name,
        table_name=TABLE_NAME,
        handler=check_claim,
        tables=tables,
    )

    def read(token: bytes) -> Any:
        for state in tables.values():
            value = state.get(token)
            if value is not None:
                return value
        return None

    return app, read
