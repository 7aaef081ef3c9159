"""Reading a claims.submitted event as contract JSON, for de-identification."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError

from claimscrub.core import limits as input_limits
from claimscrub.core.codec import JSON, PROTOBUF, claim_to_dict
from claimscrub.v1 import claim_pb2


class Undecodable(ValueError):
    """Not a claim this service can read; the reason is a kind only."""


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
