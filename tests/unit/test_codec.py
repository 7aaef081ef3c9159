"""The wire codec: protobuf and JSON claims decode alike; garbage is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from claimscrub.core.codec import (
    JSON,
    PROTOBUF,
    UndecodableEvent,
    decode_check_result,
    decode_claim,
    decode_scrub_result,
    encode_check_result,
    encode_claim_json,
    encode_scrub_result,
)
from claimscrub.core.edits import CheckName, edit
from claimscrub.core.results import CheckResult, combine
from tests.contract_example import contract_example

CONTRACT_EXAMPLE = contract_example()


def test_protobuf_and_json_encodings_decode_to_the_same_claim() -> None:
    value, ctype = encode_claim_json(CONTRACT_EXAMPLE)
    assert ctype == PROTOBUF
    from_pb = decode_claim(value, content_type=ctype)
    from_json = decode_claim(json.dumps(CONTRACT_EXAMPLE).encode(), content_type=JSON)
    assert from_pb.ok and from_json.ok
    assert from_pb.claim == from_json.claim


def test_a_claim_that_does_not_fit_the_schema_travels_as_json_and_is_malformed() -> None:
    bad = {
        "claimId": "X1",
        "payerId": "MEDICARE",
        "serviceLines": [
            {
                "lineNumber": 1,
                "dateOfService": "2026-05-04",
                "procedureCode": "97110",
                "units": "two",
            }
        ],
    }
    value, ctype = encode_claim_json(bad)
    assert ctype == JSON
    parsed = decode_claim(value, content_type=ctype)
    assert parsed.claim_id == "X1"
    assert parsed.problems == ["serviceLines[0].units: must be an integer"]


@pytest.mark.parametrize("garbage", [b"", b"\xff\xfe\x00garbage", b"{not json", b"\x08\x96\x01"])
def test_garbage_is_undecodable_and_the_reason_does_not_echo_it(garbage: bytes) -> None:
    with pytest.raises(UndecodableEvent) as info:
        decode_claim(garbage)
    assert "garbage" not in str(info.value)


def test_the_record_key_stands_in_for_a_missing_claim_id() -> None:
    parsed = decode_claim(b'{"payerId": "P"}', key="K-1")
    assert parsed.claim_id == "K-1"
    assert "claimId: missing" in parsed.problems


def test_results_round_trip_through_protobuf() -> None:
    e = edit("UNITS_EXCEED_TIME", 1, "97530 billed 3 units; 30 timed minutes support 2")
    check = CheckResult("C-1", CheckName.UNITS, (e,), submitted_at_ms=123, producer="units@x")
    assert decode_check_result(encode_check_result(check)) == check
    scrub = combine("C-1", [check])
    assert decode_scrub_result(encode_scrub_result(scrub)) == scrub


def test_the_fast_dict_conversion_matches_message_to_dict() -> None:
    from google.protobuf import json_format

    from claimscrub.core.codec import claim_to_dict
    from claimscrub.v1 import claim_pb2

    variants = [
        CONTRACT_EXAMPLE,
        {"claimId": "A"},
        {"serviceLines": [{"lineNumber": 0}]},
        {"therapy": {"treatmentDaysSinceProgressReport": 0}, "diagnoses": []},
    ]
    for data in variants:
        msg = json_format.ParseDict(data, claim_pb2.Claim())
        assert claim_to_dict(msg) == json_format.MessageToDict(msg)


def test_the_fast_message_conversion_matches_parse_dict() -> None:
    from google.protobuf import json_format

    from claimscrub.bench.claims import make_claims
    from claimscrub.core.codec import dict_to_message
    from claimscrub.redaction.config import RedactionConfig
    from claimscrub.redaction.deidentify import Deidentifier, to_json
    from claimscrub.runtime.testing import REPO_ROOT
    from claimscrub.v1.redaction_service_pb2 import DeidentifiedClaim

    deid = Deidentifier(RedactionConfig())
    examples = json.loads((REPO_ROOT / "examples/claims.json").read_text())
    dicts = [to_json(deid.deidentify(c)) for c in [*examples, *make_claims(50, "CODEC")]]
    dicts += [
        {},
        {"patient": {}, "serviceLines": [{}, {"lineNumber": 0, "units": 0}]},
        {"therapy": {"planOfCare": {"startDate": "2026"}}, "diagnoses": []},
        {"note": "Nguyễn, naïve café 😀"},
    ]
    for data in dicts:
        fast = dict_to_message(data, DeidentifiedClaim())
        assert fast == json_format.ParseDict(data, DeidentifiedClaim())
        assert fast.SerializeToString(deterministic=True) == json_format.ParseDict(
            data, DeidentifiedClaim()
        ).SerializeToString(deterministic=True)
        assert fast.HasField("patient") == ("patient" in data)


@pytest.mark.parametrize(
    "data",
    [
        {"noSuchField": "x"},
        {"note": None},
        {"serviceLines": [{"units": 2**31}]},
        {"serviceLines": [{"units": "3"}]},
        {"serviceLines": [{"units": True}]},
        {"serviceLines": [{"diagnosisPointers": [1, None]}]},
        {"serviceLines": {"units": 1}},
        {"diagnoses": "M62.81"},
        {"note": 5},
        {"note": "lone \ud800 surrogate"},
        {"date_mode": "YEAR", "dateMode": "SHIFT"},
        {"patient": "x"},
    ],
)
def test_the_fast_message_conversion_leaves_the_rest_to_parse_dict(data: Any) -> None:
    from google.protobuf import json_format

    from claimscrub.core.codec import dict_to_message
    from claimscrub.v1.redaction_service_pb2 import DeidentifiedClaim

    try:
        expected: Any = json_format.ParseDict(data, DeidentifiedClaim())
    except json_format.ParseError as exc:
        expected = str(exc)
    try:
        got: Any = dict_to_message(data, DeidentifiedClaim())
    except json_format.ParseError as exc:
        got = str(exc)
    assert got == expected
