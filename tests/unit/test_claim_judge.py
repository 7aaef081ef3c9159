"""What a check publishes for one claims.submitted event, on either transport."""

from __future__ import annotations

import datetime as dt

from claimscrub.core.checks import Check
from claimscrub.core.codec import decode_check_result, encode_claim_json
from claimscrub.core.edits import CheckName, edit
from claimscrub.core.payers import PayerPolicies
from claimscrub.runtime.claim_judge import ClaimEvent, ClaimJudge
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import CLAIMS_CHECKS, CLAIMS_DLQ

SETTINGS = Settings.from_env("units", grpc_port=0, metrics_port=0, env={})
TODAY = dt.date(2026, 6, 1)
CLAIM = {
    "claimId": "J-1",
    "payerId": "MEDICARE",
    "submissionDate": "2026-06-01",
    "serviceLines": [
        {
            "lineNumber": 1,
            "dateOfService": "2026-05-04",
            "procedureCode": "97110",
            "units": 1,
            "minutes": 15,
        }
    ],
}


def _event(value: bytes, content_type: bytes | None, key: bytes = b"J-1") -> ClaimEvent:
    return ClaimEvent(key, value, content_type, "claims.submitted", 3, 42, 1_780_000_000_000)


def _check(rules: object) -> Check:
    return Check(CheckName.UNITS, rules, PayerPolicies.defaults())  # type: ignore[arg-type]


def test_a_claim_gets_its_verdict_keyed_by_claim_id() -> None:
    found = edit("UNITS_BELOW_TIME", 1, "97110 billed 1 unit; 40 timed minutes support 3")
    judge = ClaimJudge(SETTINGS, _check(lambda claim: [found]))
    value, ctype = encode_claim_json(CLAIM)
    out = judge.judge(_event(value, ctype), TODAY)
    assert (out.topic, out.key) == (CLAIMS_CHECKS.name, b"J-1")
    result = decode_check_result(out.value)
    assert result.edits == (found,)
    assert result.submitted_at_ms == 1_780_000_000_000


def test_garbage_goes_to_the_dlq_unchanged_with_a_reason() -> None:
    judge = ClaimJudge(SETTINGS, _check(lambda claim: []))
    out = judge.judge(_event(b"\xff\xfegarbage", None), TODAY)
    assert (out.topic, out.key, out.value) == (CLAIMS_DLQ.name, b"J-1", b"\xff\xfegarbage")
    headers = dict(out.headers)
    assert headers["claimscrub-service"] == b"units"
    assert headers["claimscrub-source"] == b"claims.submitted/3@42"
    assert b"garbage" not in headers["claimscrub-reason"]


def test_a_rule_that_raises_still_answers_the_claim_with_check_incomplete() -> None:
    def broken(claim: object) -> list[object]:
        raise KeyError("a bug")

    judge = ClaimJudge(SETTINGS, _check(broken))
    value, ctype = encode_claim_json(CLAIM)
    out = judge.judge(_event(value, ctype), TODAY)
    assert (out.topic, out.key) == (CLAIMS_CHECKS.name, b"J-1")
    result = decode_check_result(out.value)
    assert [(e.code, e.line_number) for e in result.edits] == [("CHECK_INCOMPLETE", 0)]
    assert "a bug" not in result.edits[0].message
