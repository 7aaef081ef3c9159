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
from typing import Any

import faust

from claimscrub.core.checks import Check
from claimscrub.core.claim import ParsedClaim
from claimscrub.core.codec import CONTENT_TYPE, UndecodableEvent, decode_claim, encode_check_result
from claimscrub.core.edits import CheckName, edit
from claimscrub.core.fingerprint import key_from_env, stamp
from claimscrub.core.results import CheckResult
from claimscrub.necessity.beneficiary import beneficiary_token, unlinked_token
from claimscrub.necessity.check import bound_rules
from claimscrub.necessity.history import date_shift, record_claim, seal, unseal
from claimscrub.necessity.reference import NecessityReference
from claimscrub.necessity.roles import RoleLookup, resolve_role
from claimscrub.runtime import logs
from claimscrub.runtime.check_agent import dlq_headers
from claimscrub.runtime.metrics import service_metrics
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.streams import header, raw_topic
from claimscrub.runtime.topics import (
    CLAIMS_CHECKS,
    CLAIMS_DLQ,
    CLAIMS_SUBMITTED,
    NECESSITY_BY_BENEFICIARY,
)

log = logs.get_logger(__name__)

CLAIM_KEY_HEADER = "claimscrub-claim-key"
SUBMITTED_MS_HEADER = "claimscrub-submitted-ms"
TABLE_NAME = "beneficiary-history"


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


def install_necessity(
    app: faust.App,
    settings: Settings,
    *,
    check: Check,
    ref: NecessityReference,
    hmac_key: bytes,
    lookup: RoleLookup | None,
) -> Any:
    """Declare the topics, the table and both agents; returns the table (the servicer reads it)."""
    submitted = raw_topic(app, CLAIMS_SUBMITTED)
    checks_topic = raw_topic(app, CLAIMS_CHECKS)
    dlq = raw_topic(app, CLAIMS_DLQ)
    by_beneficiary = app.topic(
        NECESSITY_BY_BENEFICIARY.name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
        internal=True,
    )
    table = app.Table(
        TABLE_NAME,
        default=None,
        partitions=settings.topic_partitions,
        key_type=bytes,
        # Values: the JSON-able histories of necessity.history (app's JSON serializer).
    )
    m = service_metrics()
    service = settings.service
    check_name = check.name.value
    # Claim version and duplicate fingerprint for the aggregator (core.fingerprint).
    fingerprint_key = key_from_env()

    async def route(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            key: bytes = event.key or b""
            m.claims_consumed.labels(service).inc()
            content_type = header(event.headers, CONTENT_TYPE)
            try:
                parsed = decode_claim(
                    event.value, content_type=content_type, key=key.decode("utf-8", "replace")
                )
            except UndecodableEvent as exc:
                reason = str(exc)
                m.dlq.labels(service, reason.split(" (")[0]).inc()
                log.warning(
                    "claim_dead_lettered", reason=reason, partition=msg.partition, offset=msg.offset
                )
                await dlq.send(
                    key=key,
                    value=event.value or b"",
                    headers=dlq_headers(service, reason, msg.topic, msg.partition, msg.offset),
                )
                continue
            submitted_ms = int((msg.timestamp or time.time()) * 1000)
            headers = [
                (CLAIM_KEY_HEADER, key),
                (SUBMITTED_MS_HEADER, str(submitted_ms).encode()),
            ]
            if content_type is not None:
                headers.append((CONTENT_TYPE, content_type))
            await by_beneficiary.send(
                key=token_for(parsed, hmac_key).encode(), value=event.value, headers=headers
            )

    async def check_claims(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            token: bytes = event.key or b""
            claim_key = header(event.headers, CLAIM_KEY_HEADER) or b""
            submitted_ms = int(header(event.headers, SUBMITTED_MS_HEADER) or b"0")
            try:
                parsed = decode_claim(
                    event.value,
                    content_type=header(event.headers, CONTENT_TYPE),
                    key=claim_key.decode("utf-8", "replace"),
                )
            except UndecodableEvent as exc:  # the router only forwards what it decoded
                await dlq.send(
                    key=claim_key,
                    value=event.value or b"",
                    headers=dlq_headers(service, str(exc), msg.topic, msg.partition, msg.offset),
                )
                continue
            started = time.perf_counter()
            try:
                rules = None
                claim = parsed.claim if parsed.ok else None
                if claim is not None:
                    role = await resolve_role(claim, ref, lookup)
                    # No await from here to the write: the read-check-record step is atomic.
                    shift = date_shift(token.decode(), hmac_key)
                    history = unseal(table.get(token), shift)
                    rules = bound_rules(ref, history, role)
                result = check.run(
                    parsed,
                    dt.date.today(),
                    submitted_at_ms=submitted_ms,
                    producer=settings.instance,
                    rules=rules,
                )
                if claim is not None:
                    table[token] = seal(record_claim(history, claim, ref), shift)
            except Exception as exc:  # a rule bug must not stop the partition or lose the claim
                log.error("necessity_check_failed", error=type(exc).__name__)
                result = _failed(parsed.claim_id, submitted_ms, settings.instance)
            result = stamp(result, parsed, event.value, fingerprint_key)
            m.check_latency.labels(service, check_name).observe(time.perf_counter() - started)
            m.checks.labels(service, check_name).inc()
            for e in result.edits:
                m.edits.labels(service, e.check.value, e.code, e.severity.value).inc()
            await checks_topic.send(key=result.claim_id.encode(), value=encode_check_result(result))

    app.agent(submitted, name=f"{service}.route")(route)
    app.agent(by_beneficiary, name=f"{service}.check")(check_claims)
    return table
