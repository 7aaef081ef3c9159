"""Claim versions and duplicate fingerprints (core.fingerprint), and the
duplicate rule `claimscrub scrub` applies within a batch."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import json
from argparse import Namespace
from typing import Any

from claimscrub.cli.checks import build_checks
from claimscrub.cli.scrub import Scrubber
from claimscrub.core.claim import parse_claim
from claimscrub.core.codec import decode_claim, encode_claim_json
from claimscrub.core.fingerprint import (
    claim_version,
    duplicate_fingerprint,
    hmac_sha256_hex,
    key_from_env,
)
from claimscrub.runtime.testing import REPO_ROOT

KEY = b"test-key"
EXAMPLES = REPO_ROOT / "examples"


def _claim() -> dict[str, Any]:
    return {
        "claimId": "FP-1",
        "payerId": "MEDICARE",
        "submissionDate": "2026-06-01",
        "patient": {"memberId": "1EG4TE5MK73", "firstName": "Ada", "lastName": "Lovelace"},
        "billingProvider": {"npi": "1558598797"},
        "renderingProvider": {"npi": "1234567893", "taxonomy": "225100000X"},
        "diagnoses": ["M62.81"],
        "serviceLines": [
            {
                "lineNumber": 1,
                "dateOfService": "2026-05-04",
                "procedureCode": "97110",
                "modifiers": ["GP", "KX"],
                "units": 2,
                "minutes": 30,
                "chargeAmount": "84.00",
                "diagnosisPointers": [1],
            },
            {
                "lineNumber": 2,
                "dateOfService": "2026-05-04",
                "procedureCode": "97530",
                "modifiers": ["GP"],
                "units": 1,
                "minutes": 15,
            },
        ],
        "note": "Ada did sit-to-stand transfers",
    }


def _fp(data: dict[str, Any], key: bytes = KEY) -> str:
    parsed = parse_claim(data)
    assert parsed.claim is not None, parsed.problems
    return duplicate_fingerprint(parsed.claim, key)


def _version(data: Any) -> str:
    value, ctype = encode_claim_json(data)
    return claim_version(decode_claim(value, content_type=ctype), value, KEY)


def test_the_json_and_the_protobuf_form_of_a_claim_are_one_version() -> None:
    value, ctype = encode_claim_json(_claim())
    as_json = json.dumps(_claim()).encode()
    from_pb = claim_version(decode_claim(value, content_type=ctype), value, KEY)
    from_json = claim_version(decode_claim(as_json, content_type=b"application/json"), as_json, KEY)
    assert from_pb == from_json


def test_any_change_of_content_is_a_new_version() -> None:
    base = _version(_claim())
    for path, value in [
        (("note",), "Ada walked 20 m"),
        (("serviceLines", 0, "chargeAmount"), "90.00"),
        (("diagnoses",), ["R26.89"]),
        (("serviceLines", 1, "units"), 2),
    ]:
        changed = copy.deepcopy(_claim())
        target: Any = changed
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        assert _version(changed) != base, path


def test_a_malformed_claim_has_a_version_from_its_bytes() -> None:
    bad = {"claimId": "FP-BAD", "payerId": "MEDICARE", "serviceLines": [{"lineNumber": 1}]}
    worse = dict(bad, note="other")
    assert _version(bad) != _version(worse)
    assert _version(bad) == _version(copy.deepcopy(bad))


def test_fingerprint_is_the_patient_providers_and_services_only() -> None:
    base = _fp(_claim())
    same = copy.deepcopy(_claim())
    same["claimId"] = "FP-2"
    same["note"] = "other words"
    same["diagnoses"] = ["R26.89"]
    same["serviceLines"][0]["chargeAmount"] = "99.00"
    same["serviceLines"][0]["minutes"] = 31
    same["serviceLines"][0]["modifiers"] = ["KX", "GP"]
    same["serviceLines"].reverse()
    same["serviceLines"][0]["lineNumber"], same["serviceLines"][1]["lineNumber"] = 1, 2
    assert _fp(same) == base
    for path, value in [
        (("patient", "memberId"), "9ZZ9ZZ9ZZ99"),
        (("payerId",), "ACME-COMMERCIAL"),
        (("billingProvider", "npi"), "1245319599"),
        (("renderingProvider", "npi"), "1245319599"),
        (("serviceLines", 0, "dateOfService"), "2026-05-05"),
        (("serviceLines", 0, "procedureCode"), "97112"),
        (("serviceLines", 0, "modifiers"), ["GP"]),
        (("serviceLines", 0, "units"), 3),
    ]:
        changed = copy.deepcopy(_claim())
        target: Any = changed
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        assert _fp(changed) != base, path


def test_fingerprint_is_keyed_and_carries_no_claim_text() -> None:
    fp = _fp(_claim())
    assert fp != _fp(_claim(), b"another key")
    assert len(fp) == 32 and all(c in "0123456789abcdef" for c in fp)


def test_a_claim_without_a_patient_identifier_has_no_fingerprint() -> None:
    anonymous = copy.deepcopy(_claim())
    anonymous["patient"] = {"firstName": "Ada"}
    assert _fp(anonymous) == ""
    by_mrn = copy.deepcopy(_claim())
    by_mrn["patient"] = {"mrn": "MRN-1"}
    assert _fp(by_mrn) != ""


def test_key_comes_from_the_variable_or_the_file(tmp_path: Any) -> None:
    path = tmp_path / "key"
    path.write_text("from-file\n")
    assert key_from_env({"CLAIMSCRUB_HMAC_KEY": "direct"}) == b"direct"
    assert key_from_env({"CLAIMSCRUB_HMAC_KEY_FILE": str(path)}) == b"from-file"
    assert key_from_env({}) != b""


# --- the batch rule of `claimscrub scrub` ------------------------------------------


def _scrubber() -> Scrubber:
    checks = build_checks(
        Namespace(
            mue=None,
            payers=EXAMPLES / "payers.json",
            enrollment=EXAMPLES / "enrollment.json",
            ptp=[],
            coverage=[],
        )
    )
    return Scrubber(checks, dt.date(2026, 6, 1))


def test_the_batch_flags_a_later_claim_id_with_the_same_services_in_input_order() -> None:
    example = json.loads((EXAMPLES / "claims.json").read_text())[0]  # EX-001, CLEAN
    twin = dict(copy.deepcopy(example), claimId="EX-001-AGAIN", note="resent by mistake")
    results = list(_scrubber().scrub_all([example, twin, example]))
    assert results[0].status.value == "CLEAN" and results[0].edits == ()
    assert [e.code for e in results[1].edits] == ["DUPLICATE_CLAIM"]
    assert results[1].status.value == "HOLD"
    assert "EX-001" in results[1].edits[0].message
    # The same claimId again is the owner itself, not a duplicate.
    assert results[2] == results[0]


def test_the_example_claims_have_no_duplicates() -> None:
    claims = json.loads((EXAMPLES / "claims.json").read_text())
    results = list(_scrubber().scrub_all(claims))
    assert not any(e.code == "DUPLICATE_CLAIM" for r in results for e in r.edits)


def test_the_reused_keyed_state_gives_plain_hmac_sha256() -> None:
    # Several keys in turn: each gets its own keyed state, none leaks into another.
    for key in (KEY, b"another key", KEY, b"k" * 100):
        for message in (b"", b"member\x1fMEDICARE\x1f1EG4TE5MK73", b"x" * 300):
            expected = hmac.new(key, message, hashlib.sha256).hexdigest()
            assert hmac_sha256_hex(key, message) == expected
