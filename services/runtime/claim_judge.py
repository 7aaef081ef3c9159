"""One claims.submitted record judged by a check: the verdict, or the DLQ.

A check service differs from another only by its :class:`Check`; decoding,
the dead-letter answer, the claim version and the metrics are the same, so
they live here, run by the stream engine (runtime/check_topology.py).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from claimscrub.core.checks import Check, Rules
from claimscrub.core.claim import Claim, ParsedClaim
from claimscrub.core.codec import UndecodableEvent, decode_claim, encode_check_result
from claimscrub.core.edits import edit
from claimscrub.core.fingerprint import earlier_keys_from_env, key_from_env, stamp
from claimscrub.core.not_checked_seal import honoured
from claimscrub.core.results import CheckResult
from claimscrub.runtime import logs
from claimscrub.runtime.guard import Outgoing, dlq_headers
from claimscrub.runtime.metrics import service_metrics
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import CLAIMS_CHECKS, CLAIMS_DLQ

log = logs.get_logger(__name__)

__all__ = ["Binder", "ClaimEvent", "ClaimJudge", "failed_result"]

#: A stateful check's part of judging one well-formed claim: given the check
#: in force and the claim, the rules bound to the claim's state, and what
#: records the claim in that state once its verdict is made (run last).
Binder = Callable[[Check, Claim], tuple[Rules, Callable[[], None]]]


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
        self._earlier_keys = earlier_keys_from_env()

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

    def decode(
        self, event: ClaimEvent, today: dt.date, *, count: bool = True
    ) -> ParsedClaim | Outgoing:
        """The claim of ``event`` (parsed, possibly MALFORMED), or the record
        on claims.dlq when it is no claim at all; ``count``: count it consumed."""
        if count:
            self._m.claims_consumed.labels(self._settings.service).inc()
        try:
            return decode_claim(
                event.value,
                content_type=event.content_type,
                key=event.key.decode("utf-8", "replace"),
                today=today,
            )
        except UndecodableEvent as exc:
            return self._dead_letter(event, str(exc))

    def judge(
        self,
        event: ClaimEvent,
        today: dt.date,
        *,
        bind: Binder | None = None,
        consumed: bool = True,
        decoded: ParsedClaim | None = None,
    ) -> Outgoing:
        """The verdict on ``event`` for claims.checks, or the record for claims.dlq.

        ``bind`` (a stateful check: necessity) gives the rules bound to a
        well-formed claim's state and what records the claim once it is
        judged; a rule or a record that raises gives CHECK_INCOMPLETE and
        records nothing. ``consumed=False``: the service has counted this
        claim already (a record it routed to itself). ``decoded``: what
        :meth:`decode` gave for this very record and day, if the service kept
        it (necessity's router)."""
        if decoded is None:
            undecided = self.decode(event, today, count=consumed)
            if isinstance(undecided, Outgoing):
                return undecided
            decoded = undecided
        parsed = honoured(decoded, event.not_checked_seal, self._fingerprint_key)
        service = self._settings.service
        check = self._check.current() if bind is not None else self._check
        check_name = check.name.value
        started = time.perf_counter()
        try:
            rules, record = None, None
            if bind is not None and parsed.ok and parsed.claim is not None:
                rules, record = bind(check, parsed.claim)
            result = check.run(
                parsed,
                today,
                submitted_at_ms=event.timestamp_ms,
                producer=self._settings.instance,
                rules=rules,
            )
            if record is not None:
                record()
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
        result = stamp(result, parsed, event.value, self._fingerprint_key, self._earlier_keys)
        self._m.check_latency.labels(service, check_name).observe(time.perf_counter() - started)
        self._m.checks.labels(service, check_name).inc()
        for e in result.edits:
            self._m.edits.labels(service, e.check.value, e.code, e.severity.value).inc()
        return Outgoing(CLAIMS_CHECKS.name, result.claim_id.encode(), encode_check_result(result))
