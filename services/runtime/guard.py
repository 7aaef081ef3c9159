"""One record's processing made total: its outputs, or the record on claims.dlq.

The stream engine (runtime.engine) runs each record's step through
:meth:`RecordGuard.run_sync`. Whatever the step raises, the
record goes to ``claims.dlq`` with the exception's class name as its reason
(never its message: messages can quote claim values) and the loop goes on
with the next record, so one record can never stop its partition or
crash-loop a service. Outputs that would not fit the topics' message size are
answered in a size that fits (:meth:`RecordGuard.fit`) instead of failing the
send and, with it, the batch.

Engine-agnostic on purpose: it sees a record's coordinates and bytes and the
:class:`Outgoing` records a step returns, nothing of the client that read them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from claimscrub.core.codec import edit_to_pb
from claimscrub.core.edits import edit
from claimscrub.runtime import logs
from claimscrub.runtime.metrics import service_metrics
from claimscrub.runtime.topics import (
    AGGREGATOR_BY_FINGERPRINT,
    CLAIMS_CHECKS,
    CLAIMS_DLQ,
    CLAIMS_SCRUBBED,
)
from claimscrub.v1 import results_pb2

log = logs.get_logger(__name__)

REASON_HEADER = "claimscrub-reason"
#: On a DLQ record whose value was too large to keep: the value's size in bytes.
DROPPED_HEADER = "claimscrub-value-dropped-bytes"
# What a record costs beside its key, value and headers (Kafka's record and
# batch framing), so a record that passes here passes the broker too.
_FRAMING_BYTES = 512


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record a step sends: a verdict, a forwarded claim, a DLQ entry."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)

    def size(self) -> int:
        headers = sum(len(k) + len(v) for k, v in self.headers or ())
        return len(self.key) + len(self.value) + headers + _FRAMING_BYTES


@dataclass(frozen=True, slots=True)
class Source:
    """The record being processed, as far as the DLQ needs it."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes | None


def dlq_headers(
    service: str, reason: str, source: str, partition: int, offset: int
) -> list[tuple[str, bytes]]:
    """Why an event was dead-lettered, from the failure kind and coordinates only."""
    return [
        (REASON_HEADER, reason.encode()),
        ("claimscrub-service", service.encode()),
        ("claimscrub-source", f"{source}/{partition}@{offset}".encode()),
    ]


SyncStep = Callable[[], Iterable[Outgoing]]


class RecordGuard:
    """Runs one record's step; dead-letters the record when the step fails."""

    def __init__(self, service: str, max_message_bytes: int) -> None:
        self.service = service
        self.max_message_bytes = max_message_bytes
        self._m = service_metrics()

    def dead_letter(self, src: Source, reason: str, *, kind: str | None = None) -> Outgoing:
        """The record on claims.dlq, counted (``kind`` is the metric's reason
        label; by default it is read from ``reason``)."""
        self._m.dead_lettered(self.service, reason, kind=kind)
        log.warning(
            "record_dead_lettered",
            reason=reason,
            topic=src.topic,
            partition=src.partition,
            offset=src.offset,
        )
        return Outgoing(
            CLAIMS_DLQ.name,
            src.key,
            src.value or b"",
            dlq_headers(self.service, reason, src.topic, src.partition, src.offset),
        )

    def run_sync(self, src: Source, step: SyncStep) -> list[Outgoing]:
        """The step's outputs, each fitted to the message size, or the record
        on claims.dlq when the step raises."""
        try:
            outputs = list(step())
        except Exception as exc:
            outputs = [self._failed(src, exc)]
        return [self.fit(o, src) for o in outputs]

    def _failed(self, src: Source, exc: Exception) -> Outgoing:
        log.error(
            "record_failed",
            error=type(exc).__name__,
            topic=src.topic,
            partition=src.partition,
            offset=src.offset,
        )
        return self.dead_letter(src, type(exc).__name__, kind="processing_error")

    def fit(self, out: Outgoing, src: Source) -> Outgoing:
        """``out`` if it fits the message size; else a result that says it
        did not (check and scrub results), the DLQ entry without its value,
        or the input on the DLQ (anything else, e.g. a de-identified record)."""
        limit = self.max_message_bytes
        if out.size() <= limit:
            return out
        log.warning("output_too_large", topic=out.topic, size=out.size(), limit=limit)
        if out.topic == CLAIMS_DLQ.name:
            headers = [*(out.headers or ()), (DROPPED_HEADER, str(len(out.value)).encode())]
            kept = Outgoing(out.topic, out.key, b"", headers)
            if kept.size() <= limit:
                return kept
            return Outgoing(out.topic, b"", b"", headers)
        replacement = _too_large_result(out, limit)
        if replacement is not None and replacement.size() <= limit:
            return replacement
        return self.fit(self.dead_letter(src, "output too large", kind="limit"), src)


def _too_large_message(limit: int) -> results_pb2.Edit:
    return edit_to_pb(
        edit("MALFORMED_CLAIM", 0, f"invalid claim: its result would exceed {limit} bytes")
    )


def _too_large_result(out: Outgoing, limit: int) -> Outgoing | None:
    """The same result with MALFORMED_CLAIM in place of its edits."""
    try:
        if out.topic == CLAIMS_CHECKS.name:
            check = results_pb2.CheckResult()
            check.ParseFromString(out.value)
            del check.edits[:]
            check.edits.append(_too_large_message(limit))
            value = check.SerializeToString()
        elif out.topic in (CLAIMS_SCRUBBED.name, AGGREGATOR_BY_FINGERPRINT.name):
            scrub = results_pb2.ScrubResult()
            scrub.ParseFromString(out.value)
            del scrub.edits[:]
            scrub.edits.append(_too_large_message(limit))
            scrub.status = "HOLD"
            value = scrub.SerializeToString()
        else:
            return None
    except DecodeError:
        return None
    return Outgoing(out.topic, out.key, value, out.headers)
