"""The free-text redactor on hand-written cases: each PHI kind in its common
formats goes, codes, units, minutes and scores stay."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claimscrub.redaction.known import known_phi
from claimscrub.redaction.text import default_redactor, redact_text
from claimscrub.runtime.testing import REPO_ROOT


def types_found(text: str) -> dict[str, str]:
    return {text[s.start : s.end]: s.type for s in default_redactor().find(text)}


@pytest.mark.parametrize(
    ("text", "phi", "type_"),
    [
        ("Seen 05/04/2026 for follow-up", "05/04/2026", "DATE"),
        ("Seen 5/4/26 for follow-up", "5/4/26", "DATE"),
        ("DOS 2026-05-04.", "2026-05-04", "DATE"),
        ("Evaluated May 4, 2026 in clinic", "May 4, 2026", "DATE"),
        ("Evaluated 4 May 2026 in clinic", "4 May 2026", "DATE"),
        ("Evaluated 04-May-2026 in clinic", "04-May-2026", "DATE"),
        ("Evaluated on the 4th of May at noon", "the 4th of May", "DATE"),
        ("Surgery in March 2025 went well", "March 2025", "DATE"),
        ("next visit on 5/11 at 3 pm", "5/11", "DATE"),
        ("DOB: 19500302", "19500302", "DATE"),
        ("call 516-555-0143 today", "516-555-0143", "PHONE"),
        ("call (516) 555-0143 x12 today", "(516) 555-0143 x12", "PHONE"),
        ("call +1-516-555-0143 today", "+1-516-555-0143", "PHONE"),
        ("fax: 516.555.0199 for records", "516.555.0199", "FAX"),
        ("mail ada@example.org now", "ada@example.org", "EMAIL"),
        ("SSN 123-45-6789 on file", "123-45-6789", "SSN"),
        ("MRN: 88123456 on file", "88123456", "MRN"),
        ("Acct #A-99812 on file", "A-99812", "ACCOUNT"),
        ("Member ID: XJK123456789 on file", "XJK123456789", "MEMBER_ID"),
        ("MBI 1EG4TE5MK73 on file", "1EG4TE5MK73", "MEMBER_ID"),
        ("walker S/N WK-4471-XQ issued", "WK-4471-XQ", "DEVICE"),
        ("parking for plate TRB G64 only", "TRB G64", "VEHICLE"),
        ("lives at 12 Elm St Apt 4, Hempstead, NY 11550.", "12 Elm St Apt 4", "ADDRESS"),
        ("lives at 12 Elm St Apt 4, Hempstead, NY 11550.", "Hempstead", "CITY"),
        ("lives at 12 Elm St Apt 4, Hempstead, NY 11550.", "11550", "ZIP"),
        ("see https://portal.example.com/p/123.", "https://portal.example.com/p/123", "URL"),
        ("from 203.0.113.9 today", "203.0.113.9", "IP"),
        ("from 2001:db8::8a2e:370:7334 today", "2001:db8::8a2e:370:7334", "IP"),
        ("a 92-year-old woman", "92-year-old", "AGE"),
        ("Patient: Ada Lovelace", "Ada Lovelace", "NAME"),
        ("spoke with her daughter Maria", "Maria", "NAME"),
        ("Mr. Quartermaine arrived", "Quartermaine", "NAME"),
        ("signed J. Rivera, PT", "J. Rivera", "NAME"),
        ("JOHN SMITH arrived", "JOHN SMITH", "NAME"),
    ],
)
def test_each_phi_kind_is_found(text: str, phi: str, type_: str) -> None:
    found = types_found(text)
    assert found.get(phi) == type_, found


@pytest.mark.parametrize(
    "text",
    [
        "97530 x2 units, 30 min; 97110 1 unit 8 minutes; G0283 1 unit.",
        "Dx M62.81, R26.89, S83.511A, Z96.651; modifiers GP, KX, CQ, 59.",
        "Quad strength 4/5 bilat, pain 6/10 was 8/10; BP 120/80; HR 72.",
        "Berg Balance Scale 45/56; Timed Up and Go 14 s; 30 s chair stand 10 reps.",
        "Therapeutic exercise 23 min, neuromuscular re-education 24 min, total 47 min.",
        "Patient is 75 years old; 6 min walk 320 m; knee flexion 95 to 104 degrees.",
        "NPI 1234567893 billed; taxonomy 225100000X.",
        "Ambulated 150 ft with rolling walker and contact guard assist x2.",
        "Patient tolerated well. Will continue POC. Good progress toward goals.",
    ],
)
def test_clinical_text_without_phi_is_unchanged(text: str) -> None:
    assert redact_text(text) == text


CODES = st.sampled_from(["97530", "97110", "97112", "97140", "G0283", "97161", "97035"])
ICD = st.sampled_from(["M62.81", "R26.89", "S83.511A", "Z96.651", "M25.561", "I69.351"])


@given(code=CODES, icd=ICD, units=st.integers(1, 8), minutes=st.integers(1, 120))
@settings(max_examples=200, deadline=None)
def test_codes_units_and_minutes_survive_beside_phi(
    code: str, icd: str, units: int, minutes: int
) -> None:
    text = (
        f"Ada Lovelace seen 05/04/2026: {code} x{units} units, {minutes} min, dx {icd}. "
        f"Call 516-555-0143."
    )
    out = redact_text(text)
    for kept in (code, f"x{units}", f"{minutes} min", icd):
        assert kept in out
    for gone in ("Ada", "Lovelace", "05/04/2026", "516-555-0143"):
        assert gone not in out


def _example_claim() -> dict[str, Any]:
    claims = json.loads((REPO_ROOT / "examples/claims.json").read_text())
    return dict(claims[0])


def test_the_claims_own_values_go_in_any_case_and_format() -> None:
    claim = _example_claim()  # Ada Example, DOB 1951-01-02, member 2EX1AM1PK01 ...
    text = (
        "ada and EXAMPLE; example's cane. Born Jan 2nd, 1951 (01-02-51). "
        "Member 2ex1-am1-pk01, MRN-EXAMPLE-001, phone (516) 555 0101, "
        "ada.example@example.org, 1 Example Street, Sampletown 11550; seen May 4th."
    )
    out = default_redactor().redact(text, known_phi(claim)).text
    for phi in ("ada", "EXAMPLE", "example's", "1951", "01-02-51", "2ex1", "555", "Sampletown"):
        assert phi not in out, out
    assert "11550" not in out and "May 4th" not in out


def test_a_known_value_that_equals_a_claim_code_keeps_the_code() -> None:
    claim = _example_claim()
    claim["patient"] = dict(claim["patient"], address={"zip": "97112"})
    out = default_redactor().redact("97112 x2 units", known_phi(claim)).text
    assert out == "97112 x2 units"


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
@settings(max_examples=200, deadline=None)
def test_redaction_is_idempotent_and_never_raises(text: str) -> None:
    once = redact_text(text)
    assert redact_text(once) == once
