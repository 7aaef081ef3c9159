"""claims.submitted + claims.scrubbed -> (join table by claim token) -> claims.deidentified.

Both topics are keyed by claimId with the same partition count, so a claim
and its result land on the same partition number and one agent instance
sees both (co-partitioned, like the aggregator's table). The claim is
de-identified the moment it arrives; only de-identified bytes are stored.
"""

from __future__ import annotations

import json
import time
from typing import Any

import faust
from google.protobuf.message import DecodeError

from claimscrub.core.claim import claim_id_of
from claimscrub.core.codec import CONTENT_TYPE, JSON, PROTOBUF, claim_to_dict
from claimscrub.redaction.deidentify import Deidentifier
from claimscrub.redaction.join import Step, on_claim, on_result
from claimscrub.redaction.metrics import redaction_metrics
from claimscrub.runtime import logs
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.streams import header, raw_topic
from claimscrub.runtime.topics import CLAIMS_DEIDENTIFIED, CLAIMS_SCRUBBED, CLAIMS_SUBMITTED
from claimscrub.v1 import claim_pb2, results_pb2

log = logs.get_logger(__name__)


class Undecodable(ValueError):
    """Not a claim (or result) this service can read; the reason is a kind only."""


def decode_claim_dict(value: bytes | None, content_type: bytes | None) -> Any:
    """The claim event as contract JSON (protobuf or JSON, as the checks accept)."""
    if not value:
        raise Undecodable("empty value")
    if content_type == JSON or (content_type is None and value.lstrip()[:1] in (b"{", b"[")):
        try:
            return json.loads(value.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise Undecodable("invalid JSON") from None
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


def install_redaction_agent(app: faust.App, settings: Settings, deid: Deidentifier) -> Any:
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
        "deidentify-join",
        default=None,
        partitions=settings.topic_partitions,
        key_type=bytes,
    )
    m = redaction_metrics()

    def claim_step(key: bytes, value: bytes | None, headers: Any) -> tuple[str, Step] | None:
        try:
            data = decode_claim_dict(value, header(headers, CONTENT_TYPE))
        except Undecodable as exc:
            m.skipped.labels("claims.submitted", str(exc)).inc()
            return None
        fallback = key.decode("utf-8", "replace")
        claim_id = claim_id_of(data) or fallback
        token = deid.claim_token(claim_id)
        started = time.perf_counter()
        record = deid.deidentify(data, fallback_id=fallback)
        m.duration.labels("claim").observe(time.perf_counter() - started)
        return token, on_claim(table.get(token.encode()), record)

    def result_step(key: bytes, value: bytes | None) -> tuple[str, Step] | None:
        result = results_pb2.ScrubResult()
        try:
            result.ParseFromString(value or b"")
        except DecodeError:
            m.skipped.labels("claims.scrubbed", "invalid ScrubResult").inc()
            return None
        claim_id = result.claim_id or key.decode("utf-8", "replace")
        if not claim_id:
            m.skipped.labels("claims.scrubbed", "no claim id").inc()
            return None
        token = deid.claim_token(claim_id)
        return token, on_result(table.get(token.encode()), deid.deidentify_result(result, token))

    async def deidentify(stream: Any) -> None:
        async for event in stream.events():
            topic = event.message.topic
            key: bytes = event.key or b""
            if topic == CLAIMS_SUBMITTED.name:
                m.shared.claims_consumed.labels(settings.service).inc()
                done = claim_step(key, event.value, event.headers)
            else:
                done = result_step(key, event.value)
            if done is None:
                continue
            token, step = done
            if step.duplicate:
                m.duplicates.labels(topic).inc()
                continue
            if step.record is not None:
                await deidentified.send(
                    key=token.encode(),
                    value=step.record.SerializeToString(),
                    headers=[(CONTENT_TYPE, PROTOBUF)],
                )
                m.published.inc()
            table[token.encode()] = step.state

    return app.agent(source, name="redaction.deidentify")(deidentify)
