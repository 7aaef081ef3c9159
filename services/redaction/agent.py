"""claims.submitted + claims.scrubbed -> (join table by claim token) -> claims.deidentified.

Both topics are keyed by claimId with the same partition count, so a claim
and its result land on the same partition number and one agent instance
sees both (co-partitioned, like the aggregator's table). The claim is
de-identified the moment it arrives; only de-identified bytes are stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import faust
from google.protobuf.message import DecodeError

from claimscrub.core import limits as input_limits
from claimscrub.core.claim import claim_id_of
from claimscrub.core.codec import CONTENT_TYPE, JSON, PROTOBUF, claim_to_dict
from claimscrub.redaction.deidentify import Deidentifier
from claimscrub.redaction.join import State, Step, on_claim, on_result
from claimscrub.redaction.metrics import redaction_metrics
from claimscrub.runtime import logs
from claimscrub.runtime.batch_table import InRecord, PartitionState, attach_batch_table
from claimscrub.runtime.guard import Outgoing, RecordGuard, Source
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.streams import header, make_app, raw_topic
from claimscrub.runtime.topics import (
    CLAIMS_DEIDENTIFIED,
    CLAIMS_DLQ,
    CLAIMS_SCRUBBED,
    CLAIMS_SUBMITTED,
    REDACTION_JOIN_CHANGELOG,
)
from claimscrub.v1 import claim_pb2, results_pb2

log = logs.get_logger(__name__)

JOIN_TABLE = "deidentify-join"
# A token's join state, from the Faust table or the batched agent's partition.
Lookup = Callable[[bytes], State | None]


class Undecodable(ValueError):
    """Not a claim (or result) this service can read; the reason is a kind only."""


def decode_claim_dict(value: bytes | None, content_type: bytes | None) -> Any:
    """The claim event as contract JSON (protobuf or JSON, as the checks accept)."""
    if not value:
        raise Undecodable("empty value")
    limits = input_limits.current()
    if len(value) > limits.max_claim_bytes:
        raise Undecodable("claim too large")
    if content_type == JSON or (content_type is None and value.lstrip()[:1] in (b"{", b"[")):
        try:
            return input_limits.load_json(value, limits)
        except input_limits.InputLimitExceeded as exc:
            reason = str(exc)
            raise Undecodable("invalid JSON" if reason.startswith("invalid") else reason) from None
    if content_type not in (None, PROTOBUF):
        raise Undecodable("unknown content type")
    msg = claim_pb2.Claim()
    try:
        msg.ParseFromString(value)
    except DecodeError:
        raise Undecodable("invalid protobuf Claim") from None
    if not msg.claim_id and not msg.service_lines and not msg.payer_id:
        raise Undecodable("no Claim fields in protobuf value")
    return claim_to_dict(msg)


class RedactionJoin:
    """One event of claims.submitted or claims.scrubbed -> the join's next step.

    Shared by the Faust agent and the batched transport (runtime.batch_table),
    so both de-identify and join alike; ``lookup`` reads the join state of a
    token from whichever store the transport keeps.
    """

    def __init__(self, settings: Settings, deid: Deidentifier) -> None:
        self._settings = settings
        self._deid = deid
        self._m = redaction_metrics()

    def _claim(
        self, key: bytes, value: bytes | None, content_type: bytes | None, lookup: Lookup
    ) -> tuple[bytes, Step] | None:
        m = self._m
        try:
            data = decode_claim_dict(value, content_type)
        except Undecodable as exc:
            m.skipped.labels("claims.submitted", str(exc)).inc()
            return None
        fallback = key.decode("utf-8", "replace")
        claim_id = claim_id_of(data) or fallback
        token = self._deid.claim_token(claim_id).encode()
        started = time.perf_counter()
        record = self._deid.deidentify(data, fallback_id=fallback)
        m.duration.labels("claim").observe(time.perf_counter() - started)
        return token, on_claim(lookup(token), record)

    def _result(self, key: bytes, value: bytes | None, lookup: Lookup) -> tuple[bytes, Step] | None:
        result = results_pb2.ScrubResult()
        try:
            result.ParseFromString(value or b"")
        except DecodeError:
            self._m.skipped.labels("claims.scrubbed", "invalid ScrubResult").inc()
            return None
        claim_id = result.claim_id or key.decode("utf-8", "replace")
        if not claim_id:
            self._m.skipped.labels("claims.scrubbed", "no claim id").inc()
            return None
        token = self._deid.claim_token(claim_id)
        step = on_result(lookup(token.encode()), self._deid.deidentify_result(result, token))
        return token.encode(), step

    def step(
        self,
        topic: str,
        key: bytes,
        value: bytes | None,
        content_type: bytes | None,
        lookup: Lookup,
    ) -> tuple[bytes, Step, Outgoing | None] | None:
        """The token, the join step and the record to publish (if now complete);
        None when the event is skipped (counted by kind)."""
        if topic == CLAIMS_SUBMITTED.name:
            self._m.shared.claims_consumed.labels(self._settings.service).inc()
            done = self._claim(key, value, content_type, lookup)
        else:
            done = self._result(key, value, lookup)
        if done is None:
            return None
        token, step = done
        if step.duplicate:
            self._m.duplicates.labels(topic).inc()
            return token, step, None
        out = None
        if step.record is not None:
            out = Outgoing(
                CLAIMS_DEIDENTIFIED.name,
                token,
                step.record.SerializeToString(),
                [(CONTENT_TYPE, PROTOBUF)],
            )
            self._m.published.inc()
        return token, step, out

    async def handle(self, rec: InRecord, table: PartitionState) -> list[Outgoing]:
        """The batched transport's handler (runtime.batch_table)."""
        done = self.step(
            rec.topic, rec.key, rec.value, header(rec.headers, CONTENT_TYPE), table.get
        )
        if done is None:
            return []
        token, step, out = done
        if not step.duplicate:
            table[token] = step.state
        return [out] if out is not None else []


def install_redaction_agent(app: faust.App, settings: Settings, deid: Deidentifier) -> Any:
    """The Faust transport (CLAIMSCRUB_TRANSPORT=faust): one event at a time."""
    source = app.topic(
        CLAIMS_SUBMITTED.name,
        CLAIMS_SCRUBBED.name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    deidentified = raw_topic(app, CLAIMS_DEIDENTIFIED)
    table = app.Table(
        JOIN_TABLE,
        default=None,
        partitions=settings.topic_partitions,
        key_type=bytes,
    )
    join = RedactionJoin(settings, deid)
    guard = RecordGuard(settings.service, settings.max_message_bytes)
    dlq = raw_topic(app, CLAIMS_DLQ)

    async def deidentify(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            src = Source(msg.topic, msg.partition, msg.offset, event.key or b"", event.value)
            writes: list[tuple[bytes, Any]] = []

            async def one(event: Any = event, writes: list[tuple[bytes, Any]] = writes) -> Any:
                done = join.step(
                    event.message.topic,
                    event.key or b"",
                    event.value,
                    header(event.headers, CONTENT_TYPE),
                    table.get,
                )
                if done is None or done[1].duplicate:
                    return []
                token, step, out = done
                writes.append((token, step.state))
                return [out] if out is not None else []

            outputs = await guard.run(src, one)
            for out in outputs:
                topic = dlq if out.topic == CLAIMS_DLQ.name else deidentified
                await topic.send(key=out.key, value=out.value, headers=out.headers or None)
            if not any(o.topic == CLAIMS_DLQ.name for o in outputs):
                for token, state in writes:
                    table[token] = state

    return app.agent(source, name="redaction.deidentify")(deidentify)


def redaction_app(settings: Settings, deid: Deidentifier) -> faust.App:
    """The service's app on the configured transport (CLAIMSCRUB_TRANSPORT)."""
    if settings.transport == "faust":
        app = make_app(settings)
        install_redaction_agent(app, settings, deid)
        return app
    # The batched agent keeps the service's group and the Faust table's
    # changelog; the Faust app itself (worker, gRPC, metrics) takes another id.
    app = make_app(settings, app_id=f"claimscrub-{settings.service}-runtime")
    attach_batch_table(
        app,
        settings,
        group_id=f"claimscrub-{settings.service}",
        topics=[CLAIMS_SUBMITTED.name, CLAIMS_SCRUBBED.name],
        changelog=REDACTION_JOIN_CHANGELOG.name,
        table_name=JOIN_TABLE,
        handler=RedactionJoin(settings, deid).handle,
    )
    return app
