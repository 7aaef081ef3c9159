"""The agent every check service runs: claims.submitted -> claims.checks.

A check service differs from another only by its :class:`Check`; the loop,
the dead-letter handling and the metrics are the same, so they live here.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import faust

from claimscrub.core.checks import Check
from claimscrub.core.codec import CONTENT_TYPE, UndecodableEvent, decode_claim, encode_check_result
from claimscrub.core.edits import edit
from claimscrub.core.fingerprint import key_from_env, stamp
from claimscrub.core.results import CheckResult
from claimscrub.runtime import logs
from claimscrub.runtime.guard import Outgoing, RecordGuard, Source, dlq_headers
from claimscrub.runtime.metrics import service_metrics
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.streams import header, raw_topic
from claimscrub.runtime.topics import CLAIMS_CHECKS, CLAIMS_DLQ, CLAIMS_SUBMITTED

log = logs.get_logger(__name__)

__all__ = [
    "ClaimEvent",
    "ClaimJudge",
    "Outgoing",
    "dlq_headers",
    "failed_result",
    "install_check_agent",
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


@dataclass(frozen=True, slots=True)
class ClaimEvent:
    """A claims.submitted record, whichever client read it."""

    key: bytes
    value: bytes | None
    content_type: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp_ms: int


class ClaimJudge:
    """Turns one claims.submitted event into what the check publishes.

    Shared by the Faust agent below and the batched transport
    (:mod:`claimscrub.runtime.batch_agent`), so both answer a claim alike.
    """

    def __init__(self, settings: Settings, check: Check) -> None:
        self._settings = settings
        self._check = check
        self._m = service_metrics()
        self._m.expect_check(settings.service, check.name)
        # Claim version and duplicate fingerprint for the aggregator (core.fingerprint).
        self._fingerprint_key = key_from_env()

    def _dead_letter(self, event: ClaimEvent, reason: str) -> Outgoing:
        service = self._settings.service
        self._m.dead_lettered(service, reason)
        log.warning(
            "claim_dead_lettered", reason=reason, partition=event.partition, offset=event.offset
        )
        return Outgoing(
            CLAIMS_DLQ.name,
            event.key,
            event.value or b"",
            dlq_headers(service, reason, event.topic, event.partition, event.offset),
        )

    def judge(self, event: ClaimEvent, today: dt.date) -> Outgoing:
        service, check_name = self._settings.service, self._check.name.value
        self._m.claims_consumed.labels(service).inc()
        try:
            parsed = decode_claim(
                event.value,
                content_type=event.content_type,
                key=event.key.decode("utf-8", "replace"),
                today=today,
            )
        except UndecodableEvent as exc:
            return self._dead_letter(event, str(exc))
        started = time.perf_counter()
        try:
            result = self._check.run(
                parsed,
                today,
                submitted_at_ms=event.timestamp_ms,
                producer=self._settings.instance,
            )
        except Exception as exc:  # a rule bug must neither stop the partition nor lose the claim
            log.error(
                "check_failed",
                error=type(exc).__name__,
                partition=event.partition,
                offset=event.offset,
            )
            result = failed_result(
                self._check, parsed.claim_id, event.timestamp_ms, self._settings.instance
            )
        result = stamp(result, parsed, event.value, self._fingerprint_key)
        self._m.check_latency.labels(service, check_name).observe(time.perf_counter() - started)
        self._m.checks.labels(service, check_name).inc()
        for e in result.edits:
            self._m.edits.labels(service, e.check.value, e.code, e.severity.value).inc()
        return Outgoing(CLAIMS_CHECKS.name, result.claim_id.encode(), encode_check_result(result))


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
    topics = {
        CLAIMS_CHECKS.name: raw_topic(app, CLAIMS_CHECKS),
        CLAIMS_DLQ.name: raw_topic(app, CLAIMS_DLQ),
    }
    judge = ClaimJudge(settings, check)
    guard = RecordGuard(settings.service, settings.max_message_bytes)

    async def check_claims(stream: Any) -> None:
        if ready is not None:
            await ready()
        async for event in stream.events():
            msg = event.message
            claim_event = ClaimEvent(
                key=event.key or b"",
                value=event.value,
                content_type=header(event.headers, CONTENT_TYPE),
                topic=msg.topic,
                partition=msg.partition,
                offset=msg.offset,
                timestamp_ms=int((msg.timestamp or time.time()) * 1000),
            )

            async def step(e: ClaimEvent = claim_event) -> list[Outgoing]:
                return [judge.judge(e, dt.date.today())]

            src = Source(msg.topic, msg.partition, msg.offset, event.key or b"", event.value)
            for out in await guard.run(src, step):
                await topics[out.topic].send(
                    key=out.key, value=out.value, headers=out.headers or None
                )

    return app.agent(submitted, name=f"{settings.service}.check")(check_claims)
