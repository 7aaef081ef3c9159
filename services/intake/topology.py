"""The intake service's stream: one 837P interchange on claims.x12 in; each
claim of its accepted transaction sets on claims.submitted and its 999 on
claims.x12.acks out, or the interchange on claims.dlq when it cannot be read
at all.

The step (:class:`IntakeStep`) is a plain function of the record, run under
the record guard (runtime.engine.guarded): an interchange's outputs are
collected in full before any is sent, so an interchange that fails half-way
sends none of its claims, and the guard dead-letters it.
"""

from __future__ import annotations

from prometheus_client import Counter
from quixstreams import Application
from quixstreams.dataframe import StreamingDataFrame

from claimscrub.core.codec import CONTENT_TYPE, encode_claim_json
from claimscrub.core.fingerprint import key_from_env
from claimscrub.core.not_checked_seal import SEAL_HEADER, seal
from claimscrub.runtime.engine import Record, guarded, raw_topic
from claimscrub.runtime.guard import Outgoing, RecordGuard, Source
from claimscrub.runtime.logs import get_logger
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import CLAIMS_DLQ, CLAIMS_SUBMITTED, CLAIMS_X12, CLAIMS_X12_ACKS
from claimscrub.x12.intake import claims_of, submitted_key
from claimscrub.x12.one_claim import (
    ONE_CLAIM_HEADER,
    X12_CONTENT_TYPE,
    NotValid,
    control_number,
    one_claim_interchange,
)
from claimscrub.x12.reader import Interchange, NotX12, open_text

log = get_logger(__name__)

#: Headers of each claim on claims.submitted that link it to its source:
#: the interchange (ISA13), functional group (GS06) and transaction set (ST02)
#: control numbers. Control numbers, not claim values: no PHI.
INTERCHANGE_HEADER = "claimscrub-x12-interchange"
GROUP_HEADER = "claimscrub-x12-group"
TRANSACTION_SET_HEADER = "claimscrub-x12-transaction-set"
#: The prefix of a dead-letter reason for an unreadable interchange
#: (runtime.metrics counts it as the kind ``invalid_x12``).
NOT_X12_REASON = "invalid X12"

_interchanges: Counter | None = None
_claims: Counter | None = None


def _counters() -> tuple[Counter, Counter]:
    global _interchanges, _claims
    if _interchanges is None or _claims is None:
        _interchanges = Counter(
            "claimscrub_x12_interchanges_total",
            "837P interchanges read from claims.x12: acknowledged (a 999 sent) or dead_lettered",
            ["outcome"],
        )
        _claims = Counter(
            "claimscrub_x12_claims_total",
            "Claims of accepted transaction sets published on claims.submitted",
        )
        for outcome in ("acknowledged", "dead_lettered"):
            _interchanges.labels(outcome)
    return _interchanges, _claims


class IntakeStep:
    """One claims.x12 record -> its claims and 999, or the record on claims.dlq."""

    def __init__(self, settings: Settings) -> None:
        self._guard = RecordGuard(settings.service, settings.max_message_bytes)
        self._interchanges, self._claims = _counters()
        # The checks honour a claim's notChecked only under this seal (docs/x12.md "Trust").
        self._seal_key = key_from_env()

    def __call__(self, rec: Record) -> list[Outgoing]:
        src = Source(rec.topic, rec.partition, rec.offset, rec.key, rec.value)
        if not rec.value:
            return self._dead(src, "empty value")
        try:
            outputs, icn, sets = self._read(rec.value, rec.key)
        except NotX12 as exc:
            # NotX12's reasons name segments and positions only, never values.
            return self._dead(src, f"{NOT_X12_REASON}: {exc}")
        claims = len(outputs) - 1
        self._interchanges.labels("acknowledged").inc()
        self._claims.inc(claims)
        log.info(
            "interchange_acknowledged",
            interchange=icn,
            transaction_sets=sets,
            claims=claims,
            partition=rec.partition,
            offset=rec.offset,
        )
        return outputs

    def _dead(self, src: Source, reason: str) -> list[Outgoing]:
        self._interchanges.labels("dead_lettered").inc()
        return [self._guard.dead_letter(src, reason)]

    def _read(self, value: bytes, key: bytes) -> tuple[list[Outgoing], str, int]:
        interchange = Interchange(open_text(value))
        outputs: list[Outgoing] = []
        sets: set[str] = set()
        unnamed = 0
        for position, (tset, claim) in enumerate(claims_of(interchange), 1):
            isa, gs = interchange.isa, interchange.gs
            icn = isa.get(13) if isa is not None else ""
            sets.add(tset.control)
            encoded, content_type = encode_claim_json(claim.event())
            claim_id = claim.parsed.claim_id
            if not claim_id:
                # A claim without a usable id is still answered (MALFORMED_CLAIM)
                # under a key that names where it came from.
                unnamed += 1
                claim_id = submitted_key(icn, tset.control, unnamed)
            assert isa is not None and gs is not None  # a set is read only inside them
            try:
                # The claim as the ready stage publishes it (x12.one_claim); an
                # empty value says it cannot be (and the claim is never ready).
                one_claim = one_claim_interchange(
                    interchange.delimiters,
                    isa,
                    gs,
                    tset.header,
                    claim.source,
                    control_number(icn, tset.control, str(position), claim_id),
                )
            except NotValid:
                log.warning("one_claim_interchange_invalid", interchange=icn, claim=position)
                one_claim = b""
            headers = [
                (CONTENT_TYPE, content_type),
                (INTERCHANGE_HEADER, icn.encode()),
                (GROUP_HEADER, (gs.get(6) if gs is not None else "").encode()),
                (TRANSACTION_SET_HEADER, tset.control.encode()),
                (ONE_CLAIM_HEADER, one_claim),
            ]
            if claim.parsed.claim is not None and claim.parsed.claim.not_checked:
                headers.append((SEAL_HEADER, seal(claim.parsed.claim, self._seal_key)))
            outputs.append(Outgoing(CLAIMS_SUBMITTED.name, claim_id.encode(), encoded, headers))
        ack = interchange.acknowledgment()
        isa = interchange.isa
        icn = isa.get(13) if isa is not None else ""
        ack_key = icn.encode() if icn else key
        outputs.append(
            Outgoing(
                CLAIMS_X12_ACKS.name,
                ack_key,
                ack.encode("latin-1"),
                [(CONTENT_TYPE, X12_CONTENT_TYPE), (INTERCHANGE_HEADER, icn.encode())],
            )
        )
        return outputs, icn, len(sets)


def topology(app: Application, settings: Settings) -> StreamingDataFrame:
    step = IntakeStep(settings)
    interchanges = app.dataframe(raw_topic(app, CLAIMS_X12))
    return guarded(
        app, interchanges, settings, step, outputs=(CLAIMS_SUBMITTED, CLAIMS_X12_ACKS, CLAIMS_DLQ)
    )
