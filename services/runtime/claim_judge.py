"""One claims.submitted record judged by a check: the verdict, or the DLQ.

A check service differs from another only by its :class:`Check`; decoding,
the dead-letter answer, the claim version and the metrics are the same, so
they live here, run by the stream engine (runtime/check_topology.py).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from claimscrub.core.checks import Check
from claimscrub.core.codec import UndecodableEvent, decode_claim, encode_check_result
from claimscrub.core.edits import edit
from claimscrub.core.fingerprint import key_from_env, stamp
from claimscrub.core.not_checked_seal import honoured
from claimscrub.core.results import CheckResult
from claimscrub.runtime import logs
from claimscrub.runtime.guard import Outgoing, dlq_headers
from claimscrub.runtime.metrics import service_metrics
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import CLAIMS_CHECKS, CLAIMS_DLQ

log = logs.get_logger(__name__)

__all__ = ["ClaimEvent", "ClaimJudge", "failed_result"]


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
    #: The intake service's seal of the claim's notChecked (core.not_checked_seal).
    not_checked_seal: bytes | None = None


class ClaimJudge:
    """Turns one claims.submitted event into what the check publishes.

    Shared by every transport, so each answers a claim alike.
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
        parsed = honoured(parsed, event.not_checked_seal, self._fingerprint_key)
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
