"""The Claim's ``notChecked`` (claim.proto ``not_checked``) on every decoding
path: the one parser, the JSON and protobuf shortcuts and the event codec read
it alike, and refuse a name claimscrub.core.not_checked does not define."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from claimscrub.core.claim import parse_claim
from claimscrub.core.claim_dict import claim_from_dict
from claimscrub.core.claim_message import claim_from_message
from claimscrub.core.codec import decode_claim, encode_claim_json
from claimscrub.v1 import claim_pb2


def _claim(**extra: Any) -> dict[str, Any]:
    return {
        "claimId": "NC-1",
        "payerId": "MEDICARE",
        "serviceLines": [
            {
                "lineNumber": 1,
                "dateOfService": "2026-05-04",
                "procedureCode": "97110",
                "units": 1,
            }
        ],
        **extra,
    }


def _message(data: dict[str, Any]) -> claim_pb2.Claim:
    return json_format.ParseDict(data, claim_pb2.Claim())


def test_every_path_reads_the_names_and_an_absent_field_is_empty() -> None:
    data = _claim(notChecked=["TIMED_MINUTES", "visit_limit"])
    want = frozenset({"TIMED_MINUTES", "VISIT_LIMIT"})

    parsed = parse_claim(data)
    assert parsed.claim is not None and parsed.claim.not_checked == want
    by_dict = claim_from_dict(data)
    assert by_dict is not None and by_dict.not_checked == want
    by_message = claim_from_message(_message(data))
    assert by_message is not None and by_message.not_checked == want
    value, content_type = encode_claim_json(data)
    event = decode_claim(value, content_type=content_type)
    assert event.claim is not None and event.claim.not_checked == want

    plain = parse_claim(_claim())
    assert plain.claim is not None and plain.claim.not_checked == frozenset()


def test_a_name_that_is_not_a_check_makes_the_claim_malformed_on_every_path() -> None:
    data = _claim(notChecked=["TIMED_MINUTES", "EVERYTHING"])

    parsed = parse_claim(data)
    assert parsed.claim is None
    assert parsed.problems == ["notChecked[1]: not a check name of notChecked"]
    # The shortcuts give way to the parser, which reports it.
    assert claim_from_dict(data) is None
    assert claim_from_message(_message(data)) is None
    value, content_type = encode_claim_json(data)
    assert decode_claim(value, content_type=content_type).problems == parsed.problems


_VERSION_SCRIPT = """
import json, sys
from claimscrub.core.claim import parse_claim
from claimscrub.core.fingerprint import claim_version
parsed = parse_claim(json.loads(sys.argv[1]))
print(claim_version(parsed, None, b"k" * 32))
"""


def test_every_process_gives_a_claim_with_not_checked_the_same_version() -> None:
    # Each service computes the version the aggregator joins its verdicts on;
    # string hashing (and so a frozenset's order) differs per process.
    import json
    import os
    import subprocess
    import sys

    data = json.dumps(
        _claim(
            notChecked=[
                "TIMED_MINUTES",
                "PLAN_OF_CARE_CERTIFICATION",
                "PROGRESS_REPORT",
                "VISIT_LIMIT",
                "AUTHORIZATION",
                "KX_THRESHOLD",
            ]
        )
    )
    versions = {
        subprocess.run(
            [sys.executable, "-c", _VERSION_SCRIPT, data],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in (1, 2, 3, 4)
    }
    assert len(versions) == 1
