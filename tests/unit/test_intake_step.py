"""The intake step (claimscrub.intake.topology.IntakeStep) on records, without
a broker: what an interchange on claims.x12 turns into (docs/x12.md)."""

from __future__ import annotations

import re
from typing import Any

from claimscrub.core.codec import CONTENT_TYPE, decode_claim
from claimscrub.intake.topology import (
    GROUP_HEADER,
    INTERCHANGE_HEADER,
    TRANSACTION_SET_HEADER,
    IntakeStep,
)
from claimscrub.runtime.engine import Record
from claimscrub.runtime.guard import REASON_HEADER
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import CLAIMS_DLQ, CLAIMS_SUBMITTED, CLAIMS_X12, CLAIMS_X12_ACKS
from claimscrub.x12.compose import interchange

STEP = IntakeStep(Settings.from_env("intake", grpc_port=0, metrics_port=0, env={}))


def _claim(i: int) -> dict[str, Any]:
    return {
        "claimId": f"C{i}",
        "payerId": "MEDICARE",
        "patient": {"firstName": "Ada", "lastName": "Pryce", "memberId": f"M{i}"},
        "billingProvider": {"npi": "1558598797", "name": "CLINIC", "taxId": "123456789"},
        "diagnoses": ["M62.81"],
        "serviceLines": [
            {
                "lineNumber": 1,
                "dateOfService": "2026-05-04",
                "procedureCode": "97110",
                "modifiers": ["GP"],
                "units": 1,
                "chargeAmount": "42.00",
                "diagnosisPointers": [1],
            }
        ],
    }


def _record(value: bytes, key: bytes = b"000000007") -> Record:
    return Record(key, value, [], CLAIMS_X12.name, 3, 41, 1_700_000_000_000)


def test_each_claim_of_each_accepted_set_is_published_with_its_source_and_the_999_last() -> None:
    text = interchange([_claim(i) for i in range(3)], control_number=7, claims_per_set=2)
    out = STEP(_record(text.encode()))

    claims, ack = out[:-1], out[-1]
    assert [o.topic for o in claims] == [CLAIMS_SUBMITTED.name] * 3
    assert [o.key for o in claims] == [b"C0", b"C1", b"C2"]
    assert [dict(o.headers)[TRANSACTION_SET_HEADER] for o in claims] == [b"0001", b"0001", b"0002"]
    for o in claims:
        headers = dict(o.headers)
        assert headers[INTERCHANGE_HEADER] == b"000000007"
        assert headers[GROUP_HEADER] == b"7"
        parsed = decode_claim(o.value, content_type=headers[CONTENT_TYPE])
        assert parsed.ok and parsed.claim is not None
        assert parsed.claim.patient is not None
        assert parsed.claim.patient.member_id == o.key.decode().replace("C", "M")
        # docs/x12.md "notChecked": five names always, TIMED_MINUTES when no
        # line uses the minutes convention (these claims have no minutes).
        assert parsed.claim.not_checked == {
            "TIMED_MINUTES",
            "PLAN_OF_CARE_CERTIFICATION",
            "PROGRESS_REPORT",
            "VISIT_LIMIT",
            "AUTHORIZATION",
            "KX_THRESHOLD",
        }
    assert ack.topic == CLAIMS_X12_ACKS.name
    assert ack.key == b"000000007"
    assert ack.value.decode().count("IK5*A") == 2


def test_a_rejected_set_publishes_none_of_its_claims_and_the_999_says_so() -> None:
    text = interchange([_claim(i) for i in range(3)], control_number=8, claims_per_set=2)
    # The second set's SE01 (segment count) made wrong: that set is rejected (IK5*R*4).
    text = re.sub(r"SE\*(\d+)\*0002", "SE*99*0002", text)
    out = STEP(_record(text.encode()))

    assert [o.key for o in out if o.topic == CLAIMS_SUBMITTED.name] == [b"C0", b"C1"]
    ack = out[-1].value.decode()
    assert out[-1].topic == CLAIMS_X12_ACKS.name
    assert ack.count("IK5*A") == 1
    assert ack.count("IK5*R*4") == 1


def test_what_is_not_an_interchange_goes_to_the_dlq_whole_with_a_reason() -> None:
    value = b'{"claimId": "C1", "patient": {"lastName": "Pryce"}}'
    out = STEP(_record(value, key=b"K1"))

    assert len(out) == 1
    dead = out[0]
    assert (dead.topic, dead.key, dead.value) == (CLAIMS_DLQ.name, b"K1", value)
    reason = dict(dead.headers)[REASON_HEADER].decode()
    assert reason.startswith("invalid X12: ")
    assert "Pryce" not in reason


def test_an_empty_record_goes_to_the_dlq() -> None:
    out = STEP(_record(b""))

    assert [(o.topic, dict(o.headers)[REASON_HEADER]) for o in out] == [
        (CLAIMS_DLQ.name, b"empty value")
    ]
