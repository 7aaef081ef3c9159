"""The stream of every check service: claims.submitted -> claims.checks.

One record in, one verdict out (or the record on claims.dlq): a stateless
step under the record guard (runtime.engine.guarded). The check's rules are
its :class:`~claimscrub.core.checks.Check`; what it does with a claim is
:class:`~claimscrub.runtime.claim_judge.ClaimJudge`'s, shared with the gRPC
servicers' rule path and the CLI.
"""

from __future__ import annotations

import datetime as dt

from quixstreams import Application
from quixstreams.dataframe import StreamingDataFrame

from claimscrub.core.checks import Check
from claimscrub.core.codec import CONTENT_TYPE
from claimscrub.core.not_checked_seal import SEAL_HEADER
from claimscrub.runtime.claim_judge import ClaimEvent, ClaimJudge
from claimscrub.runtime.engine import Record, guarded, raw_topic
from claimscrub.runtime.guard import Outgoing
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import CLAIMS_CHECKS, CLAIMS_DLQ, CLAIMS_SUBMITTED


def claim_event(rec: Record, key: bytes | None = None) -> ClaimEvent:
    """``rec`` as the judge reads it, under ``key`` where the claim's own key
    is not the record's (a record repartitioned under another key)."""
    return ClaimEvent(
        key=rec.key if key is None else key,
        value=rec.value,
        content_type=rec.header(CONTENT_TYPE),
        topic=rec.topic,
        partition=rec.partition,
        offset=rec.offset,
        timestamp_ms=rec.timestamp_ms,
        not_checked_seal=rec.header(SEAL_HEADER),
    )


def check_topology(app: Application, settings: Settings, check: Check) -> StreamingDataFrame:
    judge = ClaimJudge(settings, check)

    def step(rec: Record) -> list[Outgoing]:
        return [judge.judge(claim_event(rec), dt.date.today())]

    claims = app.dataframe(raw_topic(app, CLAIMS_SUBMITTED))
    return guarded(app, claims, settings, step, outputs=(CLAIMS_CHECKS, CLAIMS_DLQ))
