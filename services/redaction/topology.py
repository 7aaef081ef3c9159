"""The redaction service's stream: claims.submitted and claims.scrubbed, joined
per claimId into claims.deidentified and claims.ready.

    claims.submitted (key claimId, placed by the producer's partitioner)
        -> group_by "claimId"                         (repartition topic, murmur2)
    REDACTION_BY_CLAIM  +  claims.scrubbed (key claimId, murmur2)
        -> the join step, with the claimId's state
    claims.deidentified, claims.ready                 (a failing step -> claims.dlq)

The join is right only if a claim and its result come to the same partition
number (co-partitioning). The engine writes claims.scrubbed by murmur2 of the
claimId, but the contract (§6) asks the billing platforms that write
claims.submitted for no partitioner, and librdkafka's default (CRC32) puts
most keys elsewhere; so claims reach the join through the engine's own
repartition topic, keyed and placed like their results. The two are read as
one dataframe (``concat``), the record's topic telling a result from a
claim: a Quix state store belongs to one stream, so two separate dataframes
would each have a store of their own and could not see each other's side of
the join. Quix's own joins do not fit either:
``join_asof`` and ``join_lookup`` emit on one side's arrival only, and
``join_interval`` needs a time bound, while a verdict may come an hour after
its claim (revision 2, contract §3) and each side must be kept only as long
as it is needed.

The state of a claimId (RocksDB, with its changelog topic
``REDACTION_JOIN_CHANGELOG``) holds two entries:

- ``join``: the de-identified claim or result waiting for its pair
  (redaction.join), then only the fact that the record went out;
- ``ready``: the claim as submitted, waiting for a verdict that makes it
  ready (redaction.ready). PHI: the store, its changelog and the repartition
  topic are inside the clinical boundary, like claims.submitted
  (docs/architecture.md).

The service runs exactly-once (Quix's Kafka transactions): its outputs, the
repartitioned claims, its changelog and its input offsets commit together, so a kill -9 between
publishing a ready claim and recording that it did cannot publish it twice
to a reader that reads committed records (``isolation.level=read_committed``).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from google.protobuf.message import DecodeError
from quixstreams import Application, State
from quixstreams.dataframe import StreamingDataFrame

from claimscrub.core.claim import claim_id_of
from claimscrub.core.codec import CONTENT_TYPE, PROTOBUF, UndecodableEvent, decode_claim
from claimscrub.core.fingerprint import claim_version, key_from_env
from claimscrub.redaction import join, ready
from claimscrub.redaction.decode import Undecodable, decode_claim_dict
from claimscrub.redaction.deidentify import Deidentifier
from claimscrub.redaction.metrics import redaction_metrics
from claimscrub.runtime.engine import (
    Record,
    guarded_stateful,
    raw_topic,
    rekeyed,
)
from claimscrub.runtime.guard import Outgoing
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import (
    CLAIMS_DEIDENTIFIED,
    CLAIMS_DLQ,
    CLAIMS_READY,
    CLAIMS_SCRUBBED,
    CLAIMS_SUBMITTED,
    REDACTION_BY_CLAIM,
    REDACTION_GROUP_BY,
)
from claimscrub.v1 import results_pb2
from claimscrub.x12.one_claim import ONE_CLAIM_HEADER, X12_CONTENT_TYPE

JOIN = "join"
READY = "ready"
#: On each claims.ready record: the claim version it is (core.fingerprint).
VERSION_HEADER = "claimscrub-claim-version"
#: Headers of the submitted record that travel with it to claims.ready: its
#: content type and the links of an 837P claim to its interchange (control
#: numbers only).
KEPT_HEADERS = (
    CONTENT_TYPE,
    "claimscrub-x12-interchange",
    "claimscrub-x12-group",
    "claimscrub-x12-transaction-set",
)

#: What the engine runs this service with (runtime.runner.run's app_options).
ENGINE_OPTIONS: dict[str, Any] = {"processing_guarantee": "exactly-once"}


class RedactionStep:
    """One record of claims.submitted or claims.scrubbed, with its claimId's
    state -> what to publish. State is written last (engine.guarded_stateful)."""

    def __init__(
        self, settings: Settings, deid: Deidentifier, statuses: frozenset[str], version_key: bytes
    ) -> None:
        self._settings = settings
        self._deid = deid
        self._statuses = statuses
        self._version_key = version_key
        self._m = redaction_metrics()

    def __call__(self, rec: Record, state: State[Any, Any]) -> list[Outgoing]:
        if rec.topic == CLAIMS_SCRUBBED.name:
            return self._result(rec, state)
        # claims.submitted, as the repartition topic brings it (or read directly).
        return self._claim(rec, state)

    def _claim(self, rec: Record, state: State[Any, Any]) -> list[Outgoing]:
        m = self._m
        m.shared.claims_consumed.labels(self._settings.service).inc()
        content_type = rec.header(CONTENT_TYPE)
        try:
            data = decode_claim_dict(rec.value, content_type)
        except Undecodable as exc:
            m.skipped.labels(CLAIMS_SUBMITTED.name, str(exc)).inc()
            return []
        fallback = rec.key.decode("utf-8", "replace")
        claim_id = claim_id_of(data) or fallback
        token = self._deid.claim_token(claim_id)
        started = time.perf_counter()
        record = self._deid.deidentify(data, fallback_id=fallback)
        m.duration.labels("claim").observe(time.perf_counter() - started)
        joined = join.on_claim(state.get(JOIN), record)
        out = self._deidentified(token, joined, CLAIMS_SUBMITTED.name)
        readied = self._ready_claim(rec, content_type, state)
        if readied is not None and readied.ready is not None:
            out.append(self._ready_out(rec.key, readied.ready))
        if not joined.duplicate:
            state.set(JOIN, joined.state)
        if readied is not None and not readied.duplicate:
            state.set(READY, readied.state)
        return out

    def _ready_claim(
        self, rec: Record, content_type: bytes | None, state: State[Any, Any]
    ) -> ready.ReadyStep | None:
        try:
            parsed = decode_claim(
                rec.value,
                content_type=content_type,
                key=rec.key.decode("utf-8", "replace"),
                today=dt.date.today(),
            )
        except UndecodableEvent:
            return None  # no result will come for it (the checks dead-letter it)
        version = claim_version(parsed, rec.value, self._version_key)
        as_submitted = rec.header(ONE_CLAIM_HEADER)
        if as_submitted == b"":
            return None  # an 837P claim the intake could not rebuild: never ready
        if as_submitted is not None:
            # An 837P claim from the intake: ready as its one-claim interchange.
            value = as_submitted
            headers = [(CONTENT_TYPE, X12_CONTENT_TYPE)]
            headers += [(k, v) for k, v in rec.headers if k in KEPT_HEADERS[1:]]
        else:
            value = rec.value or b""
            headers = [(k, v) for k, v in rec.headers if k in KEPT_HEADERS]
        headers.append((VERSION_HEADER, version.encode()))
        return ready.on_claim(state.get(READY), version, value, headers, self._statuses)

    def _result(self, rec: Record, state: State[Any, Any]) -> list[Outgoing]:
        result = results_pb2.ScrubResult()
        try:
            result.ParseFromString(rec.value or b"")
        except DecodeError:
            self._m.skipped.labels(CLAIMS_SCRUBBED.name, "invalid ScrubResult").inc()
            return []
        claim_id = result.claim_id or rec.key.decode("utf-8", "replace")
        if not claim_id:
            self._m.skipped.labels(CLAIMS_SCRUBBED.name, "no claim id").inc()
            return []
        token = self._deid.claim_token(claim_id)
        verdict = ready.Verdict(
            version=result.claim_version,
            status=result.status,
            revision=result.revision or 1,
            incomplete=any(e.code == ready.INCOMPLETE_CODE for e in result.edits),
        )
        joined = join.on_result(state.get(JOIN), self._deid.deidentify_result(result, token))
        out = self._deidentified(token, joined, CLAIMS_SCRUBBED.name)
        readied = ready.on_verdict(state.get(READY), verdict, self._statuses)
        if readied.ready is not None:
            out.append(self._ready_out(rec.key, readied.ready))
        if not joined.duplicate:
            state.set(JOIN, joined.state)
        if not readied.duplicate:
            state.set(READY, readied.state)
        return out

    def _deidentified(self, token: str, step: join.Step, source: str) -> list[Outgoing]:
        if step.duplicate:
            self._m.duplicates.labels(source).inc()
            return []
        if step.record is None:
            return []
        self._m.published.inc()
        return [
            Outgoing(
                CLAIMS_DEIDENTIFIED.name,
                token.encode(),
                step.record.SerializeToString(),
                [(CONTENT_TYPE, PROTOBUF)],
            )
        ]

    def _ready_out(self, key: bytes, claim: ready.ReadyClaim) -> Outgoing:
        self._m.ready.inc()
        return Outgoing(CLAIMS_READY.name, key, claim.value, claim.headers)


def _by_claim(rec: Record) -> list[Outgoing]:
    """A claim of claims.submitted, as it goes onto the repartition topic:
    its own key, value and headers (the join step reads it as submitted)."""
    return [Outgoing(REDACTION_BY_CLAIM.name, rec.key, rec.value or b"", list(rec.headers))]


def topology(
    app: Application, settings: Settings, deid: Deidentifier, statuses: frozenset[str]
) -> StreamingDataFrame:
    step = RedactionStep(settings, deid, statuses, key_from_env())
    submitted = app.dataframe(raw_topic(app, CLAIMS_SUBMITTED))
    # Co-partitioning is not in the contract: a billing platform's client may
    # place claimIds by any partitioner (librdkafka's default is CRC32), while
    # claims.scrubbed is placed by the engine's murmur2. Written back by the
    # engine, each claim reaches the partition of its claimId's result.
    claims = rekeyed(
        app,
        submitted,
        settings,
        _by_claim,
        through=REDACTION_BY_CLAIM,
        group_by=REDACTION_GROUP_BY,
    )
    results = app.dataframe(raw_topic(app, CLAIMS_SCRUBBED))
    both = claims.concat(results)
    return guarded_stateful(
        app, both, settings, step, outputs=(CLAIMS_DEIDENTIFIED, CLAIMS_READY, CLAIMS_DLQ)
    )
