"""The agent every check service runs: claims.submitted -> claims.checks.

A check service differs from another only by its :class:`Check`; the loop,
the dead-letter handling and the metrics are the same, so they live here.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from claimscrub.core.checks import Check
from claimscrub.core.codec import CONTENT_TYPE, UndecodableEvent, decode_claim, encode_check_result
from claimscrub.core.edits import edit
from claimscrub.core.fingerprint import key_from_env, stamp
from claimscrub.core.results import CheckResult
from claimscrub.runtime import logs
from claimscrub.runtime.metrics import service_metrics
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.streams import header, raw_topic
from claimscrub.runtime.topics import CLAIMS_CHECKS, CLAIMS_DLQ, CLAIMS_SUBMITTED

log = logs.get_logger(__name__)


def dlq_headers(
    service: str, reason: str, source: str, partition: int, offset: int
) -> list[tuple[str, bytes]]:
    """Why an event was dead-lettered, from the failure kind and coordinates only."""
    return [
        ("claimscrub-reason", reason.encode()),
        ("claimscrub-service", service.encode()),
        ("claimscrub-source", f"{source}/{partition}@{offset}".encode()),
    ]


def failed_result(check: Check, claim_id: str, submitted_at_ms: int, producer: str) -> CheckResult:
    """The answer when a rule raised: the claim still gets a verdict, and the
    partition goes on (CHECK_INCOMPLETE names the check, never the error text)."""
    return CheckResult(
        claim_id=claim_id,
        check=check.name,
        edits=(
            edit(
                "CHECK_INCOMPLETE", 0, f"{check.name.value} failed on this claim (internal error)"
            ),
        ),
        submitted_at_ms=submitted_at_ms,
        producer=producer,
    )


def install_check_agent(
    app: faust.App,
    settings: Settings,
    check: Check,
    *,
    ready: Callable[[], Awaitable[object]] | None = None,
) -> Any:
    """The check's agent; with ``ready``, claims wait until it returns (a check
    whose reference data streams in from a topic must not judge claims
    against a half-loaded table)."""
    submitted = raw_topic(app, CLAIMS_SUBMITTED)
    checks_topic = raw_topic(app, CLAIMS_CHECKS)
    dlq = raw_topic(app, CLAIMS_DLQ)
    m = service_metrics()
    service = settings.service
    check_name = check.name.value
    # Claim version and duplicate fingerprint for the aggregator (core.fingerprint).
    fingerprint_key = key_from_env()

    async def check_claims(stream: Any) -> None:
        if ready is not None:
            await ready()
        async for event in stream.events():
            msg = event.message
            key: bytes = event.key or b""
            m.claims_consumed.labels(service).inc()
            try:
                parsed = decode_claim(
                    event.value,
                    content_type=header(event.headers, CONTENT_TYPE),
                    key=key.decode("utf-8", "replace"),
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
            started = time.perf_counter()
            submitted_ms = int((msg.timestamp or time.time()) * 1000)
            try:
                result = check.run(
                    parsed,
                    dt.date.today(),
                    submitted_at_ms=submitted_ms,
                    producer=settings.instance,
                )
            except Exception as exc:  # a rule bug must not stop the partition or lose the claim
                log.error("check_failed", check=check_name, error=type(exc).__name__)
                result = failed_result(check, parsed.claim_id, submitted_ms, settings.instance)
            result = stamp(result, parsed, event.value, fingerprint_key)
            m.check_latency.labels(service, check_name).observe(time.perf_counter() - started)
            m.checks.labels(service, check_name).inc()
            for e in result.edits:
                m.edits.labels(service, e.check.value, e.code, e.severity.value).inc()
            await checks_topic.send(key=result.claim_id.encode(), value=encode_check_result(result))

    return app.agent(submitted, name=f"{service}.check")(check_claims)
