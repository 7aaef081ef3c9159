"""Claim de-identification (HIPAA Safe Harbor, domain §8) by allow-list."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from typing import Any

import pytest

from claimscrub.redaction.config import DEV_KEY, DateMode, RedactionConfig
from claimscrub.redaction.deidentify import Deidentifier, to_json
from claimscrub.v1 import results_pb2
from tests.contract_example import contract_example

KEY = b"k" * 32

# The contract's example claim, with PHI no rule list holds (so only the
# allow-list and the claim's known values can remove it) and a note that
# repeats it.
CLAIM: dict[str, Any] = contract_example()
CLAIM["patient"].update(firstName="Zebulon", lastName="Quartermaine", email="zq@example.org")
CLAIM["note"] = (
    "Zebulon Quartermaine did sit-to-stand x10, 97530 30 min. Seen 5/4/2026. Auth PA 77812."
)
PHI = [
    "CLM-2026-000123",
    "1EG4TE5MK73",
    "88123",
    "Zebulon",
    "Quartermaine",
    "1950-03-02",
    "03-02",
    "12 Elm",
    "Hempstead",
    "11550",
    "555-0143",
    "zq@example.org",
    "123-45-6789",
    "12-3456789",
    "Rivera",
    "2026-05-04",
    "2026-04-20",
    "5/4/2026",
    "PA-77812",
    "77812",
    "2026-07-18",
]


def deid(claim: Any = CLAIM, **config: Any) -> dict[str, Any]:
    d = Deidentifier(RedactionConfig(key=config.pop("key", KEY), **config))
    return to_json(d.deidentify(claim, today=dt.date(2026, 6, 1)))


def test_no_phi_value_survives_anywhere_in_the_record() -> None:
    for mode in DateMode:
        text = json.dumps(deid(date_mode=mode))
        for phi in PHI:
            assert phi not in text, (mode, phi)


def test_kept_fields_are_the_codes_units_minutes_charges_payer_and_npis() -> None:
    out = deid()
    line = out["serviceLines"][0]
    assert line == {
        "lineNumber": 1,
        "dateOfService": "2026",
        "procedureCode": "97530",
        "modifiers": ["GP"],
        "units": 2,
        "minutes": 30,
        "chargeAmount": "120.00",
        "diagnosisPointers": [1, 2],
        "placeOfService": "11",
        "allowedAmount": "98.40",
    }
    assert out["payerId"] == "MEDICARE"
    assert out["diagnoses"] == ["M62.81", "R26.89"]
    assert out["billingProvider"]["npi"] == "1558598797"
    assert out["renderingProvider"] == {"npi": "1234567893", "taxonomy": "225100000X"}
    assert out["therapy"]["amountUsedYtdPtSlp"] == "1210.00"
    assert out["therapy"]["amountUsedYtdOt"] == "0.00"
    assert out["therapy"]["visitsUsedYtd"] == 11
    assert out["patient"]["state"] == "NY"
    assert out["patient"]["zip3"] == "115"
    assert "97530" in out["note"] and "30 min" in out["note"]


def test_identifiers_become_prefixed_keyed_tokens() -> None:
    out = deid()
    p = out["patient"]
    for field, prefix in (("memberToken", "mbr"), ("mrnToken", "mrn"), ("ssnToken", "ssn")):
        assert re.fullmatch(rf"{prefix}_[0-9a-f]{{32}}", p[field])
    assert re.fullmatch(r"clm_[0-9a-f]{32}", out["claimToken"])
    assert re.fullmatch(r"pat_[0-9a-f]{32}", out["patientToken"])
    assert re.fullmatch(r"tin_[0-9a-f]{32}", out["billingProvider"]["taxIdToken"])
    authorization = out["priorAuthorization"]
    assert re.fullmatch(r"pau_[0-9a-f]{32}", authorization.pop("numberToken"))
    # its dates follow the date policy (the year by default), its visits are kept
    assert authorization == {"startDate": "2026", "endDate": "2026", "visits": 24}


def test_tokens_join_claims_of_one_patient_and_depend_on_the_key() -> None:
    other = copy.deepcopy(CLAIM)
    other["claimId"] = "CLM-2026-000999"
    other["patient"]["memberId"] = "1eg4-te5-mk73"  # same member, other spelling
    a, b = deid(), deid(other)
    assert a["patient"]["memberToken"] == b["patient"]["memberToken"]
    assert a["patientToken"] == b["patientToken"]
    assert a["claimToken"] != b["claimToken"]
    assert deid(key=b"x" * 32)["patient"]["memberToken"] != a["patient"]["memberToken"]
    same_chars = copy.deepcopy(CLAIM)
    same_chars["patient"]["mrn"] = CLAIM["patient"]["memberId"]
    out = deid(same_chars)["patient"]
    assert out["mrnToken"][4:] != out["memberToken"][4:]


@pytest.mark.parametrize(
    ("zip_", "zip3"),
    [("11550", "115"), ("03601", "000"), ("05901", "000"), ("89301-1234", "000"), ("97530", "975")],
)
def test_zip_is_cut_to_zip3_and_restricted_areas_to_000(zip_: str, zip3: str) -> None:
    claim = copy.deepcopy(CLAIM)
    claim["patient"]["address"]["zip"] = zip_
    assert deid(claim)["patient"]["zip3"] == zip3


@pytest.mark.parametrize(
    ("birth", "year", "age"),
    [
        ("1950-03-02", "1950", "76"),
        ("1936-05-04", "1936", "90"),  # 90 on the date of service
        ("1936-05-05", "1936", "89"),  # a day short of 90: still 89
        ("1930-01-01", "90+", "90+"),
    ],
)
def test_birth_year_and_age_over_89_collapse_to_90_plus(birth: str, year: str, age: str) -> None:
    claim = copy.deepcopy(CLAIM)
    claim["patient"]["birthDate"] = birth
    out = deid(claim)["patient"]
    expected = ("90+", "90+") if int(age.rstrip("+")) > 89 else (year, age)
    assert (out["birthYear"], out["age"]) == expected


def test_year_mode_keeps_only_years() -> None:
    out = deid()
    poc = out["therapy"]["planOfCare"]
    assert (out["submissionDate"], poc["certifiedDate"], poc["endDate"]) == ("2026", "2026", "2026")
    assert out["dateMode"] == "YEAR"


def test_shift_mode_moves_every_date_of_a_patient_by_one_keyed_offset() -> None:
    out = deid(date_mode=DateMode.SHIFT, shift_max_days=30)
    dos = dt.date.fromisoformat(out["serviceLines"][0]["dateOfService"])
    cert = dt.date.fromisoformat(out["therapy"]["planOfCare"]["certifiedDate"])
    end = dt.date.fromisoformat(out["therapy"]["planOfCare"]["endDate"])
    shift = (dos - dt.date(2026, 5, 4)).days
    assert shift != 0 and abs(shift) <= 30
    # Intervals are kept: DOS 14 days after certification, plan 89 days long.
    assert (dos - cert).days == 14 and (end - cert).days == 89
    other = copy.deepcopy(CLAIM)
    other["claimId"] = "CLM-OTHER"
    other["serviceLines"][0]["dateOfService"] = "2026-05-20"
    again = deid(other, date_mode=DateMode.SHIFT, shift_max_days=30)
    later = dt.date.fromisoformat(again["serviceLines"][0]["dateOfService"])
    assert (later - dos).days == 16


def test_unknown_fields_are_dropped_and_counted() -> None:
    claim = copy.deepcopy(CLAIM)
    claim["secretNote"] = "Zebulon lives at 12 Elm St"
    claim["patient"]["middleName"] = "Zebulon"
    claim["serviceLines"][0]["renderingNote"] = "Quartermaine"
    out = deid(claim)
    assert out["unknownFields"] == 3
    assert "Zebulon" not in json.dumps(out) and "secretNote" not in json.dumps(out)


def test_a_kept_field_with_an_unexpected_value_is_dropped_by_path() -> None:
    claim = copy.deepcopy(CLAIM)
    claim["serviceLines"][0]["procedureCode"] = "Zebulon Quartermaine"
    claim["serviceLines"][0]["units"] = "two"
    claim["payerId"] = "Call Zebulon at 516-555-0143"
    claim["patient"]["birthDate"] = "03/02/1950"
    out = deid(claim)
    assert "Zebulon" not in json.dumps(out)
    assert set(out["droppedFields"]) == {
        "serviceLines[0].procedureCode",
        "serviceLines[0].units",
        "payerId",
        "patient.birthDate",
    }


def test_not_an_object_gives_an_empty_record_under_the_fallback_token() -> None:
    out = to_json(Deidentifier(RedactionConfig(key=KEY)).deidentify([1, 2], fallback_id="k-1"))
    assert out["droppedFields"] == ["claim"]
    assert out["claimToken"].startswith("clm_")


def test_the_result_travels_under_the_claim_token_with_redacted_messages() -> None:
    d = Deidentifier(RedactionConfig(key=KEY))
    result = results_pb2.ScrubResult(claim_id="CLM-2026-000123", status="HOLD", checks=["UNITS"])
    result.edits.add(code="UNITS_EXCEED_TIME", message="97530 billed 3 units; 30 minutes support 2")
    result.edits.add(code="X", message="leak: Zebulon Quartermaine 05/04/2026")
    msg = d.deidentify(CLAIM, result=result)
    assert msg.result.claim_id == msg.claim_token == d.claim_token("CLM-2026-000123")
    assert msg.result.edits[0].message == "97530 billed 3 units; 30 minutes support 2"
    assert "Zebulon" not in msg.result.edits[1].message
    assert "05/04/2026" not in msg.result.edits[1].message


def test_the_dev_key_is_the_default_and_says_so() -> None:
    config = RedactionConfig()
    assert config.key == DEV_KEY and config.using_dev_key
