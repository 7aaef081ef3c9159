"""notChecked is honoured only from the intake service (docs/x12.md "Trust"):
the intake seals it, the checks verify the seal and otherwise drop the names,
so the rules apply as to any contract claim."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from claimscrub.core.checks import Check
from claimscrub.core.claim import Claim, ParsedClaim, parse_claim
from claimscrub.core.codec import decode_check_result, decode_claim, encode_claim_json
from claimscrub.core.edits import CheckName
from claimscrub.core.fingerprint import DEV_KEY, key_from_env
from claimscrub.core.not_checked_seal import SEAL_HEADER, honoured, seal, unsealed, verified
from claimscrub.core.payers import PayerPolicies
from claimscrub.intake.topology import IntakeStep
from claimscrub.runtime.claim_judge import ClaimEvent, ClaimJudge
from claimscrub.runtime.engine import Record
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import CLAIMS_SUBMITTED, CLAIMS_X12
from claimscrub.x12.compose import interchange

KEY = b"k" * 32
NAMES = ["PLAN_OF_CARE_CERTIFICATION", "TIMED_MINUTES"]


def _data(claim_id: str = "S-1", units: int = 2, **extra: Any) -> dict[str, Any]:
    return {
        "claimId": claim_id,
        "payerId": "MEDICARE",
        "submissionDate": "2026-06-01",
        "serviceLines": [
            {
                "lineNumber": 1,
                "dateOfService": "2026-05-04",
                "procedureCode": "97110",
                "modifiers": ["GP"],
                "units": units,
            }
        ],
        **extra,
    }


def _claim(**kw: Any) -> Claim:
    parsed = parse_claim(_data(**kw))
    assert parsed.claim is not None, parsed.problems
    return parsed.claim


def _kept(claim: Claim, given: bytes | None, key: bytes = KEY) -> frozenset[str]:
    out = honoured(ParsedClaim(claim.claim_id, claim), given, key).claim
    assert out is not None
    return out.not_checked


def test_the_intakes_seal_keeps_the_names() -> None:
    claim = _claim(notChecked=NAMES)
    assert _kept(claim, seal(claim, KEY)) == frozenset(NAMES)


def test_without_a_seal_the_names_are_dropped() -> None:
    claim = _claim(notChecked=NAMES)
    assert _kept(claim, None) == frozenset()
    assert _kept(claim, b"") == frozenset()
    assert unsealed(ParsedClaim("S-1", claim)).claim == dataclasses.replace(
        claim, not_checked=frozenset()
    )


def test_a_seal_under_another_key_does_not_verify() -> None:
    claim = _claim(notChecked=NAMES)
    assert _kept(claim, seal(claim, DEV_KEY)) == frozenset()


def test_a_seal_copied_onto_another_claim_does_not_verify() -> None:
    sealed = _claim(notChecked=NAMES)
    other_content = _claim(units=3, notChecked=NAMES)
    other_id = _claim(claim_id="S-2", notChecked=NAMES)
    assert not verified(other_content, seal(sealed, KEY), KEY)
    assert not verified(other_id, seal(sealed, KEY), KEY)


def test_a_name_added_after_sealing_does_not_verify() -> None:
    sealed = _claim(notChecked=["TIMED_MINUTES"])
    widened = _claim(notChecked=["TIMED_MINUTES", "VISIT_LIMIT"])
    assert not verified(widened, seal(sealed, KEY), KEY)


def test_a_claim_without_names_needs_no_seal() -> None:
    claim = _claim()
    parsed = ParsedClaim("S-1", claim)
    assert seal(claim, KEY) == b""
    assert honoured(parsed, None, KEY) is parsed


def _intake_claims(claims: list[dict[str, Any]]) -> list[Any]:
    step = IntakeStep(Settings.from_env("intake", grpc_port=0, metrics_port=0, env={}))
    text = interchange(claims, control_number=9).encode()
    out = step(Record(b"000000009", text, [], CLAIMS_X12.name, 0, 0, 0))
    return [o for o in out if o.topic == CLAIMS_SUBMITTED.name]


def test_the_intake_seals_each_claims_names_under_the_services_key() -> None:
    [out] = _intake_claims([_data(diagnoses=["M62.81"])])
    headers = dict(out.headers)
    parsed = decode_claim(out.value, content_type=headers["content-type"])
    assert parsed.claim is not None and parsed.claim.not_checked
    assert verified(parsed.claim, headers[SEAL_HEADER], key_from_env())


def _judge_sees(value: bytes, ctype: bytes, given: bytes | None) -> tuple[str, ...]:
    seen: list[frozenset[str]] = []

    def rules(claim: Claim) -> list[Any]:
        seen.append(claim.not_checked)
        return []

    check = Check(CheckName.UNITS, rules, PayerPolicies.defaults())
    judge = ClaimJudge(Settings.from_env("units", grpc_port=0, metrics_port=0, env={}), check)
    event = ClaimEvent(b"S-1", value, ctype, "claims.submitted", 0, 0, 0, not_checked_seal=given)
    result = decode_check_result(judge.judge(event, dt.date(2026, 6, 1)).value)
    assert [sorted(s) for s in seen] == [list(result.not_checked)]
    return result.not_checked


def test_a_check_honours_the_names_under_the_intakes_seal_only() -> None:
    data = _data(notChecked=NAMES)
    value, ctype = encode_claim_json(data)
    claim = _claim(notChecked=NAMES)
    assert _judge_sees(value, ctype, seal(claim, key_from_env())) == tuple(NAMES)
    assert _judge_sees(value, ctype, None) == ()
    assert _judge_sees(value, ctype, seal(claim, b"not the services key")) == ()
