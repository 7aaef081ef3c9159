"""The claim/result join as a pure step, so it is testable without a broker.

The de-identified claim (from claims.submitted) and the de-identified result
(from claims.scrubbed) arrive in either order; whichever comes second
completes the record. The state lives in a stream engine store keyed by the claim's
token and holds only de-identified bytes, so its changelog topic carries no
PHI (and no claimId) either. A record is published once: redelivered events
after that change nothing.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from claimscrub.v1 import redaction_service_pb2, results_pb2

State = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Step:
    state: State
    # The complete record to publish on claims.deidentified, if now complete.
    record: redaction_service_pb2.DeidentifiedClaim | None
    duplicate: bool = False


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _record(claim_b64: str, result_b64: str) -> redaction_service_pb2.DeidentifiedClaim:
    record = redaction_service_pb2.DeidentifiedClaim()
    record.ParseFromString(base64.b64decode(claim_b64))
    result = results_pb2.ScrubResult()
    result.ParseFromString(base64.b64decode(result_b64))
    record.result.CopyFrom(result)
    return record


# Once published only the fact is kept; the record is on claims.deidentified.
_DONE: State = {"published": True}


def on_claim(state: State | None, claim: redaction_service_pb2.DeidentifiedClaim) -> Step:
    current = state or {}
    if current.get("published") or current.get("claim"):
        return Step(current, None, duplicate=True)
    claim_b64 = _b64(claim.SerializeToString())
    if current.get("result"):
        return Step(dict(_DONE), _record(claim_b64, current["result"]))
    return Step({"claim": claim_b64}, None)


def on_result(state: State | None, result: results_pb2.ScrubResult) -> Step:
    current = state or {}
    if current.get("published") or current.get("result"):
        return Step(current, None, duplicate=True)
    result_b64 = _b64(result.SerializeToString())
    if current.get("claim"):
        return Step(dict(_DONE), _record(current["claim"], result_b64))
    return Step({"result": result_b64}, None)
